package sms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/sms"
)

// Every test closes its servers and idle connections, so anything still
// running at the end was leaked by the executor (or by twilio-go through it).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var _ actions.Executor = (*sms.Executor)(nil)

const (
	testSID    = "AC0123456789abcdef0123456789abcdef"
	testToken  = "f00dfacecafebabe0123456789abcdef"
	testFrom   = "+15017122661"
	testMSID   = "MG9752274e9e519418a7406176694466fa"
	testTo     = "+14155552671"
	messageURL = "/2010-04-01/Accounts/" + testSID + "/Messages.json"
)

// fakeTwilio is a Twilio-compatible Messages endpoint. It checks what the
// real API checks (path, Basic auth, form encoding) and answers with the
// reply function, which by default creates the message.
type fakeTwilio struct {
	srv   *httptest.Server
	reply func(w http.ResponseWriter, r *http.Request, form url.Values)

	mu   sync.Mutex
	got  []url.Values
	seen int // requests of any kind, including rejected ones
	sids atomic.Int64
	stop chan struct{} // closed when the test ends
}

func newFake(t *testing.T, reply func(f *fakeTwilio, w http.ResponseWriter, r *http.Request, form url.Values)) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	if reply == nil {
		reply = func(f *fakeTwilio, w http.ResponseWriter, _ *http.Request, form url.Values) { f.created(w, form) }
	}
	f.reply = func(w http.ResponseWriter, r *http.Request, form url.Values) { reply(f, w, r, form) }
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	// Cleanups run last-in first-out: hanging replies are released before
	// Close waits for them, so a test that fails cannot also hang.
	f.stop = make(chan struct{})
	t.Cleanup(func() { close(f.stop) })
	return f
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.seen++
	f.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != messageURL {
		twilioError(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != testSID || pass != testToken {
		twilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		twilioError(w, http.StatusBadRequest, 20001, "unexpected Content-Type "+ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioError(w, http.StatusBadRequest, 20001, "bad form")
		return
	}
	f.mu.Lock()
	f.got = append(f.got, r.PostForm)
	f.mu.Unlock()
	f.reply(w, r, r.PostForm)
}

func (f *fakeTwilio) requests() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.got...)
}

func (f *fakeTwilio) hits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen
}

// created answers like Twilio's 201, which echoes the recipient and body.
func (f *fakeTwilio) created(w http.ResponseWriter, form url.Values) {
	sid := fmt.Sprintf("SM%032x", f.sids.Add(1))
	now := time.Now().UTC().Format(time.RFC1123Z)
	msg := map[string]any{
		"account_sid": testSID, "api_version": "2010-04-01",
		"body": form.Get("Body"), "to": form.Get("To"),
		"date_created": now, "date_updated": now, "date_sent": nil,
		"direction": "outbound-api", "error_code": nil, "error_message": nil,
		"from": nil, "messaging_service_sid": nil,
		"num_media": "0", "num_segments": "1", "price": nil, "price_unit": "USD",
		"sid": sid, "status": "queued",
		"subresource_uris": map[string]string{"media": "/2010-04-01/Accounts/" + testSID + "/Messages/" + sid + "/Media.json"},
		"uri":              "/2010-04-01/Accounts/" + testSID + "/Messages/" + sid + ".json",
	}
	if v := form.Get("From"); v != "" {
		msg["from"] = v
	}
	if v := form.Get("MessagingServiceSid"); v != "" {
		msg["messaging_service_sid"] = v
		msg["status"] = "accepted"
		msg["num_segments"] = "0"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(msg)
}

func twilioError(w http.ResponseWriter, status, code int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
}

func mapEnv(m map[string]string) actions.EnvFunc {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

// loopback lets the executor reach the test's endpoints, which the SSRF
// guard refuses by default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// config is a valid configuration against base.
func config(t *testing.T, base string) sms.Config {
	t.Helper()
	return sms.Config{
		AccountSID: testSID,
		AuthToken:  testToken,
		From:       testFrom,
		APIBaseURL: base,
		Env:        mapEnv(nil),
		Allow:      loopback,
		Timeout:    10 * time.Second,
	}
}

func newExecutor(t *testing.T, cfg sms.Config) *sms.Executor {
	t.Helper()
	e, err := sms.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(e.CloseIdleConnections)
	return e
}

// fields renders an sms as the engine would: the fields of sms.Type.
func fields(to, body actions.Text, callback string) actions.Fields {
	var f actions.Fields
	f.Set("to", actions.Value{Text: to})
	f.Set("body", actions.Value{Text: body})
	f.Set("status_callback", actions.Value{Text: actions.Literal(callback)})
	return f
}

func delivery(to, body actions.Text, callback string) *actions.Delivery {
	return &actions.Delivery{
		ID: "dlv_1", EventID: "evt_1", Address: "order.sms.notify", Type: "sms", Name: "notify", Attempt: 1,
		Fields: fields(to, body, callback),
	}
}

func TestSendWithFrom(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	e := newExecutor(t, config(t, f.srv.URL))

	out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("Order 42 shipped"), "https://hooks.example.com/twilio/status"))

	if out.Status != actions.Delivered || out.Error != "" {
		t.Fatalf("outcome = %+v, want delivered", out)
	}
	if !strings.HasPrefix(out.ProviderID, "SM") || len(out.ProviderID) != 34 {
		t.Errorf("ProviderID = %q, want the message sid", out.ProviderID)
	}
	if out.StatusCode != http.StatusCreated {
		t.Errorf("StatusCode = %d, want 201", out.StatusCode)
	}
	if out.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", out.Duration)
	}
	if !strings.Contains(out.Response, `"status":"queued"`) || strings.Contains(out.Response, "Order 42") {
		t.Errorf("Response = %q, want a summary with the status and without the body", out.Response)
	}

	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	want := url.Values{
		"To":             {testTo},
		"From":           {testFrom},
		"Body":           {"Order 42 shipped"},
		"StatusCallback": {"https://hooks.example.com/twilio/status"},
	}
	if got := reqs[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("form = %v, want %v", got, want)
	}
}

func TestSendWithMessagingService(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	cfg := config(t, f.srv.URL)
	cfg.From, cfg.MessagingServiceSID = "", testMSID
	e := newExecutor(t, cfg)

	out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hello"), ""))

	if out.Status != actions.Delivered || !strings.HasPrefix(out.ProviderID, "SM") {
		t.Fatalf("outcome = %+v, want delivered with a sid", out)
	}
	if !strings.Contains(out.Response, `"status":"accepted"`) {
		t.Errorf("Response = %q, want Twilio's status", out.Response)
	}
	want := url.Values{"To": {testTo}, "MessagingServiceSid": {testMSID}, "Body": {"hello"}}
	if got := f.requests(); len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("requests = %v, want one with %v", got, want)
	}
}

// A base URL may carry a path, for a Twilio-compatible endpoint behind a
// reverse proxy.
func TestAPIBaseURLPathPrefix(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	proxy := httptest.NewServer(http.StripPrefix("/vendor/twilio", f.srv.Config.Handler))
	t.Cleanup(proxy.Close)
	e := newExecutor(t, config(t, proxy.URL+"/vendor/twilio/"))

	out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), ""))
	if out.Status != actions.Delivered {
		t.Fatalf("outcome = %+v, want delivered", out)
	}
}

func TestInvalidRecipient(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	cfg := config(t, f.srv.URL)
	cfg.Env = mapEnv(map[string]string{"ONCALL": "0044 20 7946 0958"})
	e := newExecutor(t, cfg)

	for _, to := range []actions.Text{
		nil,
		actions.Literal("4155552671"),
		actions.Literal("+04155552671"),
		actions.Literal("+1 415 555 2671"),
		actions.Literal("+1415555267123456"), // 16 digits
		actions.Literal("+1"),
		actions.Literal("whatsapp:+14155552671"),
		actions.Literal("+١٤١٥٥٥٥٢٦٧١"), // Arabic-Indic digits are not \d
		{{Env: "ONCALL"}},
	} {
		out := e.Execute(t.Context(), delivery(to, actions.Literal("hi"), ""))
		if out.Status != actions.Permanent || !strings.Contains(out.Error, "E.164") {
			t.Errorf("to %q: outcome = %+v, want permanent E.164 error", to, out)
		}
	}
	if n := f.hits(); n != 0 {
		t.Errorf("endpoint got %d requests, want none", n)
	}
}

func TestBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	e := newExecutor(t, config(t, f.srv.URL))

	for _, tc := range []struct {
		name, body string
		status     actions.Status
		err        string
	}{
		{"1600 two-byte characters", strings.Repeat("é", 1600), actions.Delivered, ""},
		{"1600 four-byte characters", strings.Repeat("🚚", 1600), actions.Delivered, ""},
		{"1601 characters", strings.Repeat("é", 1601), actions.Permanent, "1601 characters"},
		{"empty", "", actions.Permanent, "empty"},
		{"blank", " \n\t", actions.Permanent, "empty"},
		{"invalid UTF-8", "abc\xff", actions.Permanent, "UTF-8"},
	} {
		out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal(tc.body), ""))
		if out.Status != tc.status || !strings.Contains(out.Error, tc.err) {
			t.Errorf("%s: outcome = %+v, want %v with %q", tc.name, out, tc.status, tc.err)
		}
	}
	// Nothing was cut: what was accepted arrived whole.
	for _, form := range f.requests() {
		if n := utf8.RuneCountInString(form.Get("Body")); n != 1600 {
			t.Errorf("sent a body of %d characters, want 1600", n)
		}
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("sent %d messages, want 2", n)
	}
}

func TestMissingEnvironmentVariable(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	e := newExecutor(t, config(t, f.srv.URL))

	out := e.Execute(t.Context(), delivery(actions.Text{{Env: "ONCALL_PHONE"}}, actions.Literal("hi"), ""))
	if out.Status != actions.Permanent || !strings.Contains(out.Error, "ONCALL_PHONE is not set") {
		t.Errorf("outcome = %+v, want permanent naming the variable", out)
	}
}

func TestStatusCallbackMustBeURL(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	e := newExecutor(t, config(t, f.srv.URL))

	out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), "/relative/status"))
	if out.Status != actions.Permanent || !strings.Contains(out.Error, "status_callback") {
		t.Errorf("outcome = %+v, want permanent status_callback error", out)
	}
}

func TestReplies(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		reply      func(f *fakeTwilio, w http.ResponseWriter, r *http.Request, form url.Values)
		status     actions.Status
		code       int
		retryAfter time.Time
		errHas     []string
		respHas    string
	}{{
		name: "400 invalid number",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			twilioError(w, 400, 21211, "The 'To' number is not a valid phone number.")
		},
		status: actions.Permanent, code: 400,
		errHas:  []string{"21211", "The 'To' number is not a valid phone number.", "https://www.twilio.com/docs/errors/21211"},
		respHas: `"code":21211`,
	}, {
		name: "401 bad credentials",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			twilioError(w, 401, 20003, "Authenticate")
		},
		status: actions.Permanent, code: 401, errHas: []string{"20003", "Authenticate"},
	}, {
		name: "404 not JSON",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			http.Error(w, "no such route", http.StatusNotFound)
		},
		status: actions.Permanent, code: 404, errHas: []string{"HTTP 404"}, respHas: "no such route",
	}, {
		name: "429 with Retry-After seconds",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			w.Header().Set("Retry-After", "30")
			twilioError(w, 429, 20429, "Too Many Requests")
		},
		status: actions.Retry, code: 429, retryAfter: now.Add(30 * time.Second), errHas: []string{"20429"},
	}, {
		name: "503 HTML with Retry-After date",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			w.Header().Set("Retry-After", now.Add(2*time.Minute).Format(http.TimeFormat))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "<html><body><h1>503 Service Unavailable</h1>"+strings.Repeat(" ", 2000)+"back soon</body></html>")
		},
		status: actions.Retry, code: 503, retryAfter: now.Add(2 * time.Minute),
		errHas: []string{"HTTP 503"}, respHas: "back soon",
	}, {
		name: "500 JSON, no Retry-After",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			twilioError(w, 500, 20500, "Internal Server Error")
		},
		status: actions.Retry, code: 500, errHas: []string{"20500"},
	}, {
		name: "429 with a malformed Retry-After",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			w.Header().Set("Retry-After", "soon")
			twilioError(w, 429, 20429, "Too Many Requests")
		},
		status: actions.Retry, code: 429,
	}, {
		name: "302 is not followed",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, r *http.Request, _ url.Values) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		},
		status: actions.Permanent, code: 302, errHas: []string{"HTTP 302", "api_base_url"},
	}, {
		name: "201 without a usable reply",
		reply: func(_ *fakeTwilio, w http.ResponseWriter, _ *http.Request, _ url.Values) {
			w.WriteHeader(201)
			_, _ = io.WriteString(w, "OK")
		},
		status: actions.Delivered, code: 201, errHas: []string{"no sid"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tc.reply)
			cfg := config(t, f.srv.URL)
			cfg.Now = func() time.Time { return now }
			e := newExecutor(t, cfg)

			out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), ""))

			if out.Status != tc.status || out.StatusCode != tc.code {
				t.Errorf("outcome = %+v, want %v with status code %d", out, tc.status, tc.code)
			}
			if !out.RetryAfter.Equal(tc.retryAfter) {
				t.Errorf("RetryAfter = %v, want %v", out.RetryAfter, tc.retryAfter)
			}
			for _, s := range tc.errHas {
				if !strings.Contains(out.Error, s) {
					t.Errorf("Error = %q, want it to contain %q", out.Error, s)
				}
			}
			if !strings.Contains(out.Response, tc.respHas) {
				t.Errorf("Response = %q, want it to contain %q", out.Response, tc.respHas)
			}
			if n := f.hits(); n != 1 {
				t.Errorf("endpoint got %d requests, want 1", n)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	e := newExecutor(t, config(t, "http://"+addr))

	out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), ""))

	if out.Status != actions.Retry || out.StatusCode != 0 || !strings.Contains(out.Error, "connection refused") {
		t.Errorf("outcome = %+v, want retry after connection refused", out)
	}
	if strings.Contains(out.Error, testSID) {
		t.Errorf("Error %q shows the request URL", out.Error)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*sms.Config)
		want   string
		secret string // must not appear in the error
	}{
		{"sid with a dash", func(c *sms.Config) { c.AccountSID = "AC-0123" }, "twilio account_sid must be letters and digits only", "AC-0123"},
		{"sid with a newline", func(c *sms.Config) { c.AccountSID = testSID + "\n" }, "twilio account_sid must be letters and digits only", testSID},
		{"token with base64 padding", func(c *sms.Config) { c.AuthToken = "c2VjcmV0/dG9rZW4+==" }, "twilio auth_token must be letters and digits only", "c2VjcmV0"},
		{"quoted token", func(c *sms.Config) { c.AuthToken = `"` + testToken + `"` }, "twilio auth_token must be letters and digits only", testToken},
		{"no token", func(c *sms.Config) { c.AuthToken = "" }, "twilio auth_token is required", ""},
		{"no sid", func(c *sms.Config) { c.AccountSID = "" }, "twilio account_sid is required", ""},
		{"no sender", func(c *sms.Config) { c.From = "" }, "one of from or messaging_service_sid", ""},
		{"two senders", func(c *sms.Config) { c.MessagingServiceSID = testMSID }, "mutually exclusive", ""},
		{"base URL not http", func(c *sms.Config) { c.APIBaseURL = "ftp://example.com" }, "api_base_url must be an absolute http or https URL", ""},
		{"base URL relative", func(c *sms.Config) { c.APIBaseURL = "api.twilio.com" }, "api_base_url must be an absolute http or https URL", ""},
		{"base URL with password", func(c *sms.Config) { c.APIBaseURL = "https://me:hunter2@api.example.com" }, "api_base_url must not contain a user name or password", "hunter2"},
		{"base URL with query", func(c *sms.Config) { c.APIBaseURL = "https://api.example.com/?x=1" }, "query", ""},
	} {
		cfg := config(t, "")
		tc.change(&cfg)
		e, err := sms.New(cfg)
		if err == nil || e != nil {
			t.Errorf("%s: New = %v, %v; want an error", tc.name, e, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want it to contain %q", tc.name, err, tc.want)
		}
		if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: error %q shows the value", tc.name, err)
		}
	}

	// All problems at once, so one edit of the file can fix them all.
	err := (&sms.Config{AccountSID: "AC 1", AuthToken: "x-y"}).Validate()
	for _, s := range []string{"account_sid", "auth_token", "from or messaging_service_sid"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("Validate = %v, want it to mention %s", err, s)
		}
	}
	if _, err := sms.New(config(t, "")); err != nil {
		t.Errorf("New with a valid config: %v", err)
	}
}

// hang is a reply that never finishes: head says whether the status line and
// the start of the body are sent first. It returns when the client goes away.
func hang(arrived chan<- struct{}, head bool) func(*fakeTwilio, http.ResponseWriter, *http.Request, url.Values) {
	return func(f *fakeTwilio, w http.ResponseWriter, r *http.Request, _ url.Values) {
		if head {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"sid": "SM`)
			w.(http.Flusher).Flush()
		} else {
			arrived <- struct{}{}
		}
		select {
		case <-r.Context().Done():
		case <-f.stop:
		}
	}
}

// notifyTransport signals once the client has a reply's status line, which
// is later than the server having sent it.
type notifyTransport struct {
	base http.RoundTripper
	got  chan<- struct{}
}

func (n notifyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := n.base.RoundTrip(r)
	n.got <- struct{}{}
	return resp, err
}

func executeAsync(ctx context.Context, e *sms.Executor) <-chan actions.Outcome {
	done := make(chan actions.Outcome, 1)
	go func() { done <- e.Execute(ctx, delivery(actions.Literal(testTo), actions.Literal("hi"), "")) }()
	return done
}

// waitOutcome fails the test rather than hanging it; the test's cleanups
// then release the endpoint, which lets the attempt end.
func waitOutcome(t *testing.T, done <-chan actions.Outcome) actions.Outcome {
	t.Helper()
	select {
	case out := <-done:
		return out
	case <-time.After(5 * time.Second):
		t.Fatal("Execute did not return in time")
		return actions.Outcome{}
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		head   bool
		status actions.Status
		code   int
	}{
		// Nothing answered yet: the message may not have been sent.
		{"before the reply", false, actions.Retry, 0},
		// Twilio said 201: the message was queued, whatever the body says.
		{"during the body", true, actions.Delivered, 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			arrived := make(chan struct{}, 1)
			f := newFake(t, hang(arrived, tc.head))
			cfg := config(t, f.srv.URL)
			if tc.head {
				cfg.WrapTransport = func(base http.RoundTripper) http.RoundTripper {
					return notifyTransport{base: base, got: arrived}
				}
			}
			e := newExecutor(t, cfg)

			ctx, cancel := context.WithCancel(t.Context())
			done := executeAsync(ctx, e)
			<-arrived
			cancel()

			out := waitOutcome(t, done)
			if out.Status != tc.status || out.StatusCode != tc.code || !strings.Contains(out.Error, "context canceled") {
				t.Errorf("outcome = %+v, want %v, status code %d, context canceled", out, tc.status, tc.code)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		arrived := make(chan struct{}, 1)
		f := newFake(t, hang(arrived, false))
		cfg := config(t, f.srv.URL)
		cfg.Timeout = 50 * time.Millisecond
		e := newExecutor(t, cfg)

		out := waitOutcome(t, executeAsync(t.Context(), e))
		if out.Status != actions.Retry || !strings.Contains(out.Error, "no answer within 50ms") {
			t.Errorf("outcome = %+v, want retry after the timeout", out)
		}
	})

	t.Run("already cancelled", func(t *testing.T) {
		t.Parallel()
		f := newFake(t, nil)
		e := newExecutor(t, config(t, f.srv.URL))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		out := e.Execute(ctx, delivery(actions.Literal(testTo), actions.Literal("hi"), ""))
		if out.Status != actions.Retry || f.hits() != 0 {
			t.Errorf("outcome = %+v after %d requests, want retry and nothing sent", out, f.hits())
		}
	})
}

// asciiJSON encodes s as a JSON string with every non-ASCII character
// escaped, as Python's json.dumps and many other encoders write it.
func asciiJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	var out strings.Builder
	for _, r := range strings.TrimSpace(b.String()) {
		switch {
		case r < 0x80:
			out.WriteRune(r)
		case r > 0xffff:
			hi, lo := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, hi, lo)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
	}
	return out.String()
}

// echo replies with everything the request carried, the way a careless
// Twilio-compatible endpoint or a debugging proxy might.
func echo(status int, format string) func(*fakeTwilio, http.ResponseWriter, *http.Request, url.Values) {
	return func(f *fakeTwilio, w http.ResponseWriter, r *http.Request, form url.Values) {
		everything := fmt.Sprintf("To=%s Body=%s Authorization=%s form=%s", form.Get("To"), form.Get("Body"), r.Header.Get("Authorization"), form.Encode())
		switch format {
		case "twilio":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]any{
				"code": 21211, "message": "The 'To' number " + form.Get("To") + " is not valid. " + everything,
				"more_info": "https://www.twilio.com/docs/errors/21211?" + form.Encode(), "status": status,
				"details": map[string]any{"request": everything},
			})
		case "ascii-json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"code": 20001, "message": %s, "status": %d}`, asciiJSON(everything), status)
		case "text":
			w.WriteHeader(status)
			_, _ = io.WriteString(w, everything)
		case "created":
			f.created(w, form)
		}
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const phone, code = "+15558675309", `Zq9-öß&<x> 🚚 "y"`
	env := mapEnv(map[string]string{"ONCALL_PHONE": phone, "OTP": code, "BAD_PHONE": "5558675309"})
	basic := base64.StdEncoding.EncodeToString([]byte(testSID + ":" + testToken))
	forbidden := []string{
		testToken, basic,
		phone, url.QueryEscape(phone), "8675309",
		code, url.QueryEscape(code), url.PathEscape(code), "Zq9",
		strings.Trim(asciiJSON(code), `"`),
	}
	if b, err := json.Marshal(code); err == nil {
		forbidden = append(forbidden, strings.Trim(string(b), `"`))
	}

	to := actions.Text{{Env: "ONCALL_PHONE"}}
	body := actions.Text{{Lit: "Your code is "}, {Env: "OTP"}}
	for _, tc := range []struct {
		name   string
		reply  func(*fakeTwilio, http.ResponseWriter, *http.Request, url.Values)
		to     actions.Text
		marked bool // the outcome shows where a secret was removed
	}{
		{"400 Twilio JSON", echo(400, "twilio"), to, true},
		{"503 Twilio JSON", echo(503, "twilio"), to, true},
		{"429 ASCII-escaped JSON", echo(429, "ascii-json"), to, true},
		{"500 plain text", echo(500, "text"), to, true},
		{"404 plain text", echo(404, "text"), to, true},
		{"201 created", echo(201, "created"), to, false},
		{"invalid recipient from env", nil, actions.Text{{Env: "BAD_PHONE"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, tc.reply)
			cfg := config(t, f.srv.URL)
			cfg.Env = env
			e := newExecutor(t, cfg)

			out := e.Execute(t.Context(), delivery(tc.to, body, ""))

			for field, s := range map[string]string{
				"Error": out.Error, "Response": out.Response, "ProviderID": out.ProviderID,
			} {
				for _, secret := range forbidden {
					if strings.Contains(s, secret) {
						t.Errorf("%s contains %q: %s", field, secret, s)
					}
				}
			}
			if got := strings.Contains(out.Error+out.Response, "(sensitive)"); got != tc.marked {
				t.Errorf("outcome %+v: marked (sensitive) = %v, want %v", out, got, tc.marked)
			}
			if tc.name == "201 created" && (out.Status != actions.Delivered || out.Error != "") {
				t.Errorf("outcome %+v, want delivered", out)
			}
		})
	}
}

// twilio-go never closes the body of an error reply; the executor must, or
// every failed attempt would pin a connection and two goroutines.
func TestReplyBodiesClosed(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(f *fakeTwilio, w http.ResponseWriter, _ *http.Request, form url.Values) {
		if form.Get("Body") == "ok" {
			f.created(w, form)
			return
		}
		twilioError(w, 400, 21211, "The 'To' number is not a valid phone number.")
	})
	cfg := config(t, f.srv.URL)
	ct := &countingTransport{}
	cfg.WrapTransport = func(base http.RoundTripper) http.RoundTripper {
		ct.base = base
		return ct
	}
	e := newExecutor(t, cfg)

	for _, body := range []string{"bad", "ok", "bad"} {
		e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal(body), ""))
		if n := ct.open.Load(); n != 0 {
			t.Fatalf("after the %q reply, %d bodies are still open", body, n)
		}
	}
}

type countingTransport struct {
	base http.RoundTripper
	open atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.open.Add(1)
		resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	c    *countingTransport
	once sync.Once
}

func (b *countingBody) Close() error {
	b.once.Do(func() { b.c.open.Add(-1) })
	return b.ReadCloser.Close()
}

// One Executor serves every worker at once; the race detector checks that
// attempts share nothing mutable.
func TestConcurrentAttempts(t *testing.T) {
	t.Parallel()
	f := newFake(t, func(f *fakeTwilio, w http.ResponseWriter, _ *http.Request, form url.Values) {
		if strings.HasSuffix(form.Get("Body"), "7") {
			twilioError(w, 503, 20503, "Service Unavailable")
			return
		}
		f.created(w, form)
	})
	e := newExecutor(t, config(t, f.srv.URL))

	var wg sync.WaitGroup
	outs := make([]actions.Outcome, 40)
	for i := range outs {
		wg.Go(func() {
			outs[i] = e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("n"+strconv.Itoa(i)), ""))
		})
	}
	wg.Wait()

	sids := map[string]bool{}
	for i, out := range outs {
		want := actions.Delivered
		if i%10 == 7 {
			want = actions.Retry
		}
		if out.Status != want {
			t.Errorf("attempt %d: outcome = %+v, want %v", i, out, want)
		}
		if out.ProviderID != "" {
			if sids[out.ProviderID] {
				t.Errorf("sid %s recorded twice", out.ProviderID)
			}
			sids[out.ProviderID] = true
		}
	}
}

// encodings are the forms, besides textual escapes, in which a peer may
// echo a value it was sent.
func encodings(v string) [][2]string {
	b := []byte(v)
	var dec, hexRefs strings.Builder
	for _, c := range v {
		fmt.Fprintf(&dec, "&#%d;", c)
		fmt.Fprintf(&hexRefs, "&#x%X;", c)
	}
	return [][2]string{
		{"base64", base64.StdEncoding.EncodeToString(b)},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(b)},
		{"base64url", base64.URLEncoding.EncodeToString(b)},
		{"base64url unpadded", base64.RawURLEncoding.EncodeToString(b)},
		{"hex", hex.EncodeToString(b)},
		{"HEX", strings.ToUpper(hex.EncodeToString(b))},
		{"HTML escaped", html.EscapeString(v)},
		{"HTML decimal references", dec.String()},
		{"HTML hex references", hexRefs.String()},
	}
}

// TestEncodedSecretsNeverLeak has the endpoint echo the recipient, the
// secret in the body, the auth token and the Basic credential in each
// encoding, as a Twilio error and as plain text: the stored outcome must
// hide them all.
func TestEncodedSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const phone, code = "+15558675309", `Zq9-<öß>&"y"`
	for _, format := range []string{"twilio", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			f := newFake(t, func(_ *fakeTwilio, w http.ResponseWriter, r *http.Request, form url.Values) {
				user, pass, _ := r.BasicAuth()
				var msg []string
				for _, v := range [][2]string{
					{"to", form.Get("To")}, {"code", strings.TrimPrefix(form.Get("Body"), "Your code is ")},
					{"token", pass}, {"basic", user + ":" + pass},
				} {
					for _, e := range encodings(v[1]) {
						msg = append(msg, v[0]+" as "+e[0]+" = "+e[1])
					}
				}
				if format == "text" {
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, strings.Join(msg, "; "))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]any{"code": 21211, "message": strings.Join(msg, "; "), "status": 400})
			})
			cfg := config(t, f.srv.URL)
			cfg.Env = mapEnv(map[string]string{"ONCALL_PHONE": phone, "OTP": code})
			e := newExecutor(t, cfg)

			out := e.Execute(t.Context(), delivery(actions.Text{{Env: "ONCALL_PHONE"}}, actions.Text{{Lit: "Your code is "}, {Env: "OTP"}}, ""))

			shown := out.Response
			if format == "twilio" {
				shown = out.Error
			}
			segments := strings.Split(shown, "; ")
			if len(segments) != 4*len(encodings("")) {
				t.Fatalf("outcome %+v: want every echoed value", out)
			}
			for _, s := range segments {
				if _, v, _ := strings.Cut(s, " = "); v != actions.Redaction {
					t.Errorf("not hidden: %s", s)
				}
			}
			for _, v := range []string{phone, code, testToken, testSID + ":" + testToken} {
				for _, enc := range encodings(v) {
					// As Go's JSON encoder would escape it, too.
					j, _ := json.Marshal(enc[1])
					if strings.Contains(out.Response+out.Error, enc[1]) || strings.Contains(out.Response, strings.Trim(string(j), `"`)) {
						t.Errorf("%s of %q is in the outcome", enc[0], v)
					}
				}
			}
		})
	}
}

// TestSSRFGuard sends api_base_url, which a rule file sets, through the same
// guard as an http action's url: each refused class of address fails for
// good with the http action's words, before anything is sent, unless
// --allow-cidr (Config.Allow) lets it through.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	_, port, _ := net.SplitHostPort(f.srv.Listener.Addr().String())
	for _, tc := range []struct{ base, want string }{
		{f.srv.URL, "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"http://localhost:" + port, "" /* 127.0.0.1 or ::1, whichever the resolver puts first */},
		{"http://10.0.0.1:" + port, "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"http://169.254.169.254", "refusing to connect to 169.254.169.254: cloud metadata address (allow it with --allow-cidr)"},
		{"http://169.254.1.1", "refusing to connect to 169.254.1.1: link-local address (allow it with --allow-cidr)"},
		{"http://[::ffff:127.0.0.1]:" + port, "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"http://[::ffff:10.0.0.1]:" + port, "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"http://0.0.0.0:" + port, "refusing to connect to 0.0.0.0: unspecified address (allow it with --allow-cidr)"},
	} {
		cfg := config(t, tc.base)
		cfg.Allow = nil
		e := newExecutor(t, cfg)
		out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), ""))
		if out.Status != actions.Permanent || out.Error != tc.want && !(tc.want == "" && loopbackRefused.MatchString(out.Error)) {
			t.Errorf("%s: outcome %v %q, want permanent %q", tc.base, out.Status, out.Error, tc.want)
		}
	}
	if n := f.hits(); n != 0 {
		t.Errorf("endpoint got %d requests", n)
	}
	for _, base := range []string{f.srv.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port} {
		e := newExecutor(t, config(t, base)) // Allow: 127.0.0.0/8
		if out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal("hi"), "")); out.Status != actions.Delivered {
			t.Errorf("%s with 127.0.0.0/8 allowed: outcome %+v", base, out)
		}
	}
}

var loopbackRefused = regexp.MustCompile(`^refusing to connect to (127\.0\.0\.1|::1): loopback address \(allow it with --allow-cidr\)$`)

// TestControlCharacters: the body is refused, before anything is sent,
// when it holds a control character or a bidirectional control, whether
// the rule, the event or env() put it there; newlines and tabs stay.
func TestControlCharacters(t *testing.T) {
	t.Parallel()
	f := newFake(t, nil)
	cfg := config(t, f.srv.URL)
	cfg.Env = mapEnv(map[string]string{"SIG": "— the desk\x07"})
	e := newExecutor(t, cfg)
	for _, tc := range []struct {
		name string
		body actions.Text
		want string
	}{
		{"NUL from the event", actions.Text{{Lit: "Ann can\x00celled", Ev: true}}, "sms body contains U+0000 (a control character)"},
		{"ESC from the event", actions.Text{{Lit: "Ann \x1b[2Jcancelled", Ev: true}}, "sms body contains U+001B"},
		{"right-to-left override", actions.Text{{Lit: "Ann \u202edellecnac", Ev: true}}, "sms body contains U+202E (a bidirectional control"},
		{"isolate", actions.Text{{Lit: "Ann \u2067x\u2069", Ev: true}}, "sms body contains U+2067"},
		{"BEL from env()", actions.Text{{Lit: "Ann cancelled "}, {Env: "SIG"}}, "sms body contains U+0007"},
		{"C1 control in the rule", actions.Literal("a\u009bb"), "sms body contains U+009B"},
	} {
		out := e.Execute(t.Context(), delivery(actions.Literal(testTo), tc.body, ""))
		if out.Status != actions.Permanent || !strings.HasPrefix(out.Error, tc.want) {
			t.Errorf("%s: outcome %v %q, want permanent %q", tc.name, out.Status, out.Error, tc.want)
		}
		if strings.Contains(out.Error, "the desk") {
			t.Errorf("%s: error shows the text: %q", tc.name, out.Error)
		}
	}
	if n := f.hits(); n != 0 {
		t.Fatalf("endpoint got %d requests", n)
	}
	const ok = "Ann cancelled\n\tDental Cleaning\r\nשלום\u200f"
	if out := e.Execute(t.Context(), delivery(actions.Literal(testTo), actions.Literal(ok), "")); out.Status != actions.Delivered {
		t.Fatalf("outcome %+v, want delivered", out)
	}
	if got := f.requests()[0].Get("Body"); got != ok {
		t.Errorf("Body = %q, want %q unchanged", got, ok)
	}
	// Literal text is checked when the rules are validated.
	check := sms.Type().Attr("body").Check
	if msg := check("a\x1bb"); !strings.Contains(msg, "U+001B") {
		t.Errorf("validate: Check = %q", msg)
	}
	if msg := check(ok); msg != "" {
		t.Errorf("validate: Check(%q) = %q", ok, msg)
	}
}
