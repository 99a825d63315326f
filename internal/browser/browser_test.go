package browser

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// server serves the pages the tests load; each path is one case.
func server(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	html := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><html><head><title>t</title></head><body>" + body + "</body></html>"))
	}
	// Chromium asks for it on every page; a 404 would be in Errors().
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/alert", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<p id="before">before</p><script>alert('x')</script><p id="after">after</p>`)
	})
	mux.HandleFunc("/csp", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "script-src 'self'")
		html(w, `<script>alert(1)</script><script src="/ok.js"></script>`)
	})
	mux.HandleFunc("/ok.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`document.title = "ok.js ran";`))
	})
	mux.HandleFunc("/throws", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<script src="/app.js"></script>`)
	})
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte("console.log('loading');\nthrow new Error('app.js failed');\n"))
	})
	// A page with nothing wrong under a strict policy, filled in after
	// it loads.
	mux.HandleFunc("/clean", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		html(w, `<meta name="viewport" content="width=device-width"><link rel="stylesheet" href="/style.css"><div id="out">loading</div><div id="tall"></div><script src="/late.js"></script>`)
	})
	mux.HandleFunc("/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.Write([]byte(`#tall { height: 2000px; background: linear-gradient(teal, navy); }`))
	})
	mux.HandleFunc("/late.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`const show = () => { document.getElementById("out").textContent = innerWidth + "x" + innerHeight; };
setTimeout(show, 300);
addEventListener("resize", show);`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// probe logs everything a tab recorded, so a failure shows what Chromium
// did report.
func probe(t *testing.T, tab *Tab) {
	t.Helper()
	t.Logf("console:\n%s", strings.Join(tab.Console(), "\n"))
}

func TestDialog(t *testing.T) {
	tab := New(t)
	srv := server(t)
	tab.Do(chromedp.Navigate(srv.URL + "/alert"))
	probe(t, tab)
	if got, want := tab.Dialogs(), []string{"alert: x"}; !slices.Equal(got, want) {
		t.Errorf("Dialogs() = %q, want %q", got, want)
	}
	// The dialog was dismissed, so the rest of the page was parsed.
	tab.WaitText("#after", "after", 5*time.Second)
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("Errors() = %q, want none", errs)
	}
}

func TestCSPViolation(t *testing.T) {
	tab := New(t)
	srv := server(t)
	tab.Do(chromedp.Navigate(srv.URL + "/csp"))
	probe(t, tab)
	if d := tab.Dialogs(); len(d) > 0 {
		t.Errorf("the policy let the inline script run: Dialogs() = %q", d)
	}
	v := tab.CSPViolations()
	if len(v) != 1 || !strings.Contains(v[0], "inline script") {
		t.Errorf("CSPViolations() = %q, want the inline script refused", v)
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("Errors() = %q, want none (violations are not errors)", errs)
	}
	// The policy refused only the inline script: the page's own ran.
	title, err := chromedp.Run(tab.Ctx, chromedp.Title())
	if err != nil || title != "ok.js ran" {
		t.Errorf("title = %q, %v; want ok.js to have set it", title, err)
	}
}

func TestError(t *testing.T) {
	tab := New(t)
	srv := server(t)
	tab.Do(chromedp.Navigate(srv.URL + "/throws"))
	probe(t, tab)
	errs := tab.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "app.js failed") || !strings.Contains(errs[0], "/app.js:2") {
		t.Errorf("Errors() = %q, want app.js's error at its line 2", errs)
	}
	if c := tab.Console(); !slices.ContainsFunc(c, func(s string) bool { return strings.HasPrefix(s, "console.log: loading") }) {
		t.Errorf("Console() = %q, want app.js's console.log", c)
	}
}

func TestScreenshots(t *testing.T) {
	tab := New(t)
	srv := server(t)
	dir := t.TempDir()
	tab.Do(chromedp.Navigate(srv.URL + "/clean"))
	tab.WaitText("#out", "1280x900", 5*time.Second)
	desktop := filepath.Join(dir, "desktop.png")
	tab.Screenshot(desktop)

	tab.Phone()
	tab.Do(chromedp.Navigate(srv.URL + "/clean"))
	tab.WaitText("#out", "390x844", 5*time.Second)
	phone := filepath.Join(dir, "phone.png")
	tab.Screenshot(phone)

	tab.Desktop()
	tab.WaitText("#out", "1280x900", 5*time.Second)

	// A screenshot has the whole page, not only what fits the viewport,
	// and a phone's has two pixels to its CSS pixel.
	for _, shot := range []struct {
		path         string
		width, scale int
	}{{desktop, DesktopWidth, 1}, {phone, PhoneWidth, 2}} {
		b, err := os.ReadFile(shot.path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			t.Errorf("%s: %v", shot.path, err)
		} else if c.Width != shot.width*shot.scale || c.Height < 2000*shot.scale {
			t.Errorf("%s is %dx%d, want %d wide and over %d high", shot.path, c.Width, c.Height, shot.width*shot.scale, 2000*shot.scale)
		}
	}
	probe(t, tab)
	if errs, v := tab.Errors(), tab.CSPViolations(); len(errs)+len(v) > 0 {
		t.Errorf("Errors() = %q, CSPViolations() = %q, want none", errs, v)
	}
}

// fatalTB stands in for a test that New ends, to see how it ends.
type fatalTB struct {
	testing.TB
	fatal, skip string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Skipf(format string, args ...any) {
	f.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestNamedBrowserMissing needs no browser: one that EnvVar names but
// that is not there fails the test, which asked for that browser, rather
// than skip it unnoticed.
func TestNamedBrowserMissing(t *testing.T) {
	t.Setenv(EnvVar, filepath.Join(t.TempDir(), "chromium"))
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		find(f)
	}()
	<-done
	if f.skip != "" || !strings.Contains(f.fatal, EnvVar) {
		t.Errorf("find: fatal %q, skip %q; want it to fail naming %s", f.fatal, f.skip, EnvVar)
	}
}
