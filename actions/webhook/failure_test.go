package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

func TestSSRFGuardRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	e := New(Config{}) // no allowlist: production defaults
	t.Cleanup(e.CloseIdleConnections)
	for _, url := range []string{srv.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port} {
		out := execute(t, e, delivery(actions.Literal(url)))
		if out.Status != actions.Permanent {
			t.Errorf("%s: status %v, want permanent", url, out.Status)
		}
		if !strings.Contains(out.Error, "loopback address (allow it with --allow-cidr)") ||
			!strings.HasPrefix(out.Error, "refusing to connect to ") {
			t.Errorf("%s: Error = %q", url, out.Error)
		}
	}
	noRequest(t, seen)
}

func TestRejectsLineBreaksAndBadInput(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{Env: envMap(map[string]string{
		"CRLF": "x\r\nX-Injected: 1", "LF": "a\nb", "NUL": "a\x00b",
	})})
	tests := []struct {
		name string
		edit func(*httpAction)
		want string
	}{
		{"CRLF in header value", func(h *httpAction) {
			h.headers = []actions.Header{{Name: "X-Id", Value: actions.Text{{Env: "CRLF"}}}}
		}, "header X-Id: value contains a line break"},
		{"LF in header value", func(h *httpAction) {
			h.headers = []actions.Header{{Name: "X-Id", Value: actions.Text{{Lit: "v"}, {Env: "LF"}}}}
		}, "header X-Id: value contains a line break"},
		{"NUL in header value", func(h *httpAction) {
			h.headers = []actions.Header{{Name: "X-Id", Value: actions.Text{{Env: "NUL"}}}}
		}, "header X-Id: value contains a control character"},
		{"bad header name", func(h *httpAction) {
			h.headers = []actions.Header{{Name: "X Id:", Value: actions.Literal("v")}}
		}, `invalid header name "X Id:"`},
		{"LF in url", func(h *httpAction) {
			h.url = actions.Text{{Lit: srv.URL + "/?q="}, {Env: "LF"}}
		}, "url contains a line break"},
		{"bad scheme", func(h *httpAction) { h.url = actions.Literal("ftp://example.com/") },
			`scheme "ftp" is not http or https`},
		{"no host", func(h *httpAction) { h.url = actions.Literal("http:///path") }, "invalid url: no host"},
		{"unparsable", func(h *httpAction) { h.url = actions.Literal("http://[::1") }, "invalid url:"},
		{"bad method", func(h *httpAction) { h.method = "GET /x" }, "invalid method"},
		{"missing env", func(h *httpAction) {
			h.body = actions.Text{{Env: "UNSET_VAR"}}
		}, "body: environment variable UNSET_VAR is not set"},
	}
	for _, tt := range tests {
		d := delivery(actions.Literal(srv.URL))
		edit(d, tt.edit)
		out := execute(t, e, d)
		if out.Status != actions.Permanent || !strings.Contains(out.Error, tt.want) {
			t.Errorf("%s: %v %q, want permanent %q", tt.name, out.Status, out.Error, tt.want)
		}
	}
	noRequest(t, seen)

	if out := e.Execute(context.Background(), &actions.Delivery{Type: "http"}); out.Status != actions.Permanent {
		t.Errorf("delivery without HTTP: %+v", out)
	}
}

func TestConnectionRefusedIsRetry(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	e := newExecutor(t, Config{})
	out := execute(t, e, delivery(actions.Literal("http://"+addr+"/")))
	if out.Status != actions.Retry || !strings.HasPrefix(out.Error, "connection failed: ") {
		t.Errorf("outcome %v %q, want retry after a connection failure", out.Status, out.Error)
	}
	if strings.Contains(out.Error, `"http://`) {
		t.Errorf("Error repeats the URL: %q", out.Error)
	}
}

func TestInAttemptRetryPolicy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tests := []struct {
		name string
		ctx  context.Context
		resp *http.Response
		err  error
		want bool
	}{
		{"dial error", ctx, nil, dial, true},
		{"response 503", ctx, &http.Response{StatusCode: 503}, nil, false},
		{"response 429", ctx, &http.Response{StatusCode: 429}, nil, false},
		{"read error after sending", ctx, nil, &net.OpError{Op: "read", Err: errors.New("reset")}, false},
		{"blocked", ctx, nil, &net.OpError{Op: "dial", Err: &actions.BlockedError{Reason: "private address"}}, false},
		{"no such host", ctx, nil, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, false},
		{"cancelled", done, nil, dial, false},
	}
	for _, tt := range tests {
		got, err := retryDialErrors(tt.ctx, tt.resp, tt.err)
		if got != tt.want || err != nil {
			t.Errorf("%s: retry=%v err=%v, want %v", tt.name, got, err, tt.want)
		}
	}
}

// hanging starts a receiver that never answers until the client goes away
// or the test ends, and reports each request it is holding.
func hanging(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 4)
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	// Registered after receiver's Cleanup, so it runs first and lets
	// srv.Close stop waiting for the handler.
	t.Cleanup(func() { close(release) })
	return srv.URL, arrived
}

func TestCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	url, arrived := hanging(t)
	e := newExecutor(t, Config{DefaultTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan actions.Outcome, 1)
	go func() { result <- e.Execute(ctx, delivery(actions.Literal(url))) }()

	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("request never reached the receiver")
	}
	cancel()
	select {
	case out := <-result:
		if out.Status != actions.Retry || !strings.Contains(out.Error, "attempt interrupted: context canceled") {
			t.Errorf("outcome %v %q, want retry after interruption", out.Status, out.Error)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Execute did not return after its context was cancelled")
	}
}

func TestActionTimeout(t *testing.T) {
	t.Parallel()
	url, _ := hanging(t)
	e := newExecutor(t, Config{DefaultTimeout: time.Hour})
	d := delivery(actions.Literal(url))
	edit(d, func(h *httpAction) { h.timeout = 100 * time.Millisecond })
	result := make(chan actions.Outcome, 1)
	go func() { result <- e.Execute(context.Background(), d) }()
	select {
	case out := <-result:
		if out.Status != actions.Retry || out.Error != "timed out after 100ms" {
			t.Errorf("outcome %v %q, want retry after timeout", out.Status, out.Error)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the action timeout did not stop the attempt")
	}
}

// TestSSRFGuardAddressClasses pins the words for each refused class of
// address; sms (api_base_url) and email (the smtp host) test for the same.
func TestSSRFGuardAddressClasses(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	e := New(Config{}) // no allowlist: production defaults
	t.Cleanup(e.CloseIdleConnections)
	for _, tc := range []struct{ url, want string }{
		{srv.URL, "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"http://10.0.0.1:" + port, "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"http://169.254.169.254", "refusing to connect to 169.254.169.254: cloud metadata address (allow it with --allow-cidr)"},
		{"http://169.254.1.1", "refusing to connect to 169.254.1.1: link-local address (allow it with --allow-cidr)"},
		{"http://[::ffff:127.0.0.1]:" + port, "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"http://[::ffff:10.0.0.1]:" + port, "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"http://0.0.0.0:" + port, "refusing to connect to 0.0.0.0: unspecified address (allow it with --allow-cidr)"},
	} {
		out := execute(t, e, delivery(actions.Literal(tc.url)))
		if out.Status != actions.Permanent || out.Error != tc.want {
			t.Errorf("%s: outcome %v %q, want permanent %q", tc.url, out.Status, out.Error, tc.want)
		}
	}
	noRequest(t, seen)
}
