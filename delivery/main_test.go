package delivery

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/webhook"
	"github.com/hookline/hookline/internal/pgtest"
)

// River's goroutines must all be gone once a store is stopped and closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait on the queue; waits end as soon as their
// condition holds.
const waitTimeout = 20 * time.Second

const testSigningSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// newExecutor is the real webhook executor, allowed to reach loopback test
// receivers and reading secrets from env.
func newExecutor(t testing.TB, env map[string]string) *webhook.Executor {
	t.Helper()
	e := webhook.New(webhook.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Env:   func(name string) (string, bool) { v, ok := env[name]; return v, ok },
	})
	t.Cleanup(e.CloseIdleConnections)
	return e
}

// testDB is where one test's store lives: a SQLite data directory, or a
// PostgreSQL schema of its own. Opening it again reopens the same data.
type testDB struct {
	kind string // "sqlite" or "postgres"
	dir  string
	url  string
}

// stores are the stores every conformance test runs against.
var stores = []string{"sqlite", "postgres"}

func newTestDB(t testing.TB, kind string) testDB {
	t.Helper()
	if kind == "postgres" {
		return testDB{kind: kind, url: pgtest.URL(t)} // skips without PostgreSQL
	}
	return testDB{kind: kind, dir: t.TempDir()}
}

// eachDB runs f as a parallel subtest per store: SQLite always,
// PostgreSQL when HOOKLINE_TEST_DATABASE_URL is set (skipped otherwise).
// This is the conformance suite: both stores must behave the same.
func eachDB(t *testing.T, f func(t *testing.T, db testDB)) {
	t.Parallel()
	for _, kind := range stores {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f(t, newTestDB(t, kind))
		})
	}
}

// openStore opens a store on db, closed when the test ends.
func openStore(t testing.TB, db testDB, edit func(*Config)) *Store {
	t.Helper()
	cfg := Config{DataDir: db.dir, DatabaseURL: db.url, Executors: map[string]actions.Executor{"http": newExecutor(t, nil)}}
	if edit != nil {
		edit(&cfg)
	}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func start(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// request is what a test receiver saw.
type request struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// receiver records every request on the returned channel and answers with
// h (204 when h is nil).
func receiver(t testing.TB, h http.HandlerFunc) (*httptest.Server, <-chan request) {
	t.Helper()
	seen := make(chan request, 1024)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		seen <- request{r.Method, r.URL.Path, r.Header.Clone(), string(body)}
		if h == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// httpAction is a rendered http action posting body to url.
func httpAction(url, body string) *actions.Delivery {
	return &actions.Delivery{
		EventID: "ce-1", Address: "order.http.notify", Trigger: "order", Type: "http", Name: "notify",
		Fields: actions.Fields{
			{Name: "method", Value: actions.Value{Text: actions.Literal("POST")}},
			{Name: "url", Value: actions.Value{Text: actions.Literal(url)}},
			{Name: "body", Value: actions.Value{Text: actions.Literal(body)}},
		},
	}
}

// newEvent is an event with the given CloudEvents id firing ds.
func newEvent(ceID string, ds ...NewDelivery) NewEvent {
	return NewEvent{
		Source: "/test", CEID: ceID, Type: "order.created",
		Raw:        []byte(fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/test","type":"order.created"}`, ceID)),
		Deliveries: ds,
	}
}

func accept(t testing.TB, s *Store, ev NewEvent) Receipt {
	t.Helper()
	rc, err := s.Accept(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// next returns the next request a receiver saw.
func next(t testing.TB, seen <-chan request) request {
	t.Helper()
	select {
	case r := <-seen:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("receiver got no request")
		return request{}
	}
}

// waitStatus polls until delivery id has status want and returns it.
func waitStatus(t testing.TB, s *Store, id string, want Status) *Detail {
	t.Helper()
	return waitDelivery(t, s, id, func(d *Detail) (bool, string) {
		return d.Status == want, fmt.Sprintf("status %s, want %s (attempts %d, last error %q)", d.Status, want, d.Summary.Attempts, d.LastError)
	})
}

// waitAttempts polls until delivery id has n attempts recorded.
func waitAttempts(t testing.TB, s *Store, id string, n int) *Detail {
	t.Helper()
	return waitDelivery(t, s, id, func(d *Detail) (bool, string) {
		return len(d.Attempts) >= n, fmt.Sprintf("%d attempts, want %d", len(d.Attempts), n)
	})
}

// waitDelivery polls delivery id until done says so, or fails with what
// done last said.
func waitDelivery(t testing.TB, s *Store, id string, done func(*Detail) (bool, string)) *Detail {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		d, err := s.Delivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		ok, state := done(d)
		if ok {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s after %s: %s", id, waitTimeout, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func outcomes(as []Attempt) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = fmt.Sprintf("%d:%s:%d", a.Number, a.Outcome, a.StatusCode)
	}
	return out
}
