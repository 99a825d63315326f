package console_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/pgtest"
	"github.com/hookline/hookline/server"
)

func TestLoginSetsAStrictSessionCookie(t *testing.T) {
	h := start(t, false, nil)
	c := h.client()
	status, _, hdr := h.get(c, "/deliveries?status=failed")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/login?next=%2Fdeliveries%3Fstatus%3Dfailed" {
		t.Fatalf("GET /deliveries without a session: %d to %q, want 303 to the login form keeping the page", status, hdr.Get("Location"))
	}
	if status, body, _ := h.get(c, "/login"); status != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Fatalf("GET /login: %d, no token field:\n%s", status, body)
	}
	status, body, hdr := h.postForm(c, "/login", url.Values{"token": {"wrong"}, "next": {"/"}})
	if status != http.StatusUnauthorized || !strings.Contains(body, "That is not the admin token.") || hdr.Get("Set-Cookie") != "" {
		t.Fatalf("a wrong token: %d, cookie %q:\n%s", status, hdr.Get("Set-Cookie"), body)
	}
	// The ingest token is not the admin token either.
	if status, _, _ := h.postForm(c, "/login", url.Values{"token": {"ingest-token"}}); status != http.StatusUnauthorized {
		t.Fatalf("the ingest token logged in: %d", status)
	}

	status, _, hdr = h.postForm(c, "/login", url.Values{"token": {adminToken}, "next": {"//evil.example/x"}})
	if status != http.StatusSeeOther || !strings.HasSuffix(hdr.Get("Location"), "next=%2F") {
		t.Fatalf("login: %d to %q, want 303 with next kept on this console", status, hdr.Get("Location"))
	}
	ck := (&http.Response{Header: hdr}).Cookies()
	if len(ck) != 1 || !ck[0].Secure || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode || ck[0].Path != "/" {
		t.Fatalf("session cookie %+v, want one Secure, HttpOnly, SameSite=Strict cookie for /", ck)
	}
	h.login(c)
	if status, body, _ := h.get(c, "/"); status != http.StatusOK || !strings.Contains(body, "<h1>Overview</h1>") {
		t.Fatalf("GET / logged in: %d\n%s", status, body)
	}

	// A cookie changed by one character is no session.
	forged := *ck[0]
	forged.Value = forged.Value[:len(forged.Value)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(forged.Value, "AB")]
	forged.Secure = false
	c2 := h.client()
	u, _ := url.Parse(h.url)
	c2.Jar.SetCookies(u, []*http.Cookie{&forged})
	if status, _, _ := h.get(c2, "/"); status != http.StatusSeeOther {
		t.Errorf("a forged cookie was accepted: %d", status)
	}

	// Logging out ends the session in the browser.
	tok := h.csrf(c, "/")
	status, _, hdr = h.postForm(c, "/logout", url.Values{"csrf": {tok}})
	if status != http.StatusSeeOther || !strings.Contains(hdr.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d, Set-Cookie %q", status, hdr.Get("Set-Cookie"))
	}
}

// Every console answer carries a strict policy, and no page relies on
// anything the policy would block: no inline script, event handler
// attribute, style attribute or javascript: URL.
func TestPagesNeedNothingTheCSPForbids(t *testing.T) {
	h := start(t, false, nil)
	ev, ids := h.post(confirmed("ce-1", "Ann Example"))
	c := h.client()
	h.login(c)
	scriptTag := regexp.MustCompile(`<script[^>]*>`)
	forbidden := regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:`)
	for _, path := range []string{"/", "/triggers", "/deliveries", "/deliveries/" + ids[0], "/events/" + ev, "/try", "/try?example=events/confirmed.json", "/deliveries/retry?status=failed"} {
		status, body, hdr := h.get(c, path)
		if status != http.StatusOK {
			t.Errorf("%s: %d", path, status)
			continue
		}
		if got := hdr.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") || !strings.Contains(got, "default-src 'none'") || strings.Contains(got, "unsafe") {
			t.Errorf("%s: Content-Security-Policy %q", path, got)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if hdr.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", path, k, hdr.Get(k), want)
			}
		}
		for _, tag := range scriptTag.FindAllString(body, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("%s: an inline script %s", path, tag)
			}
		}
		if m := forbidden.FindString(body); m != "" {
			t.Errorf("%s: the page holds %q, which the CSP blocks", path, m)
		}
	}
}

// hostile is an event whose fields try to break out of HTML.
const hostileName = `<script>alert("name")</script>"><img src=x onerror=alert(2)>`

func TestEventDataIsEscaped(t *testing.T) {
	h := start(t, false, nil)
	ev, ids := h.post(confirmed(`ce-"><svg onload=alert(3)>`, hostileName))
	h.waitStatus(ids[0], "delivered")
	c := h.client()
	h.login(c)
	for _, path := range []string{"/deliveries", "/deliveries/" + ids[0], "/events/" + ev} {
		_, body, _ := h.get(c, path)
		for _, raw := range []string{`<script>alert`, `<img src=x`, `<svg onload`} {
			if strings.Contains(body, raw) {
				t.Errorf("%s shows %q unescaped", path, raw)
			}
		}
		if strings.HasPrefix(path, "/events/") && !strings.Contains(body, "&lt;script&gt;alert(") {
			t.Errorf("%s does not show the name, escaped", path)
		}
	}
}

func TestNoSecretInAnyPage(t *testing.T) {
	h := start(t, false, nil)
	ev, ids := h.post(confirmed("ce-1", "Ann Example"))
	h.waitStatus(ids[0], "delivered")
	c := h.client()
	h.login(c)
	_, body, _ := h.get(c, "/deliveries/"+ids[0])
	if !strings.Contains(body, "X-Api-Key") || !strings.Contains(body, "(sensitive)") {
		t.Errorf("the delivery page does not show the header as (sensitive):\n%s", body)
	}
	tok := h.csrf(c, "/try")
	_, tried, _ := h.postForm(c, "/try", url.Values{"csrf": {tok}, "event": {confirmed("ce-2", "Bo")}})
	for path, b := range map[string]string{"/deliveries/" + ids[0]: body, "/try (posted)": tried} {
		if strings.Contains(b, secretValue) {
			t.Errorf("%s shows the secret", path)
		}
	}
	for _, path := range []string{"/", "/triggers", "/deliveries", "/events/" + ev} {
		if _, b, _ := h.get(c, path); strings.Contains(b, secretValue) {
			t.Errorf("%s shows the secret", path)
		}
	}
}

func TestWritesNeedTheFormsCSRFToken(t *testing.T) {
	h := start(t, false, nil)
	_, ids := h.post(confirmed("ce-1", "Ann Example"))
	h.waitStatus(ids[0], "delivered")
	c := h.client()
	h.login(c)
	path := "/deliveries/" + ids[0] + "/retry"
	tok := h.csrf(c, "/deliveries/"+ids[0])
	for name, try := range map[string]func() int{
		"no token":    func() int { s, _, _ := h.postForm(c, path, url.Values{}); return s },
		"wrong token": func() int { s, _, _ := h.postForm(c, path, url.Values{"csrf": {tok + "x"}}); return s },
		"cross-site": func() int {
			s, _, _ := h.postForm(c, path, url.Values{"csrf": {tok}}, "Sec-Fetch-Site", "cross-site")
			return s
		},
		"other origin": func() int {
			s, _, _ := h.postForm(c, path, url.Values{"csrf": {tok}}, "Origin", "http://evil.example")
			return s
		},
		"no session": func() int { s, _, _ := h.postForm(h.client(), path, url.Values{"csrf": {tok}}); return s },
	} {
		if status := try(); status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, status)
		}
	}
	if n := h.rc.count("/crm"); n != 1 {
		t.Fatalf("refused retries sent the delivery: %d requests", n)
	}
	status, _, hdr := h.postForm(c, path, url.Values{"csrf": {tok}}, "Sec-Fetch-Site", "same-origin")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/deliveries/"+ids[0]+"?done=retried&n=0" {
		t.Fatalf("retry: %d to %q", status, hdr.Get("Location"))
	}
	h.rc.wait(t, "/crm", 2)
}

func TestOpenConsoleAnswersOnlyLoopbackNames(t *testing.T) {
	h := start(t, true, nil)
	c := h.client()
	if status, _, _ := h.get(c, "/", "Host", "rebound.evil.example"); status != http.StatusMisdirectedRequest {
		t.Errorf("Host rebound.evil.example: %d, want 421", status)
	}
	// The API too: without credentials it holds the same data.
	if status, body, _ := h.get(c, "/v1/deliveries", "Host", "rebound.evil.example"); status != http.StatusMisdirectedRequest || !strings.Contains(body, `"misdirected"`) {
		t.Errorf("the API for Host rebound.evil.example: %d %s, want 421 misdirected", status, body)
	}
	for _, host := range []string{"localhost", "127.0.0.1:8080", "[::1]:8080"} {
		if status, body, _ := h.get(c, "/", "Host", host); status != http.StatusOK || strings.Contains(body, "Log out") {
			t.Errorf("Host %s: %d (want 200, and no login without an admin token)", host, status)
		}
	}
}

func TestDeliveriesPageFiltersAndPages(t *testing.T) {
	h := start(t, false, nil)
	var last []string
	for i := range 55 {
		_, last = h.post(confirmed("ce-"+itoa(i), "Person "+itoa(i)))
	}
	c := h.client()
	h.login(c)
	rowLink := regexp.MustCompile(`<a class="mono" href="/deliveries/dlv_`)
	status, body, _ := h.get(c, "/deliveries")
	if n := len(rowLink.FindAllString(body, -1)); status != http.StatusOK || n != 50 {
		t.Fatalf("first page: %d, %d rows, want 50", status, n)
	}
	if !strings.Contains(body, last[0]) {
		t.Errorf("the newest delivery %s is not on the first page", last[0])
	}
	next := regexp.MustCompile(`href="(/deliveries\?cursor=[^"]+)" rel="next"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no link to the next page")
	}
	_, body, _ = h.get(c, strings.ReplaceAll(next[1], "&amp;", "&"))
	if n := len(rowLink.FindAllString(body, -1)); n != 5 || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page: %d rows, want the last 5 and no next link", n)
	}
	_, body, _ = h.get(c, "/deliveries?trigger=cancellations")
	if !strings.Contains(body, "No delivery matches.") {
		t.Error("trigger=cancellations listed deliveries")
	}
	_, body, _ = h.get(c, "/deliveries?trigger=confirmed_crm&status=delivered&part=rows")
	if strings.Contains(body, "<html") || strings.Contains(body, "<form") || !strings.Contains(body, "<tr>") {
		t.Errorf("part=rows is not the rows alone:\n%s", body)
	}
	for q, want := range map[string]string{"status=lost": `there is no status &#34;lost&#34;`, "since=yesterday": "From &#34;yesterday&#34; is not a time"} {
		status, body, _ := h.get(c, "/deliveries?"+q)
		if status != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 400 saying %q", q, status, want)
		}
	}
}

func TestBulkRetryConfirmsTheCountAndRetriesThoseOnly(t *testing.T) {
	h := start(t, false, nil)
	h.rc.failing.Store(true)
	var failed []string
	for i := range 3 {
		_, ids := h.post(confirmed("ce-"+itoa(i), "Person"))
		failed = append(failed, ids[0])
	}
	for _, id := range failed {
		h.waitStatus(id, "failed")
	}
	h.rc.failing.Store(false)
	c := h.client()
	h.login(c)
	_, body, _ := h.get(c, "/deliveries/retry?status=failed&trigger=confirmed_crm")
	if !strings.Contains(body, "<strong>3</strong> failed deliveries match") {
		t.Fatalf("the confirmation does not say 3:\n%s", body)
	}
	form := hiddenFields(body)
	// A delivery failing after the confirmation is not in it.
	h.rc.failing.Store(true)
	_, late := h.post(confirmed("ce-late", "Late"))
	h.waitStatus(late[0], "failed")
	h.rc.failing.Store(false)

	status, _, hdr := h.postForm(c, "/deliveries/retry", form)
	if status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "done=bulk&n=3") {
		t.Fatalf("bulk retry: %d to %q", status, hdr.Get("Location"))
	}
	for _, id := range failed {
		h.waitStatus(id, "delivered")
	}
	h.waitStatus(late[0], "failed")
	_, body, _ = h.get(c, hdr.Get("Location"))
	if !strings.Contains(body, "3 failed deliveries were queued to be sent again.") {
		t.Errorf("no note of what was done:\n%s", body)
	}
}

func TestOverviewShowsABrokenReloadsDiagnostics(t *testing.T) {
	h := start(t, false, nil)
	c := h.client()
	h.login(c)
	write(t, filepath.Join(h.rules, "broken.hcl"), "trigger \"oops\" {\n  on = [\"participant.confirmed\"]\n  when = \"participant.nmae == 'x'\"\n  action \"http\" \"x\" { url = \"http://127.0.0.1/\" }\n}\n")
	if res := h.srv.Reload("test"); res.Err == nil {
		t.Fatal("the broken file was loaded")
	}
	_, body, _ := h.get(c, "/?part=live")
	if !strings.Contains(body, "The newest rule files were refused") || !regexp.MustCompile(`broken\.hcl:3:\d+`).MatchString(body) {
		t.Fatalf("the overview does not show the diagnostic at broken.hcl:3:\n%s", body)
	}
	if err := os.Remove(filepath.Join(h.rules, "broken.hcl")); err != nil {
		t.Fatal(err)
	}
	h.srv.Reload("test")
	if _, body, _ := h.get(c, "/"); !strings.Contains(body, "The last reload succeeded.") {
		t.Error("the overview still shows the refused reload after the files were fixed")
	}
}

func TestTryAnEventStoresAndSendsNothing(t *testing.T) {
	h := start(t, false, nil)
	c := h.client()
	h.login(c)
	_, body, _ := h.get(c, "/try?example=events/confirmed.json")
	if !strings.Contains(body, "Ann Example") {
		t.Fatalf("the example was not loaded into the form:\n%s", body)
	}
	if _, body, _ := h.get(c, "/try?example=../../etc/passwd"); !strings.Contains(body, "There is no example") {
		t.Error("an example outside the rules directory was not refused")
	}
	tok := csrfField.FindStringSubmatch(body)[1]
	status, body, _ := h.postForm(c, "/try", url.Values{"csrf": {tok}, "event": {confirmed("ce-try", "Ann Example")}})
	if status != http.StatusOK || !strings.Contains(body, "1 action would fire") || !strings.Contains(body, "confirmed_crm.http.crm") ||
		!strings.Contains(body, "vip_only</span>: filter false") {
		t.Fatalf("try: %d\n%s", status, body)
	}
	status, body, _ = h.postForm(c, "/try", url.Values{"csrf": {tok}, "event": {`{"specversion":"1.0"}`}})
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "The server would refuse this event") {
		t.Errorf("an invalid event: %d\n%s", status, body)
	}
	if _, body, _ := h.get(c, "/deliveries"); !strings.Contains(body, "No delivery matches.") {
		t.Error("trying an event stored a delivery")
	}
	if n := h.rc.count(""); n != 0 {
		t.Errorf("trying an event sent %d requests", n)
	}
}

func TestEventPageExplainsWhatDidNotFire(t *testing.T) {
	h := start(t, false, nil)
	ev, _ := h.post(confirmed("ce-1", "Ann Example"))
	c := h.client()
	h.login(c)
	_, body, _ := h.get(c, "/events/"+ev)
	for _, want := range []string{"vip_only</span>: filter false", "confirmed_crm.http.crm", "&#34;Ann Example&#34;", "cancellations</span>: other event type"} {
		if !strings.Contains(body, want) {
			t.Errorf("the event page lacks %q", want)
		}
	}
	if status, _, _ := h.get(c, "/events/evt_nope"); status != http.StatusNotFound {
		t.Errorf("an unknown event: %d", status)
	}
}

func TestNoConsoleServesTheAPIAlone(t *testing.T) {
	h := start(t, true, func(o *server.Options) { o.NoConsole = true })
	status, body, _ := h.get(h.client(), "/")
	if status != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("GET / with NoConsole: %d %s", status, body)
	}
}

func TestOversizedFormIsRefusedWith413(t *testing.T) {
	h := start(t, false, func(o *server.Options) { o.MaxBodyBytes = 4096 })
	c := h.client()
	h.login(c)
	tok := h.csrf(c, "/try")
	status, body, _ := h.postForm(c, "/try", url.Values{"csrf": {tok}, "event": {strings.Repeat("x", 200<<10)}})
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
		t.Errorf("a 200 KiB form: %d\n%s", status, body)
	}
}

// The pages read through store queries that differ between SQLite and
// PostgreSQL; every page must render on both.
func TestEveryPageOnPostgreSQL(t *testing.T) {
	dbURL := pgtest.URL(t)
	h := start(t, false, func(o *server.Options) { o.DatabaseURL = dbURL })
	h.rc.failing.Store(true)
	ev, ids := h.post(confirmed("ce-1", "Ann Example"))
	h.waitStatus(ids[0], "failed")
	c := h.client()
	h.login(c)
	for path, want := range map[string]string{
		"/":                                      "Deliveries by status",
		"/?part=live":                            "1 failed",
		"/triggers":                              "confirmed_crm",
		"/deliveries?status=failed":              ids[0],
		"/deliveries/" + ids[0]:                  "HTTP 400",
		"/events/" + ev:                          "vip_only</span>: filter false",
		"/deliveries/retry?status=failed":        "<strong>1</strong> failed delivery matches",
		"/deliveries?since=2020-01-01&part=rows": ids[0],
	} {
		status, body, _ := h.get(c, path)
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: %d, want 200 with %q", path, status, want)
		}
	}
}

// A bulk retry from a list filtered to one action retries that action's
// failed deliveries only.
func TestBulkRetryKeepsTheActionFilter(t *testing.T) {
	h := start(t, false, nil)
	h.rc.failing.Store(true)
	_, crm := h.post(confirmed("ce-1", "Ann"))
	notComing := strings.Replace(confirmed("ce-2", "Bo"), "participant.confirmed", "participant.not_coming", 1)
	_, desk := h.post(notComing)
	h.waitStatus(crm[0], "failed")
	h.waitStatus(desk[0], "failed")
	h.rc.failing.Store(false)
	c := h.client()
	h.login(c)
	_, body, _ := h.get(c, "/deliveries/retry?address=cancellations.http.desk")
	if !strings.Contains(body, "<strong>1</strong> failed delivery matches") {
		t.Fatalf("the confirmation does not count the one failed desk delivery:\n%s", body)
	}
	form := hiddenFields(body)
	if status, _, hdr := h.postForm(c, "/deliveries/retry", form); status != http.StatusSeeOther || !strings.Contains(hdr.Get("Location"), "n=1") {
		t.Fatalf("bulk retry: %d to %q", status, hdr.Get("Location"))
	}
	h.waitStatus(desk[0], "delivered")
	if n := h.rc.count("/crm"); n != 1 {
		t.Errorf("the CRM delivery, outside the filter, was sent %d times", n)
	}
}
