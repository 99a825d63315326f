package webhook

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookline/hookline/actions"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// newExecutor returns an executor that may reach loopback test servers.
func newExecutor(t testing.TB, cfg Config) *Executor {
	t.Helper()
	if cfg.Allow == nil {
		cfg.Allow = loopback
	}
	e := New(cfg)
	t.Cleanup(e.CloseIdleConnections)
	return e
}

// request is what a test receiver saw.
type request struct {
	Method string
	Path   string
	Host   string
	Header http.Header
	Body   []byte
}

// receiver starts a loopback server that records each request on the
// returned channel and answers with h (or 204 when h is nil).
func receiver(t testing.TB, h http.HandlerFunc) (*httptest.Server, <-chan request) {
	t.Helper()
	seen := make(chan request, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body)) // for h
		seen <- request{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone(), body}
		if h == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func delivery(url actions.Text) *actions.Delivery {
	return &actions.Delivery{
		ID: "msg_2b4f1c", EventID: "evt-1", Address: "order.http.notify",
		Trigger: "order", Type: "http", Name: "notify", Attempt: 1,
		Fields: (&httpAction{method: "POST", url: url, body: actions.Literal(`{"id":"evt-1"}`)}).fields(),
	}
}

// edit changes an http delivery's fields through httpAction, the executor's
// own reading of them.
func edit(d *actions.Delivery, change func(h *httpAction)) {
	h, err := httpActionOf(d)
	if err != nil {
		panic(err)
	}
	change(&h)
	d.Fields = h.fields()
}

func envMap(m map[string]string) actions.EnvFunc {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func execute(t testing.TB, e *Executor, d *actions.Delivery) actions.Outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.Execute(ctx, d)
}

// noRequest fails if the receiver was reached.
func noRequest(t testing.TB, seen <-chan request) {
	t.Helper()
	select {
	case r := <-seen:
		t.Errorf("receiver got %s %s, want no request", r.Method, r.Path)
	default:
	}
}
