package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	const ingest, admin = "ingest-tok-A1", "admin-tok-Z9"
	var logs syncBuffer
	h := startServer(t, writeRules(t, rule("t", "https://example.com/x")), nil, func(o *Options) {
		o.Sandbox = true
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		o.Auth = AuthOptions{IngestTokens: []string{"other", ingest}, IngestSecret: signingSecret, AdminToken: admin}
	})
	body := event("auth-1", "participant.confirmed", confirmedData)
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	wh, err := standardwebhooks.NewWebhook(signingSecret)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(id string, at time.Time, b []byte) map[string]string {
		sig, err := wh.Sign(id, at, b)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"webhook-id": id, "webhook-timestamp": itoa(int(at.Unix())), "webhook-signature": sig}
	}
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		hdr    map[string]string
		status int
	}{
		{"intake without credentials", "POST", "/v1/events", body, nil, 401},
		{"intake with a wrong token", "POST", "/v1/events", body, bearer("nope"), 401},
		{"intake with the admin token", "POST", "/v1/events", body, bearer(admin), 403},
		{"intake with an ingest token", "POST", "/v1/events", body, bearer(ingest), 202},
		// RFC 9110 section 11.1: the scheme is case-insensitive.
		{"intake with scheme bearer", "POST", "/v1/events", event("auth-3", "participant.confirmed", confirmedData), map[string]string{"Authorization": "bearer " + ingest}, 202},
		{"intake with scheme BEARER", "POST", "/v1/events", event("auth-4", "participant.confirmed", confirmedData), map[string]string{"Authorization": "BEARER  " + ingest}, 202},
		{"intake signed", "POST", "/v1/events", event("auth-2", "participant.confirmed", confirmedData), signed("msg_1", time.Now(), event("auth-2", "participant.confirmed", confirmedData)), 202},
		{"intake signed 10 minutes ago", "POST", "/v1/events", body, signed("msg_2", time.Now().Add(-10*time.Minute), body), 401},
		{"intake signed for another body", "POST", "/v1/events", body, signed("msg_3", time.Now(), []byte("other")), 401},
		{"admin without credentials", "GET", "/v1/deliveries", nil, nil, 401},
		{"admin with an ingest token", "GET", "/v1/deliveries", nil, bearer(ingest), 403},
		{"admin with a wrong token", "GET", "/v1/rules", nil, bearer("nope"), 401},
		{"admin with the admin token", "GET", "/v1/deliveries", nil, bearer(admin), 200},
		{"admin with scheme bEaReR", "GET", "/v1/deliveries", nil, map[string]string{"Authorization": "bEaReR " + admin}, 200},
		{"admin with another scheme", "GET", "/v1/deliveries", nil, map[string]string{"Authorization": "Basic " + admin}, 401},
		{"reload with the admin token", "POST", "/v1/reload", nil, bearer(admin), 200},
		{"purge without credentials", "POST", "/v1/events/purge", []byte(`{"before": "30d"}`), nil, 401},
		{"purge with an ingest token", "POST", "/v1/events/purge", []byte(`{"before": "30d"}`), bearer(ingest), 403},
		{"purge with the admin token", "POST", "/v1/events/purge", []byte(`{"before": "30d"}`), bearer(admin), 200},
		{"health needs nothing", "GET", "/healthz", nil, nil, 200},
		{"metrics need nothing", "GET", "/readyz", nil, nil, 200},
	}
	for _, tt := range tests {
		status, ans := h.do(tt.method, tt.path, "application/json", tt.body, tt.hdr)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%v)", tt.name, status, tt.status, ans)
		}
		if status == 401 && ans["error"] == nil {
			t.Errorf("%s: no JSON error", tt.name)
		}
	}
	if out := logs.String(); strings.Contains(out, ingest) || strings.Contains(out, admin) || strings.Contains(out, "nope") {
		t.Errorf("a presented token was logged:\n%s", out)
	}
	if !strings.Contains(logs.String(), "request refused") {
		t.Error("refusals are not logged")
	}
}

func TestListenBeyondLoopbackNeedsAuth(t *testing.T) {
	t.Parallel()
	open, _ := newAuthenticator(AuthOptions{}, slog.New(slog.DiscardHandler))
	for _, addr := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080"} {
		if err := open.checkListen(addr, nil); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{":8080", "0.0.0.0:8080", "10.0.0.5:8080"} {
		if err := open.checkListen(addr, nil); err == nil || !strings.Contains(err.Error(), "--insecure") {
			t.Errorf("%s: want a refusal naming --insecure, got %v", addr, err)
		}
	}
	insecure, _ := newAuthenticator(AuthOptions{Insecure: true}, slog.New(slog.DiscardHandler))
	if err := insecure.checkListen(":8080", nil); err != nil {
		t.Errorf("--insecure: %v", err)
	}
	guarded, _ := newAuthenticator(AuthOptions{IngestTokens: []string{"a"}, AdminToken: "b"}, slog.New(slog.DiscardHandler))
	if err := guarded.checkListen(":8080", nil); err != nil {
		t.Errorf("with tokens: %v", err)
	}
	ingestOnly, _ := newAuthenticator(AuthOptions{IngestTokens: []string{"a"}}, slog.New(slog.DiscardHandler))
	if err := ingestOnly.checkListen("0.0.0.0:1", nil); err == nil {
		t.Error("an open admin API beyond loopback must be refused")
	}
	if _, err := newAuthenticator(AuthOptions{IngestSecret: "whsec_%%%"}, slog.New(slog.DiscardHandler)); err == nil || strings.Contains(err.Error(), "%%%") {
		t.Errorf("bad secret: %v", err)
	}
}

func TestMetricsAfterAScriptedRun(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	rc.status = func(path string, n int) int {
		if path == "/dead" {
			return 400
		}
		return 200
	}
	h := startServer(t, writeRules(t, `
trigger "ok" {
  on = ["participant.confirmed"]
  action "http" "h" { url = "`+rc.URL+`/ok" }
}
trigger "dead" {
  on   = ["participant.confirmed"]
  when = "participant.name == 'Dee'"
  action "http" "h" { url = "`+rc.URL+`/dead" }
}
trigger "boom" {
  on   = ["participant.confirmed"]
  when = "10 / appointment.id > 1"
  action "http" "h" { url = "`+rc.URL+`/boom" }
}`), nil, nil)
	for i, name := range []string{"Ann", "Bo", "Dee"} {
		h.post(event("m"+itoa(i), "participant.confirmed", `{"appointment":{},"participant":{"name":"`+name+`"}}`))
	}
	h.post(event("m0", "participant.confirmed", confirmedData)) // duplicate
	h.post(event("x", "participant.confirmd", "{}"))
	h.post([]byte("{"))
	rc.wait(t, "/ok", 3)
	rc.wait(t, "/dead", 1)
	deadline := time.Now().Add(10 * time.Second)
	var m string
	want := []string{
		`hookline_events_received_total{type="participant.confirmed"} 4`,
		`hookline_events_rejected_total{reason="unknown_event_type"} 1`,
		`hookline_events_rejected_total{reason="invalid_json"} 1`,
		`hookline_actions_fired_total{trigger="ok",type="http"} 3`,
		`hookline_actions_fired_total{trigger="dead",type="http"} 1`,
		`hookline_delivery_attempts_total{outcome="delivered",type="http"} 3`,
		`hookline_delivery_attempts_total{outcome="permanent",type="http"} 1`,
		`hookline_filter_errors_total{trigger="boom"} 4`, // the duplicate is evaluated before the store finds it is one
		`hookline_deliveries_dead 1`,
		`hookline_first_attempts_held 0`, // each let go of once recorded
		`hookline_first_attempts_spilled 0`,
		`hookline_rules_last_reload_successful 1`,
		`hookline_rules_triggers 3`,
		`hookline_delivery_attempt_duration_seconds_count{type="http"} 4`,
	}
	for time.Now().Before(deadline) {
		m = scrape(t, h)
		missing := 0
		for _, w := range want {
			if !strings.Contains(m, w) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, w := range want {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}

// TestSignedBinaryMode signs a binary-mode event as its sender does, over
// the bytes it sends: the data in the body, not a structured form of it.
func TestSignedBinaryMode(t *testing.T) {
	t.Parallel()
	h := startServer(t, writeRules(t, rule("t", "https://example.com/x")), nil, func(o *Options) {
		o.Sandbox = true
		o.Auth = AuthOptions{IngestSecret: signingSecret}
	})
	wh, err := standardwebhooks.NewWebhook(signingSecret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(id string, signedBody []byte) (int, map[string]any) {
		t.Helper()
		now := time.Now()
		sig, err := wh.Sign("msg_"+id, now, signedBody)
		if err != nil {
			t.Fatal(err)
		}
		return h.do("POST", "/v1/events", "application/json", []byte(confirmedData), map[string]string{
			"ce-specversion": "1.0", "ce-id": id, "ce-source": "test", "ce-type": "participant.confirmed",
			"webhook-id": "msg_" + id, "webhook-timestamp": itoa(int(now.Unix())), "webhook-signature": sig,
		})
	}
	if status, ans := post("bin-signed-1", []byte(confirmedData)); status != http.StatusAccepted {
		t.Errorf("signed over the body sent: %d %v, want 202", status, ans)
	}
	// What the server used to verify: its own structured form of the event.
	structured, status, _, _ := binaryToStructured(http.Header{
		"Ce-Specversion": {"1.0"}, "Ce-Id": {"bin-signed-2"}, "Ce-Source": {"test"}, "Ce-Type": {"participant.confirmed"},
	}, "application/json", "application/json", []byte(confirmedData))
	if status != 0 {
		t.Fatal(status)
	}
	if status, ans := post("bin-signed-2", structured); status != http.StatusUnauthorized {
		t.Errorf("signed over a structured form: %d %v, want 401", status, ans)
	}
}

// countingReader yields n bytes of x and counts what was read.
type countingReader struct{ left, read int }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), c.left)
	for i := range n {
		p[i] = 'x'
	}
	c.left -= n
	c.read += n
	return n, nil
}

// TestCredentialsComeFirst checks that a request without valid credentials
// gets 401 whatever its content type and body, and that the body is not
// read when the headers settle it.
func TestCredentialsComeFirst(t *testing.T) {
	t.Parallel()
	const ingest, admin, limit = "ingest-tok-B2", "admin-tok-Y8", 4096
	h := startServer(t, writeRules(t, rule("t", "https://example.com/x")), nil, func(o *Options) {
		o.Sandbox = true
		o.MaxBodyBytes = limit
		o.Auth = AuthOptions{IngestTokens: []string{ingest}, IngestSecret: signingSecret, AdminToken: admin}
	})
	wh, err := standardwebhooks.NewWebhook(signingSecret)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(at time.Time, b []byte) map[string]string {
		sig, err := wh.Sign("msg_cf", at, b)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"webhook-id": "msg_cf", "webhook-timestamp": itoa(int(at.Unix())), "webhook-signature": sig}
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	const huge = 10 * limit
	binary := map[string]string{"ce-specversion": "1.0", "ce-id": "%zz", "ce-source": "s", "ce-type": "participant.confirmed"}
	tests := []struct {
		name        string
		contentType string
		size        int // of a body of x; 0 for body
		body        []byte
		hdr         map[string]string
		status      int
		code        string
		maxRead     int // how much of the body may be read
	}{
		{"no credentials, bad content type", "text/plain", 0, []byte("hi"), nil, 401, "unauthorized", 0},
		{"no credentials, oversized body", "application/json", huge, nil, nil, 401, "unauthorized", 0},
		{"no credentials, not JSON", "application/json", 0, []byte("{"), nil, 401, "unauthorized", 0},
		{"no credentials, bad binary mode", "application/json", 0, []byte("{}"), binary, 401, "unauthorized", 0},
		{"wrong token, oversized body", "application/json", huge, nil, bearer("nope"), 401, "unauthorized", 0},
		{"wrong token, bad content type", "text/plain", 0, []byte("hi"), bearer("nope"), 401, "unauthorized", 0},
		{"admin token, oversized body", "application/json", huge, nil, bearer(admin), 403, "forbidden", 0},
		{"stale signature, oversized body", "application/json", huge, nil, signed(time.Now().Add(-time.Hour), nil), 401, "bad_signature", 0},
		{"signature headers missing one", "application/json", huge, nil, map[string]string{"webhook-signature": "v1,x"}, 401, "bad_signature", 0},
		// A signature covers the whole body, so it is read up to the limit.
		{"bad signature, oversized body", "application/json", huge, nil, signed(time.Now(), []byte("other")), 401, "bad_signature", limit + 1},
		{"bad signature, bad content type", "text/plain", 0, []byte("hi"), signed(time.Now(), []byte("other")), 401, "bad_signature", 2},
		{"bad signature, not JSON", "application/json", 0, []byte("{"), signed(time.Now(), []byte("other")), 401, "bad_signature", 1},
		// With valid credentials the body's own errors come next.
		{"token, oversized body", "application/json", huge, nil, bearer(ingest), 413, "body_too_large", limit + 1},
		{"token, bad content type", "text/plain", 0, []byte("hi"), bearer(ingest), 415, "unsupported_media_type", 2},
		{"signed, bad content type", "text/plain", 0, []byte("hi"), signed(time.Now(), []byte("hi")), 415, "unsupported_media_type", 2},
		{"signed, not JSON", "application/json", 0, []byte("{"), signed(time.Now(), []byte("{")), 400, "invalid_json", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &countingReader{left: tt.size}
			var rd io.Reader = body
			if tt.size == 0 {
				rd = bytes.NewReader(tt.body)
			}
			req := httptest.NewRequest("POST", "/v1/events", rd)
			req.Header.Set("Content-Type", tt.contentType)
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.srv.Handler().ServeHTTP(rec, req)
			var ans struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Fatalf("answer is not JSON: %q", rec.Body)
			}
			if rec.Code != tt.status || ans.Error.Code != tt.code {
				t.Errorf("%d %s, want %d %s (%s)", rec.Code, ans.Error.Code, tt.status, tt.code, rec.Body)
			}
			if tt.size > 0 && body.read > tt.maxRead {
				t.Errorf("%d bytes of the body were read, want at most %d", body.read, tt.maxRead)
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("a 401 without WWW-Authenticate")
			}
		})
	}
}

// Without credentials the server listens on loopback; a request naming
// another host there is a page that rebound its name, and is refused.
func TestUnauthenticatedServerAnswersOnlyLoopbackNames(t *testing.T) {
	for _, c := range []struct {
		auth AuthOptions
		host string
		want int
	}{
		{AuthOptions{}, "rebound.evil.example", http.StatusMisdirectedRequest},
		{AuthOptions{}, "127.0.0.1:8080", http.StatusOK},
		{AuthOptions{}, "localhost", http.StatusOK},
		{AuthOptions{}, "[::1]:8080", http.StatusOK},
		{AuthOptions{AdminToken: "a"}, "rebound.evil.example", http.StatusMisdirectedRequest},
		{AuthOptions{AdminToken: "a", IngestTokens: []string{"i"}}, "hookline.internal", http.StatusOK},
		{AuthOptions{Insecure: true}, "hookline.internal", http.StatusOK},
	} {
		a, err := newAuthenticator(c.auth, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		h := a.loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		req := httptest.NewRequest("GET", "/v1/deliveries", nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%+v, Host %s: %d, want %d", c.auth, c.host, rec.Code, c.want)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1:8080": true, "127.3.4.5": true, "[::1]:80": true,
		"evil.example": false, "localhost.evil.example": false, "10.0.0.1:8080": false, "": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v", host, got)
		}
	}
}
