package webhook

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/actions"
)

func TestDeliversRenderedRequest(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{"ok":true}`))
	})
	e := newExecutor(t, Config{Env: envMap(map[string]string{"TOKEN": "t0k"})})
	d := delivery(actions.Text{{Lit: srv.URL + "/hooks/order?src=hookline&key="}, {Env: "TOKEN"}})
	edit(d, func(h *httpAction) {
		h.method = "PUT"
		h.headers = []actions.Header{
			{Name: "X-Tag", Value: actions.Literal("a")},
			{Name: "X-Tag", Value: actions.Literal("b")},
			{Name: "Authorization", Value: actions.Text{{Lit: "Bearer "}, {Env: "TOKEN"}}},
		}
	})

	out := execute(t, e, d)
	if out.Status != actions.Delivered || out.StatusCode != 202 || out.Error != "" {
		t.Fatalf("outcome = %+v, want delivered 202", out)
	}
	if out.Response != `{"ok":true}` {
		t.Errorf("Response = %q", out.Response)
	}
	if out.Duration <= 0 {
		t.Errorf("Duration = %v", out.Duration)
	}
	r := <-seen
	if r.Method != "PUT" || r.Path != "/hooks/order?src=hookline&key=t0k" {
		t.Errorf("got %s %s", r.Method, r.Path)
	}
	if got := r.Header.Values("X-Tag"); strings.Join(got, ",") != "a,b" {
		t.Errorf("X-Tag = %q, want a then b", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer t0k" {
		t.Errorf("Authorization = %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want the JSON default", got)
	}
	if got := r.Header.Get("User-Agent"); got != DefaultUserAgent {
		t.Errorf("User-Agent = %q", got)
	}
	if string(r.Body) != `{"id":"evt-1"}` {
		t.Errorf("body = %q", r.Body)
	}
	if r.Header.Get("Webhook-Signature") != "" {
		t.Error("unsigned action sent a signature")
	}
}

func TestContentType(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{UserAgent: "custom/1"})
	tests := []struct {
		name    string
		headers []actions.Header
		body    string
		wantCT  string
	}{
		{name: "json by default", body: "hi", wantCT: "application/json"},
		{name: "header wins", body: "a=b",
			headers: []actions.Header{{Name: "content-type", Value: actions.Literal("application/x-www-form-urlencoded")}},
			wantCT:  "application/x-www-form-urlencoded"},
		{name: "no body, no type", body: "", wantCT: ""},
	}
	for _, tt := range tests {
		d := delivery(actions.Literal(srv.URL))
		edit(d, func(h *httpAction) { h.headers = tt.headers })
		edit(d, func(h *httpAction) { h.body = actions.Literal(tt.body) })
		if out := execute(t, e, d); out.Status != actions.Delivered {
			t.Fatalf("%s: %+v", tt.name, out)
		}
		r := <-seen
		if got := r.Header.Get("Content-Type"); got != tt.wantCT {
			t.Errorf("%s: Content-Type = %q, want %q", tt.name, got, tt.wantCT)
		}
		if string(r.Body) != tt.body {
			t.Errorf("%s: body = %q", tt.name, r.Body)
		}
		if want := strings.TrimPrefix(srv.URL, "http://"); r.Host != want {
			t.Errorf("%s: Host = %q, want %q, from the url", tt.name, r.Host, want)
		}
		if got := r.Header.Get("User-Agent"); got != "custom/1" {
			t.Errorf("%s: User-Agent = %q", tt.name, got)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code int
		want actions.Status
		msg  string
	}{
		{200, actions.Delivered, ""},
		{201, actions.Delivered, ""},
		{204, actions.Delivered, ""},
		{299, actions.Delivered, ""},
		{301, actions.Permanent, "redirects are not followed"},
		{302, actions.Permanent, "redirects are not followed"},
		{307, actions.Permanent, "redirects are not followed"},
		{308, actions.Permanent, "redirects are not followed"},
		{400, actions.Permanent, "peer answered 400 Bad Request"},
		{401, actions.Permanent, "peer answered 401 Unauthorized"},
		{404, actions.Permanent, "peer answered 404 Not Found"},
		{410, actions.Permanent, "no longer accepts deliveries"},
		{422, actions.Permanent, "peer answered 422"},
		{408, actions.Retry, "peer answered 408 Request Timeout"},
		{429, actions.Retry, "peer answered 429 Too Many Requests"},
		{500, actions.Retry, "peer answered 500 Internal Server Error"},
		{501, actions.Retry, "peer answered 501"},
		{502, actions.Retry, "peer answered 502"},
		{503, actions.Retry, "peer answered 503"},
		{599, actions.Retry, "peer answered 599"},
	}
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if strings.HasPrefix(r.URL.Path, "/elsewhere") {
			t.Error("a redirect was followed")
		}
		code, _ := strconv.Atoi(r.URL.Path[1:])
		if code >= 300 && code < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(code)
		w.Write([]byte("answer to " + r.URL.Path))
	}))
	t.Cleanup(srv.Close)
	e := newExecutor(t, Config{})
	for _, tt := range tests {
		path := "/" + strconv.Itoa(tt.code)
		out := execute(t, e, delivery(actions.Literal(srv.URL+path)))
		if out.Status != tt.want || out.StatusCode != tt.code {
			t.Errorf("%d: outcome %v (%d), want %v", tt.code, out.Status, out.StatusCode, tt.want)
		}
		if tt.msg == "" && out.Error != "" || !strings.Contains(out.Error, tt.msg) {
			t.Errorf("%d: Error = %q, want it to contain %q", tt.code, out.Error, tt.msg)
		}
		wantResp := "answer to " + path
		if tt.code == http.StatusNoContent {
			wantResp = "" // net/http drops a 204's body
		}
		if out.Response != wantResp {
			t.Errorf("%d: Response = %q", tt.code, out.Response)
		}
	}
	// Responses are never retried inside an attempt.
	if got := hits.Load(); got != int64(len(tests)) {
		t.Errorf("receiver hit %d times for %d attempts", got, len(tests))
	}
}

func TestResponseIsCappedAndConnectionReused(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("é", actions.ResponseLimit) // 2 bytes each: a cut can split one
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("x" + big))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	e := newExecutor(t, Config{})
	for range 10 {
		out := execute(t, e, delivery(actions.Literal(srv.URL)))
		if out.Status != actions.Retry {
			t.Fatalf("outcome %+v", out.Status)
		}
		if len(out.Response) > actions.ResponseLimit || len(out.Response) < actions.ResponseLimit-1 {
			t.Fatalf("len(Response) = %d, want about %d", len(out.Response), actions.ResponseLimit)
		}
		if !utf8.ValidString(out.Response) {
			t.Fatal("Response is not valid UTF-8")
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections for 10 sequential attempts, want 1 (keep-alive)", got)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration // 0 means the zero time
	}{
		{"", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"86400", time.Hour}, // clamped
		{"99999999999999999999", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), time.Hour},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", 0},
	}
	for _, tt := range tests {
		got := actions.RetryAfter(tt.header, now, time.Hour)
		want := time.Time{}
		if tt.want != 0 {
			want = now.Add(tt.want)
		}
		if !got.Equal(want) {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, want)
		}
	}

	// End to end, with the injected clock as the base.
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	e := newExecutor(t, Config{Now: func() time.Time { return now }})
	out := execute(t, e, delivery(actions.Literal(srv.URL)))
	if out.Status != actions.Retry || !out.RetryAfter.Equal(now.Add(30*time.Second)) {
		t.Errorf("outcome %v, RetryAfter %v; want retry at %v", out.Status, out.RetryAfter, now.Add(30*time.Second))
	}
}

// TestRuleCannotSetOwnedHeaders: the transport frames and routes a request
// with Host, the length and the hop-by-hop headers, and signing owns the
// Standard Webhooks ones. A delivery that sets one fails for good, before
// anything is sent, whatever the case of the name.
func TestRuleCannotSetOwnedHeaders(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{Env: envMap(map[string]string{"WH": testSecret})})
	for _, name := range []string{
		"Host", "host", "Content-Length", "transfer-encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "TE", "Trailer", "Upgrade", "webhook-id", "Webhook-Timestamp", "WEBHOOK-SIGNATURE",
		"traceparent", "TraceState",
	} {
		for _, signed := range []bool{false, true} {
			d := delivery(actions.Literal(srv.URL))
			edit(d, func(h *httpAction) {
				h.headers = []actions.Header{{Name: "X-Ok", Value: actions.Literal("1")}, {Name: name, Value: actions.Literal("v")}}
				if signed {
					h.signingSecret = actions.Text{{Env: "WH"}}
				}
			})
			out := execute(t, e, d)
			if want := "header " + name + " cannot be set by a rule: "; out.Status != actions.Permanent || !strings.HasPrefix(out.Error, want) {
				t.Errorf("%s (signed %v): outcome %v %q, want permanent %q...", name, signed, out.Status, out.Error, want)
			}
		}
	}
	noRequest(t, seen)

	for _, name := range []string{"Host", "X-Api-Key", "X Id:", "Webhook-Signature"} {
		got := checkHeaderName(name)
		if want := name == "X-Api-Key"; (got == "") != want {
			t.Errorf("checkHeaderName(%q) = %q", name, got)
		}
	}
}
