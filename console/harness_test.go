package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/server"
)

// The console is tested against a real server: its store in a SQLite file
// of the test's, its webhooks sent to a receiver on loopback.

const adminToken = "adm-console-test-token"

// secretValue is what env("CRM_KEY") holds: no page may show it.
const secretValue = "s3cr3t-crm-key-value-9f2c"

const rulesTemplate = `
trigger "confirmed_crm" {
  description = "Tell the CRM when a participant confirms"
  on          = ["participant.confirmed"]

  action "http" "crm" {
    url     = "RECV/crm"
    headers = { "X-Api-Key" = env("CRM_KEY") }
    body    = jsonencode({ name = participant.name, title = appointment.title })
    retry { max_attempts = 1 }
  }
}

trigger "vip_only" {
  description = "Only for VIPs"
  on          = ["participant.confirmed"]
  when        = "participant.name == 'VIP Person'"

  action "http" "vip" {
    url = "RECV/vip"
  }
}

trigger "cancellations" {
  on = ["participant.not_coming"]

  action "http" "desk" {
    url = "RECV/desk"
  }
}
`

// receiver answers the server's webhooks: 400 (a permanent failure) while
// failing is set, 204 otherwise.
type receiver struct {
	*httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	got     []string // paths, in arrival order
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, r.URL.Path)
		rc.mu.Unlock()
		if rc.failing.Load() {
			http.Error(w, "the CRM refused it", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

type harness struct {
	t     testing.TB
	url   string
	rules string // the rules directory, which a test may edit
	srv   *server.Server
	rc    *receiver
}

// start runs a server on loopback over rules (RECV replaced by the
// receiver's URL), with the admin token unless open is set.
func start(t testing.TB, open bool, mutate func(*server.Options)) *harness {
	t.Helper()
	rc := newReceiver(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.MkdirAll(filepath.Join(rules, "events"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(rules, "rules.hcl"), strings.ReplaceAll(rulesTemplate, "RECV", rc.URL))
	write(t, filepath.Join(rules, "events", "confirmed.json"), confirmed("example-1", "Ann Example"))
	opts := server.Options{
		RulesDir:        rules,
		DataDir:         filepath.Join(dir, "data"),
		AllowCIDRs:      []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ShutdownTimeout: 5 * time.Second,
		Watch:           "off",
		LookupEnv: func(k string) (string, bool) {
			if k == "CRM_KEY" {
				return secretValue, true
			}
			return "", false
		},
	}
	if !open {
		opts.Auth = server.AuthOptions{AdminToken: adminToken, IngestTokens: []string{"ingest-token"}}
	}
	if mutate != nil {
		mutate(&opts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- srv.Run(ctx, func(addr string) { ready <- addr }) }()
	h := &harness{t: t, srv: srv, rc: rc, rules: rules, url: "http://" + <-ready}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// confirmed is a participant.confirmed CloudEvent; name goes into the
// event as given, JSON-escaped.
func confirmed(id, name string) string {
	return fmt.Sprintf(`{
  "specversion": "1.0", "id": %q, "source": "https://app.apptoto.com/accounts/42",
  "type": "participant.confirmed", "time": "2026-11-30T09:00:00Z",
  "data": {
    "appointment": {"id": 5003, "title": %q, "start_time": "2026-12-03T18:00:00Z", "time_zone": "America/Los_Angeles"},
    "participant": {"id": 9003, "name": %q, "email": "carla@example.org"}
  }
}`, id, "Checkup for "+name, name)
}

var deliveryIDs = regexp.MustCompile(`"id":\s*"(dlv_[0-9A-Z]+)"`)
var eventIDs = regexp.MustCompile(`"id":\s*"(evt_[0-9A-Z]+)"`)

// post sends an event through the API and returns its event id and
// delivery ids.
func (h *harness) post(body string) (string, []string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+"/v1/events", strings.NewReader(body))
	status, b, _ := h.do(http.DefaultClient, req, "Content-Type", "application/cloudevents+json", "Authorization", "Bearer ingest-token")
	if status != http.StatusAccepted {
		h.t.Fatalf("posting an event: %d %s", status, b)
	}
	var ids []string
	for _, m := range deliveryIDs.FindAllStringSubmatch(b, -1) {
		ids = append(ids, m[1])
	}
	ev := eventIDs.FindStringSubmatch(b)
	if ev == nil {
		h.t.Fatalf("no event id in %s", b)
	}
	return ev[1], ids
}

// client is a browser-like HTTP client: a cookie jar, no redirects
// followed, so that tests see each answer.
func (h *harness) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get returns the status and body of a GET.
func (h *harness) get(c *http.Client, path string, hdr ...string) (int, string, http.Header) {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.url+path, nil)
	return h.do(c, req, hdr...)
}

// postForm posts a form as a browser on the console's own page would.
func (h *harness) postForm(c *http.Client, path string, form url.Values, hdr ...string) (int, string, http.Header) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.do(c, req, hdr...)
}

// do sends req with the header pairs hdr (name, value, ...) and returns
// the status, body and header of the answer.
func (h *harness) do(c *http.Client, req *http.Request, hdr ...string) (int, string, http.Header) {
	h.t.Helper()
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
		if hdr[i] == "Host" {
			req.Host = hdr[i+1] // the client sends this, not the header
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// login logs c in with the admin token.
func (h *harness) login(c *http.Client) {
	h.t.Helper()
	status, body, hdr := h.postForm(c, "/login", url.Values{"token": {adminToken}, "next": {"/"}})
	if status != http.StatusSeeOther {
		h.t.Fatalf("login: %d %s", status, body)
	}
	// The jar keeps Secure cookies only for https URLs; a browser keeps
	// them on localhost too. Give it the cookie as a browser would.
	u, _ := url.Parse(h.url)
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		ck.Secure = false
		c.Jar.SetCookies(u, []*http.Cookie{ck})
	}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a page's forms.
func (h *harness) csrf(c *http.Client, path string) string {
	h.t.Helper()
	_, body, _ := h.get(c, path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		h.t.Fatalf("%s has no form with a CSRF token:\n%s", path, body)
	}
	return m[1]
}

var hiddenField = regexp.MustCompile(`type="hidden" name="([a-z_]+)" value="([^"]*)"`)

// hiddenFields is what a page's form would post: its hidden fields, the
// CSRF token among them, unescaped as a browser would.
func hiddenFields(body string) url.Values {
	form := url.Values{}
	for _, f := range hiddenField.FindAllStringSubmatch(body, -1) {
		form.Set(f[1], html.UnescapeString(f[2]))
	}
	return form
}

// waitStatus polls the API until delivery id has status want.
func (h *harness) waitStatus(id, want string) {
	h.t.Helper()
	c := h.client()
	has := regexp.MustCompile(`"status":\s*"` + regexp.QuoteMeta(want) + `"`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, b, _ := h.get(c, "/v1/deliveries/"+id, "Authorization", "Bearer "+adminToken)
		if has.MatchString(b) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("delivery %s never became %s: %s", id, want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (rc *receiver) count(prefix string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, p := range rc.got {
		if strings.HasPrefix(p, prefix) {
			n++
		}
	}
	return n
}

func (rc *receiver) wait(t testing.TB, prefix string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for rc.count(prefix) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d requests, want %d", prefix, rc.count(prefix), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
