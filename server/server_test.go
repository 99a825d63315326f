package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/zclconf/go-cty/cty"

	"github.com/hookline/hookline/internal/pgtest"
	"github.com/hookline/hookline/internal/testpeer"
)

const signingSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// receiver is an HTTP peer that records requests by path.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    map[string][]*recorded
	status func(path string, n int) int // nth request to path (1-based) -> status
}

type recorded struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{got: map[string][]*recorded{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got[r.URL.Path] = append(rc.got[r.URL.Path], &recorded{r.Header.Clone(), b})
		n := len(rc.got[r.URL.Path])
		status := 200
		if rc.status != nil {
			status = rc.status(r.URL.Path, n)
		}
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests(path string) []*recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*recorded(nil), rc.got[path]...)
}

func (rc *receiver) wait(t *testing.T, path string, n int) []*recorded {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if got := rc.requests(path); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: want %d requests, got %d", path, n, len(rc.requests(path)))
	return nil
}

// eachStore runs f as a parallel subtest per store: SQLite, and PostgreSQL
// (a schema of its own) when HOOKLINE_TEST_DATABASE_URL is set. store is
// for startServer's mutate: nil for SQLite.
func eachStore(t *testing.T, f func(t *testing.T, store func(*Options))) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		t.Parallel()
		f(t, func(o *Options) { o.DatabaseURL = url })
	})
}

// harness runs a real server (real store, real executors) on
// loopback, with its rules copied into a temporary directory.
type harness struct {
	t    testing.TB
	url  string
	srv  *Server
	data string
	stop func()
}

func startServer(t testing.TB, rulesDir string, env map[string]string, mutate func(*Options)) *harness {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	opts := Options{
		RulesDir:        rulesDir,
		DataDir:         data,
		AllowCIDRs:      []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ShutdownTimeout: 5 * time.Second,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
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
	srv, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- srv.Run(ctx, func(addr string) { ready <- addr }) }()
	h := &harness{t: t, srv: srv, data: data, url: "http://" + <-ready}
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) do(method, path, contentType string, body []byte, hdr map[string]string) (int, map[string]any) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		h.t.Fatalf("%s %s: answer is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, out
}

func (h *harness) post(body []byte) (int, map[string]any) {
	return h.do("POST", "/v1/events", "application/cloudevents+json", body, nil)
}

// exampleRules copies examples/apptoto and points its peers at loopback.
func exampleRules(t *testing.T, rc *receiver, tw *testpeer.Twilio, sm *testpeer.SMTP) string {
	t.Helper()
	dir := t.TempDir()
	src := "../examples/apptoto"
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(b)
		s = strings.ReplaceAll(s, "https://crm.example.com", rc.URL)
		s = strings.ReplaceAll(s, "https://marketing.example.com", rc.URL)
		s = strings.ReplaceAll(s, `from        = "+15550199"`, `from         = "+15550199"
  api_base_url = "`+tw.URL+`"`)
		s = strings.ReplaceAll(s, `host     = "smtp.example.com"`, `host     = "127.0.0.1"`)
		s = strings.ReplaceAll(s, `port     = 587`, `port     = `+itoa(sm.Port()))
		s = strings.ReplaceAll(s, `tls      = "starttls"`, `tls      = "none"`)
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, []byte(s), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../examples/apptoto/events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exampleEnv() map[string]string {
	return map[string]string{
		"CRM_API_KEY":            "crm-key-7f3a9",
		"OPT_OUT_SIGNING_SECRET": signingSecret,
		"TWILIO_ACCOUNT_SID":     "AC0123456789abcdef",
		"TWILIO_AUTH_TOKEN":      "authtoken0123456789",
		"SMTP_USERNAME":          "frontdesk",
		"SMTP_PASSWORD":          "smtp-pass-4411",
	}
}

// TestExamplesEndToEnd posts every example event and checks that each
// expected delivery arrives at its real peer.
func TestExamplesEndToEnd(t *testing.T) { eachStore(t, testExamplesEndToEnd) }

func testExamplesEndToEnd(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	env := exampleEnv()
	tw := testpeer.NewTwilio(env["TWILIO_ACCOUNT_SID"], env["TWILIO_AUTH_TOKEN"])
	t.Cleanup(tw.Close)
	sm, err := testpeer.NewSMTP(env["SMTP_USERNAME"], env["SMTP_PASSWORD"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	// The server's clock is the examples' own day: the follow-up e-mail
	// waits for the morning after the appointment (timing.hcl), and on
	// the real clock that morning came, so it was sent as a third e-mail
	// between 18:00 and 20:00 UTC on 2026-12-04.
	clock := &serverClock{t: time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)}
	h := startServer(t, exampleRules(t, rc, tw, sm), env, func(o *Options) {
		if store != nil {
			store(o)
		}
		o.Now = clock.Now
	})

	for _, name := range []string{
		"participant-replied-cancel.json", "participant-replied-yes.json", "participant-confirmed.json",
		"participant-not-coming.json", "booking-completed.json", "message-failed.json", "participant-stop-listed.json",
	} {
		status, ans := h.post(readEvent(t, name))
		if status != http.StatusAccepted {
			t.Fatalf("%s: status %d %v", name, status, ans)
		}
	}
	// Two texts to the front desk (cancel reply, not coming).
	sms := tw.Wait(2, 15*time.Second)
	if len(sms) != 2 {
		t.Fatalf("want 2 SMS, got %+v", sms)
	}
	for _, m := range sms {
		if m.To != "+15550100" || m.From != "+15550199" {
			t.Errorf("sms %+v", m)
		}
	}
	bodies := sms[0].Body + "|" + sms[1].Body
	if !strings.Contains(bodies, "Ann Lee cancelled Dental Cleaning on Tuesday, December 1 at 9:00 AM") || !strings.Contains(bodies, "Dev Patel") {
		t.Errorf("sms bodies %q", bodies)
	}
	// Two e-mails (confirmed -> staff, failed message -> office).
	mail := sm.Wait(2, 15*time.Second)
	if len(mail) != 2 {
		t.Fatalf("want 2 e-mails, got %d", len(mail))
	}
	subjects := testpeer.Header(mail[0].Data, "Subject") + "|" + testpeer.Header(mail[1].Data, "Subject")
	if !strings.Contains(subjects, "Confirmed: Carla Diaz for Deep Tissue Massage") || !strings.Contains(subjects, "Reminder to Finn Ode failed") {
		t.Errorf("subjects %q", subjects)
	}
	for _, m := range mail {
		if m.User != "frontdesk" || m.From != "frontdesk@example.com" {
			t.Errorf("mail envelope %+v", m)
		}
	}
	// The CRM gets the booking as received, with its API key resolved.
	crm := rc.wait(t, "/hooks/bookings", 1)[0]
	if crm.header.Get("X-Api-Key") != "crm-key-7f3a9" || !bytes.Contains(crm.body, []byte(`"crm_hint": "passed through untouched"`)) {
		t.Errorf("crm request %v %s", crm.header, crm.body)
	}
	// The opt-out POST is signed per Standard Webhooks.
	opt := rc.wait(t, "/api/opt-outs", 1)[0]
	wh, err := standardwebhooks.NewWebhook(signingSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(opt.body, opt.header); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if !bytes.Contains(opt.body, []byte(`"email":"gus@example.com"`)) {
		t.Errorf("opt-out body %s", opt.body)
	}
}

func writeRules(t testing.TB, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rules.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func event(id, typ, data string) []byte {
	return []byte(`{"specversion":"1.0","id":"` + id + `","source":"test","type":"` + typ + `","data":` + data + `}`)
}

const confirmedData = `{"appointment":{"title":"Visit"},"participant":{"name":"Ann"}}`

func deliveryIDs(t *testing.T, ans map[string]any) []string {
	t.Helper()
	var ids []string
	for _, d := range ans["deliveries"].([]any) {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	return ids
}

func waitStatus(t *testing.T, h *harness, id, want string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var d map[string]any
	for time.Now().Before(deadline) {
		_, d = h.do("GET", "/v1/deliveries/"+id, "", nil, nil)
		if d["status"] == want {
			return d
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("delivery %s: status %v, want %s (%v)", id, d["status"], want, d)
	return nil
}

func TestRetriesThenDeliversAndDeadLetterRetry(t *testing.T) {
	eachStore(t, testRetriesThenDeliversAndDeadLetterRetry)
}

func testRetriesThenDeliversAndDeadLetterRetry(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	rc.status = func(path string, n int) int {
		switch {
		case path == "/flaky" && n <= 2:
			return 503
		case path == "/reject" && n == 1:
			return 400
		}
		return 200
	}
	dir := writeRules(t, `
trigger "flaky" {
  on = ["participant.confirmed"]
  retry { schedule = ["10ms", "10ms", "10ms"] }
  action "http" "flaky" { url = "`+rc.URL+`/flaky" }
  action "http" "reject" { url = "`+rc.URL+`/reject" }
}`)
	h := startServer(t, dir, nil, store)
	status, ans := h.post(event("e1", "participant.confirmed", confirmedData))
	if status != http.StatusAccepted {
		t.Fatalf("status %d %v", status, ans)
	}
	ids := deliveryIDs(t, ans)
	if len(ids) != 2 {
		t.Fatalf("deliveries %v", ans)
	}
	d := waitStatus(t, h, ids[0], "delivered")
	log := d["attempt_log"].([]any)
	if len(log) != 3 || log[0].(map[string]any)["outcome"] != "retry" || log[2].(map[string]any)["status_code"] != float64(200) {
		t.Errorf("attempt log %v", log)
	}
	if n := len(rc.requests("/flaky")); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	// A 400 is a dead letter; retrying it by hand redelivers.
	waitStatus(t, h, ids[1], "failed")
	if code, _ := h.do("POST", "/v1/deliveries/"+ids[1]+"/retry", "", nil, nil); code != http.StatusAccepted {
		t.Fatalf("retry: %d", code)
	}
	d = waitStatus(t, h, ids[1], "delivered")
	if n := len(d["attempt_log"].([]any)); n != 2 {
		t.Errorf("want 2 attempts after the manual retry, got %d", n)
	}
}

func TestDuplicateEventMakesNoNewDeliveries(t *testing.T) {
	eachStore(t, testDuplicateEventMakesNoNewDeliveries)
}

func testDuplicateEventMakesNoNewDeliveries(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" { url = "`+rc.URL+`/x" }
}`), nil, store)
	ev := event("same", "participant.confirmed", confirmedData)
	s1, a1 := h.post(ev)
	s2, a2 := h.post(ev)
	if s1 != http.StatusAccepted || s2 != http.StatusOK {
		t.Fatalf("statuses %d, %d", s1, s2)
	}
	if a1["id"] != a2["id"] || len(deliveryIDs(t, a2)) != 1 || deliveryIDs(t, a1)[0] != deliveryIDs(t, a2)[0] {
		t.Fatalf("answers differ: %v %v", a1, a2)
	}
	waitStatus(t, h, deliveryIDs(t, a1)[0], "delivered")
	if n := len(rc.requests("/x")); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
	_, list := h.do("GET", "/v1/deliveries?trigger=t", "", nil, nil)
	if n := len(list["deliveries"].([]any)); n != 1 {
		t.Errorf("%d deliveries stored, want 1", n)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" { url = "https://example.com" }
}`), nil, func(o *Options) { o.Sandbox = true; o.MaxBodyBytes = 4096 })
	tests := []struct {
		name        string
		contentType string
		body        []byte
		status      int
		code        string
		msg         string
	}{
		{"not json", "application/json", []byte(`{"specversion":`), 400, "invalid_json", "invalid JSON"},
		{"missing id", "application/json", []byte(`{"specversion":"1.0","source":"s","type":"participant.confirmed"}`), 400, "invalid_cloudevent", "id: required"},
		{"unknown type", "application/json", event("1", "participant.confirmd", "{}"), 422, "unknown_event_type", `did you mean "participant.confirmed"?`},
		{"schema", "application/json", event("1", "participant.confirmed", `{"appointment":{"id":"x"},"participant":{}}`), 422, "schema_violation", "data.appointment.id: expected an integer"},
		{"too large", "application/json", bytes.Repeat([]byte("x"), 5000), 413, "body_too_large", "at most 4096 bytes"},
		{"media type", "text/plain", []byte("hi"), 415, "unsupported_media_type", "application/cloudevents+json"},
	}
	for _, tt := range tests {
		status, ans := h.do("POST", "/v1/events", tt.contentType, tt.body, nil)
		e, _ := ans["error"].(map[string]any)
		if status != tt.status || e == nil || e["code"] != tt.code || !strings.Contains(e["message"].(string), tt.msg) {
			t.Errorf("%s: %d %v; want %d %s containing %q", tt.name, status, ans, tt.status, tt.code, tt.msg)
		}
	}
	// Nothing was stored for any of them.
	_, list := h.do("GET", "/v1/deliveries", "", nil, nil)
	if n := len(list["deliveries"].([]any)); n != 0 {
		t.Errorf("%d deliveries stored for rejected events", n)
	}
	if status, ans := h.do("GET", "/v1/deliveries/dlv_nope", "", nil, nil); status != 404 || ans["error"].(map[string]any)["code"] != "not_found" {
		t.Errorf("unknown delivery: %d %v", status, ans)
	}
	if status, ans := h.do("DELETE", "/v1/events", "", nil, nil); status != 405 || ans["error"].(map[string]any)["code"] != "method_not_allowed" {
		t.Errorf("wrong method: %d %v", status, ans)
	}
	if status, _ := h.do("GET", "/v1/deliveries?colour=red", "", nil, nil); status != 400 {
		t.Errorf("unknown filter: %d", status)
	}
	if status, _ := h.do("POST", "/v1/deliveries/retry", "application/json", []byte(`{}`), nil); status != 400 {
		t.Errorf("retry without a filter: %d", status)
	}
}

func TestBinaryModeAndSandboxCapture(t *testing.T) {
	t.Parallel()
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" {
    url     = "https://crm.example.com/hook"
    headers = { "Authorization" = "Bearer ${env("CRM_TOKEN")}" }
    body    = "${participant.name} confirmed ${event.id}"
  }
}`), map[string]string{"CRM_TOKEN": "tok-123"}, func(o *Options) { o.Sandbox = true })
	status, ans := h.do("POST", "/v1/events", "application/json", []byte(confirmedData), map[string]string{
		"ce-specversion": "1.0", "ce-id": "bin-1", "ce-source": "test", "ce-type": "participant.confirmed",
	})
	if status != http.StatusAccepted {
		t.Fatalf("binary mode: %d %v", status, ans)
	}
	id := deliveryIDs(t, ans)[0]
	d := waitStatus(t, h, id, "delivered")
	attempt := d["attempt_log"].([]any)[0].(map[string]any)
	resp := attempt["response"].(string)
	if attempt["provider_id"] != "sandbox" || !strings.Contains(resp, `"body":"Ann confirmed bin-1"`) || !strings.Contains(resp, "Bearer (sensitive)") {
		t.Errorf("capture %v", attempt)
	}
	if strings.Contains(resp, "tok-123") {
		t.Error("the sandbox capture holds the secret")
	}
	// The event is kept in structured form, with its deliveries.
	_, ev := h.do("GET", "/v1/events/"+ans["id"].(string), "", nil, nil)
	if ev["ce_id"] != "bin-1" || len(ev["deliveries"].([]any)) != 1 {
		t.Errorf("event %v", ev)
	}
}

// TestSecretNeverStored checks every file of the data directory for an
// env() secret after it has been used in a real delivery.
func TestSecretNeverStored(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	const secret = "s3cr3t-value-never-stored-91"
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" {
    url     = "`+rc.URL+`/s"
    headers = { "X-Key" = env("API_KEY") }
    body    = "key=${env("API_KEY")}"
  }
}`), map[string]string{"API_KEY": secret}, nil)
	_, ans := h.post(event("sec", "participant.confirmed", confirmedData))
	waitStatus(t, h, deliveryIDs(t, ans)[0], "delivered")
	if got := rc.requests("/s")[0]; got.header.Get("X-Key") != secret || string(got.body) != "key="+secret {
		t.Fatalf("the receiver did not get the secret: %v %q", got.header, got.body)
	}
	h.stop()
	err := filepath.WalkDir(h.data, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the secret", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInvalidRulesRefuseToStart(t *testing.T) {
	t.Parallel()
	_, err := New(context.Background(), Options{RulesDir: writeRules(t, `trigger "t" { on = ["nope"] }`), DataDir: t.TempDir()})
	var re *RulesError
	if err == nil || !errors.As(err, &re) {
		t.Fatalf("want a RulesError, got %v", err)
	}
	found := false
	for _, d := range re.Diags {
		found = found || d.Summary == "Unknown event type"
	}
	if !found {
		t.Errorf("diagnostics %v lack the unknown event type", re.Diags)
	}
	// Outside the sandbox, every env() secret must be set.
	_, err = New(context.Background(), Options{
		RulesDir: writeRules(t, `trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" {
    url     = "https://example.com"
    headers = { "X" = env("MISSING_SECRET") }
  }
}`),
		DataDir:   t.TempDir(),
		LookupEnv: func(string) (string, bool) { return "", false },
	})
	if err == nil || !strings.Contains(err.Error(), "MISSING_SECRET") {
		t.Fatalf("want an error naming MISSING_SECRET, got %v", err)
	}
}

// An env() reference comes only from env(): event data that carries a
// well-formed token, even one the running rule set has just produced, is
// sent as the text it is, never replaced by a secret.
func TestEventDataCannotNameASecret(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	const secret = "s3cr3t-value-never-forged-17"
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" {
    url  = "`+rc.URL+`/f"
    body = "key=${env("API_KEY")} name=${participant.name} title=${appointment.title}"
  }
  action "http" "plain" {
    url  = "`+rc.URL+`/g"
    body = participant.name
  }
}`), map[string]string{"API_KEY": secret}, nil)
	live, err := h.srv.live.Load().Set().EvalContext().Functions["env"].Call([]cty.Value{cty.StringVal("API_KEY")})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := live.Unmark()
	token := raw.AsString()
	data, _ := json.Marshal(map[string]any{"participant": map[string]any{"name": token}, "appointment": map[string]any{"title": token}})
	_, ans := h.post(event("forged", "participant.confirmed", string(data)))
	for _, id := range deliveryIDs(t, ans) {
		waitStatus(t, h, id, "delivered")
	}
	want := "key=" + secret + " name=" + token + " title=" + token
	if got := string(rc.requests("/f")[0].body); got != want {
		t.Errorf("body beside env() = %q, want %q", got, want)
	}
	if got := string(rc.requests("/g")[0].body); got != token {
		t.Errorf("body of event data alone = %q, want %q", got, token)
	}
}
