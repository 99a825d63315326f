// Package browser runs pages in a real headless Chromium for tests. Go's
// tests of a handler see the bytes it serves; only a browser shows whether
// the page's scripts run, throw, open dialogs, or are refused by the page's
// own Content-Security-Policy, and what the page looks like. A Tab records
// those things as the page runs, so a test can assert that there were none.
//
// Tests skip when no Chromium is installed (apt-get install chromium).
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvVar names the browser binary to use. Set, it must exist: a test that
// was told which browser to use fails rather than skip without it.
const EnvVar = "HOOKLINE_CHROMIUM"

// Timeout bounds each of a Tab's actions, so that a page that hangs (a
// dialog nobody answers, a load that never ends) fails its own test, in
// half a minute, rather than the whole binary when `go test` gives up.
const Timeout = 30 * time.Second

// Desktop and Phone are the viewports screenshots are taken at: a laptop
// window, and an iPhone 12 to 15 in CSS pixels.
const (
	DesktopWidth, DesktopHeight = 1280, 900
	PhoneWidth, PhoneHeight     = 390, 844
)

// Tab is one page of a browser of its own. Ctx is a chromedp context for
// that page, for any chromedp action the helpers here do not cover.
//
// Its lists are filled from the goroutine that reads the browser's
// messages, so they are guarded; each method returns a copy.
type Tab struct {
	Ctx context.Context

	t        testing.TB
	mu       sync.Mutex
	dialogs  []string
	errs     []string
	csp      []string
	messages []string
}

// New starts a headless Chromium for t and returns its tab. It skips t when
// no browser is installed, and fails it when EnvVar names one that is not
// there. The browser stops, and its profile is removed, when t ends.
func New(t testing.TB) *Tab {
	t.Helper()
	path := find(t)

	// chromedp's defaults are Puppeteer's, which keep a headless page
	// from being throttled as a hidden one and turn off what would
	// pop up or call home; ours add to them.
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		// Tests run as root in CI, and Chromium's sandbox refuses root.
		chromedp.NoSandbox,
		// There is no GPU on a CI machine; software rendering is what
		// the screenshots are drawn with either way.
		chromedp.DisableGPU,
		// Nothing but the test's own server should be reached: no QUIC
		// probes, no component or safe-browsing updates, no sync.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.NoFirstRun,
		// A fresh profile: no cache, storage or service worker carried
		// over from another test.
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, so that Chromium stops its child
		// processes before t.TempDir removes the profile they write to;
		// then kill whatever is left.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		chromedp.Cancel(cctx)
		ccancel()
		cancel()
		cancelAlloc()
	})

	tab := &Tab{Ctx: ctx, t: t}
	start := time.Now()
	// The first action starts the browser and binds it to the context it
	// is given, so it must be ctx itself, without Timeout's deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Logf("started %s in %v", path, time.Since(start).Round(time.Millisecond))
	// Listen, unlike chromedp.Events, records an event before the reply
	// to the command it came before is returned: what a page did while
	// loading is recorded when Navigate returns.
	if err := chromedp.Listen(ctx, tab.record); err != nil {
		t.Fatal(err)
	}
	// Headless Chromium keeps room for a window's toolbars it does not
	// draw: the window is DesktopHeight high, the page 143 pixels less.
	// Screenshots are of the page, so size the page.
	tab.Desktop()
	return tab
}

// find returns the browser to run, or ends t.
func find(t testing.TB) string {
	t.Helper()
	if path := os.Getenv(EnvVar); path != "" {
		found, err := exec.LookPath(path)
		if err != nil {
			t.Fatalf("%s=%s: %v", EnvVar, path, err)
		}
		return found
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if found, err := exec.LookPath(name); err == nil {
			return found
		}
	}
	// Debian's package installs there, which a test's PATH may lack.
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Skipf("no Chromium to run browser tests with: install it (apt-get install chromium) or set %s", EnvVar)
	return ""
}

// record runs on the goroutine that reads the browser's messages, which
// must not wait on the browser: it only appends, and answers a dialog
// from a goroutine of its own.
func (tab *Tab) record(ev any) {
	switch ev := ev.(type) {
	case *page.EventJavascriptDialogOpening:
		tab.add(&tab.dialogs, fmt.Sprintf("%s: %s", ev.Type, ev.Message))
		// A dialog stops the page's scripts, and with them the action
		// waiting on the page, until it is answered.
		go func() {
			_, err := chromedp.Call(tab.Ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{})
			if err != nil && tab.Ctx.Err() == nil {
				tab.add(&tab.errs, "dismissing a dialog: "+err.Error())
			}
		}()

	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			// The description is the error's message then its stack;
			// the place is added below.
			desc, _, _ := strings.Cut(d.Exception.Description, "\n")
			text += " " + desc
		}
		url := d.URL
		if url == "" && d.StackTrace != nil && len(d.StackTrace.CallFrames) > 0 {
			url = d.StackTrace.CallFrames[0].URL
		}
		text += at(url, d.LineNumber)
		tab.add(&tab.messages, "exception: "+text)
		tab.add(&tab.errs, text)

	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, value(a))
		}
		text := strings.Join(args, " ")
		if st := ev.StackTrace; st != nil && len(st.CallFrames) > 0 {
			text += at(st.CallFrames[0].URL, st.CallFrames[0].LineNumber)
		}
		tab.add(&tab.messages, fmt.Sprintf("console.%s: %s", ev.Type, text))
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			tab.add(&tab.errs, fmt.Sprintf("console.%s: %s", ev.Type, text))
		}

	case *log.EventEntryAdded:
		e := ev.Entry
		text := e.Text + at(e.URL, e.LineNumber)
		tab.add(&tab.messages, fmt.Sprintf("%s %s: %s", e.Source, e.Level, text))
		switch {
		case isCSP(e):
			tab.add(&tab.csp, text)
		case e.Level == log.EntryLevelError:
			tab.add(&tab.errs, fmt.Sprintf("%s: %s", e.Source, text))
		}
	}
}

// isCSP tells a Content-Security-Policy violation among the browser's log
// entries. The protocol has no event of its own for one: Chromium logs
// text ("Executing inline script violates the following Content Security
// Policy directive ...", "Refused to ..." in older versions) from the
// "security" source, so it is told by its text from the source's other
// entries (mixed content). The "violation" source is looked at too, in
// case a version moves it there.
func isCSP(e *log.Entry) bool {
	return (e.Source == log.EntrySourceSecurity || e.Source == log.EntrySourceViolation) &&
		strings.Contains(e.Text, "Content Security Policy")
}

func at(url string, line int64) string {
	if url == "" {
		return ""
	}
	// The protocol counts lines from 0, editors and stacks from 1.
	return fmt.Sprintf(" (%s:%d)", url, line+1)
}

// value renders a console argument about as DevTools does: a string as
// itself, anything else by its description.
func value(o *runtime.RemoteObject) string {
	switch {
	case o.Type == runtime.RemoteObjectTypeString && len(o.Value) > 0:
		var s string
		if err := json.Unmarshal([]byte(o.Value), &s); err == nil {
			return s
		}
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	case o.Description != "":
		return o.Description
	case len(o.Value) > 0:
		return string(o.Value)
	}
	return string(o.Type)
}

func (tab *Tab) add(list *[]string, s string) {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	*list = append(*list, s)
}

func (tab *Tab) get(list *[]string) []string {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return slices.Clone(*list)
}

// Dialogs returns the dialogs the page opened, as "alert: message" (or
// confirm, prompt, beforeunload). Each was dismissed as it opened: a
// confirm got false, a prompt null.
func (tab *Tab) Dialogs() []string { return tab.get(&tab.dialogs) }

// Errors returns what a developer would see in red in the console:
// uncaught exceptions and rejections, console.error and failed asserts,
// and the browser's own errors, such as a fetch, image or script answered
// 404, except Content-Security-Policy violations, which CSPViolations
// returns. Headless Chromium asks for /favicon.ico as a window would, so
// a server without one has an error on every page.
func (tab *Tab) Errors() []string { return tab.get(&tab.errs) }

// CSPViolations returns what the page's Content-Security-Policy refused:
// an inline script or handler, a style, a connection to another origin.
func (tab *Tab) CSPViolations() []string { return tab.get(&tab.csp) }

// Console returns every message of the page's console, errors or not, for
// a test's failure message.
func (tab *Tab) Console() []string { return tab.get(&tab.messages) }

// Do runs the actions in the tab, within Timeout, and fails the test if
// one fails. It must be called from the test's goroutine.
func (tab *Tab) Do(actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	if _, err := run(tab, Timeout, chromedp.Steps(actions...)); err != nil {
		tab.t.Fatalf("%v\nconsole:\n%s", err, strings.Join(tab.Console(), "\n"))
	}
}

// run runs an action that returns a value, within timeout.
func run[T any](tab *Tab, timeout time.Duration, action chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(tab.Ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, action)
}

var errPollTimeout = errors.New("timed out")

// WaitText waits until an element matching the CSS selector shows text
// containing want (a form field's value counts), and fails the test, saying what the elements did
// show, if none does within timeout. Pages here fill themselves in from
// fetches after they load, so Navigate returning is not enough.
func (tab *Tab) WaitText(selector, want string, timeout time.Duration) {
	tab.t.Helper()
	sel, _ := json.Marshal(selector)
	wantJS, _ := json.Marshal(want)
	// Polled from here rather than in the page: a click that submits a
	// form replaces the page, and a poll inside the old one dies with it
	// ("Inspected target navigated or closed"). A failed evaluation is a
	// page between two documents; the next one asks the new page.
	shows := fmt.Sprintf(`[...document.querySelectorAll(%s)].some(el => (el.innerText + (el.value ?? "")).includes(%s))`, sel, wantJS)
	deadline := time.Now().Add(timeout)
	var err error
	for {
		var ok bool
		ok, err = run(tab, Timeout, chromedp.Evaluate[bool](shows))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err == nil {
		err = errPollTimeout
	}
	texts, getErr := run(tab, Timeout, chromedp.Evaluate[[]string](fmt.Sprintf(
		`[...document.querySelectorAll(%s)].map(el => el.innerText)`, sel)))
	if getErr != nil {
		texts = []string{"(" + getErr.Error() + ")"}
	}
	if errors.Is(err, errPollTimeout) {
		err = fmt.Errorf("not within %v", timeout)
	}
	tab.t.Fatalf("waiting for %q in %s: %v; %d elements show %q\nconsole:\n%s",
		want, selector, err, len(texts), texts, strings.Join(tab.Console(), "\n"))
}

// Screenshot writes a PNG of the whole page, beyond the viewport, to path.
func (tab *Tab) Screenshot(path string) {
	tab.t.Helper()
	// Quality 100 is chromedp's way of asking for PNG; anything less is
	// a JPEG.
	png, err := run(tab, Timeout, chromedp.FullScreenshot(100))
	if err != nil {
		tab.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		tab.t.Fatal(err)
	}
}

// Phone makes the tab a phone's screen, PhoneWidth by PhoneHeight, until
// Desktop: a page's meta viewport is honoured and it gets touch events,
// as on a phone, and the page showing is laid out again at once.
// Screenshots have two pixels to the CSS pixel, as a phone's screen
// (three on the newest) does, so that a narrow layout's small text can
// be read in them.
func (tab *Tab) Phone() {
	tab.t.Helper()
	tab.Do(chromedp.EmulateViewport(PhoneWidth, PhoneHeight,
		chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2)))
}

// Desktop undoes Phone: the viewport New starts with, DesktopWidth by
// DesktopHeight, one pixel to the CSS pixel.
func (tab *Tab) Desktop() {
	tab.t.Helper()
	// Not chromedp.ResetViewport: in Chromium 156 it leaves a phone's
	// width in place.
	tab.Do(chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
}
