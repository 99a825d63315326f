package console_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hookline/hookline/internal/browser"
)

// These tests drive headless Chromium against a real server, as an
// operator would: they skip where no Chromium is installed (.ci/run
// installs it). With HOOKLINE_SCREENSHOTS=DIR, TestConsoleInABrowser also
// writes a screenshot of every page, on a laptop and on a phone, to DIR:
// the README's come from there.

const wait = 10 * time.Second

// clean fails t if the page so far opened a dialog, threw, logged an error
// or broke its Content-Security-Policy.
func clean(t *testing.T, tab *browser.Tab, where string) {
	t.Helper()
	if d := tab.Dialogs(); len(d) > 0 {
		t.Errorf("%s: the page opened dialogs %q", where, d)
	}
	for _, e := range tab.Errors() {
		// A refused login answers 401, which the browser reports.
		if !strings.Contains(e, "status of 401") || !strings.Contains(e, "/login") {
			t.Errorf("%s: the page had the error %q", where, e)
		}
	}
	if v := tab.CSPViolations(); len(v) > 0 {
		t.Errorf("%s: the page broke its CSP: %q", where, v)
	}
}

func TestConsoleInABrowser(t *testing.T) {
	tab := browser.New(t)
	h := start(t, false, nil)
	shots := os.Getenv("HOOKLINE_SCREENSHOTS")
	shot := func(name string) {
		t.Helper()
		if shots == "" {
			return
		}
		tab.Screenshot(filepath.Join(shots, name+".png"))
		tab.Phone()
		tab.Screenshot(filepath.Join(shots, name+"-phone.png"))
		tab.Desktop()
	}

	// Something to look at: deliveries that went through, one that failed
	// for good, and one event no trigger but one fired for.
	for i := range 4 {
		_, ids := h.post(confirmed("ce-ok-"+itoa(i), "Ann Example"))
		h.waitStatus(ids[0], "delivered")
	}
	h.rc.failing.Store(true)
	_, failed := h.post(confirmed("ce-fail", "Bo Failing"))
	h.waitStatus(failed[0], "failed")
	h.rc.failing.Store(false)
	ev, _ := h.post(confirmed("ce-vip", "Cy Regular"))

	// Log in: the form, then the page asked for.
	tab.Do(chromedp.Navigate(h.url + "/deliveries"))
	tab.WaitText("h1", "Log in to Hookline", wait)
	shot("login")
	tab.Do(chromedp.SendKeys(chromedp.CSS("#token"), "wrong"), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	tab.WaitText(".problem", "That is not the admin token.", wait)
	tab.Do(chromedp.Clear(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Click(chromedp.CSS("form button[type=submit]")))
	tab.WaitText("h1", "Deliveries", wait)

	// The overview.
	tab.Do(chromedp.Navigate(h.url + "/"))
	tab.WaitText("#counts-h", "Deliveries by status", wait)
	tab.WaitText("#chart-cap", "5 delivered, 1 failed", wait)
	shot("overview")

	// Filter the deliveries by status, with the form.
	tab.Do(chromedp.Navigate(h.url + "/deliveries"))
	tab.WaitText("#rows", "confirmed_crm.http.crm", wait)
	shot("deliveries")
	tab.Do(chromedp.SetValue(chromedp.CSS("#f-status"), "failed"), chromedp.Click(chromedp.CSS("form.filters button[type=submit]")))
	waitURL(t, tab, "status=failed")
	tab.WaitText("#rows", failed[0], wait)
	rows, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[int]("document.querySelectorAll('#rows tr').length"))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(tab.Ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || !strings.Contains(loc, "status=failed") {
		t.Fatalf("filtered to failed: %d rows at %s, want the one failed delivery", rows, loc)
	}

	// Open it, retry it, and watch the new attempt arrive by itself.
	tab.Do(chromedp.Click(chromedp.CSS(`#rows a[href="/deliveries/` + failed[0] + `"]`)))
	tab.WaitText("#attempts-h", "Attempts", wait)
	tab.WaitText("#state .attempt", "HTTP 400", wait)
	shot("delivery")
	tab.Do(chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)))
	tab.WaitText(".flash", "Queued to be sent again.", wait)
	tab.WaitText("#state .attempt", "#2", wait)
	tab.WaitText("#state .facts", "delivered", wait)

	// The event page says why vip_only did not fire.
	tab.Do(chromedp.Navigate(h.url + "/events/" + ev))
	tab.WaitText(".notfired", "vip_only: filter false", wait)
	shot("event")

	// The triggers page.
	tab.Do(chromedp.Navigate(h.url + "/triggers"))
	tab.WaitText("#t-confirmed_crm", "Tell the CRM when a participant confirms", wait)
	shot("triggers")

	// Try an event: pick the example, load it, evaluate it.
	tab.Do(chromedp.Navigate(h.url + "/try"))
	tab.Do(chromedp.SetValue(chromedp.CSS("#example"), "events/confirmed.json"), chromedp.Click(chromedp.CSS(`form[action="/try"][method="get"] button`)))
	tab.WaitText("#event", "Ann Example", wait)
	tab.Do(chromedp.Click(chromedp.CSS("form.try button")))
	tab.WaitText("#result", "1 action would fire", wait)
	tab.WaitText("#result .notfired", "vip_only: filter false", wait)
	shot("try")

	// A broken edit: the open overview shows its diagnostics by itself.
	tab.Do(chromedp.Navigate(h.url + "/"))
	tab.WaitText("#live", "The last reload succeeded.", wait)
	write(t, filepath.Join(h.rules, "broken.hcl"), "trigger \"oops\" {\n  on = [\"participant.confirmed\"]\n  when = \"participant.nmae == 'x'\"\n  action \"http\" \"x\" { url = \"http://127.0.0.1/\" }\n}\n")
	h.srv.Reload("test")
	tab.WaitText("#live .diags", "broken.hcl:3:", wait)
	shot("overview-broken-reload")

	clean(t, tab, "the walk through the console")
}

// waitURL waits until the tab's address holds part: a form's submission
// has landed.
func waitURL(t *testing.T, tab *browser.Tab, part string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		loc, err := chromedp.Run(tab.Ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, part) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page is at %s (%v), not at an address with %q", loc, err, part)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An event whose every field is an attack: nothing of it may run.
func TestHostileEventRunsNothingInTheBrowser(t *testing.T) {
	tab := browser.New(t)
	h := start(t, true, nil)
	body := strings.Replace(confirmed(`ce-"><svg onload=alert('id')>`, hostileName), `"email": "carla@example.org"`,
		`"email": "javascript:alert('email')", "phone": "<img src=x onerror=alert('phone')>"`, 1)
	ev, ids := h.post(body)
	h.waitStatus(ids[0], "delivered")
	for _, path := range []string{"/", "/deliveries", "/deliveries/" + ids[0], "/events/" + ev, "/deliveries?event_id=" + ev} {
		tab.Do(chromedp.Navigate(h.url + path))
		tab.WaitText(".brand", "Hookline", wait)
		// Long enough for a refresh of the live parts to have run.
		time.Sleep(100 * time.Millisecond)
		clean(t, tab, path)
	}
	tab.Do(chromedp.Navigate(h.url + "/events/" + ev))
	tab.WaitText("pre.json", `"name": "<script>alert(`, wait) // shown as text
	injected, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[int](`document.querySelectorAll('main script, main img, main [onload], main [onerror], a[href^="javascript:"]').length`))
	if err != nil || injected != 0 {
		t.Errorf("%d elements from the event became markup (%v)", injected, err)
	}
	// Try the same event in the playground: its rendering is shown, not run.
	tab.Do(chromedp.Navigate(h.url + "/try"))
	tab.Do(chromedp.SetValue(chromedp.CSS("#event"), body), chromedp.Click(chromedp.CSS("form.try button")))
	tab.WaitText("#result", "would fire", wait)
	clean(t, tab, "/try with the event")
}
