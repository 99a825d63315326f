package delivery

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

// syncBuffer is a log sink safe for the workers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

func TestSecretNeverStored(t *testing.T) {
	t.Parallel()
	const name, secret = "HOOKLINE_TEST_SECRET", "s3cr3t-value-xyz"
	// The receiver echoes what it got, so the secret comes back in the
	// response of a failed attempt (stored) and of the successful one.
	var calls atomic.Int32
	var got atomic.Value
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte("you sent " + r.Header.Get("Authorization")))
	})
	dir := t.TempDir()
	var logs syncBuffer
	s := openStore(t, dir, func(c *Config) {
		c.Executors["http"] = newExecutor(t, map[string]string{name: secret})
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	start(t, s)

	d := httpAction(srv.URL, "")
	d.HTTP.Headers = []actions.Header{{Name: "Authorization", Value: actions.Text{{Lit: "Bearer "}, {Env: name}}}}
	d.HTTP.Body = actions.Text{{Lit: `{"token":"`}, {Env: name}, {Lit: `"}`}}
	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: d, Retry: RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}}}))
	det := waitStatus(t, s, rc.Deliveries[0].ID, StatusDelivered)
	if got.Load() != "Bearer "+secret {
		t.Fatalf("receiver got Authorization %q: the secret was not resolved", got.Load())
	}
	if len(det.Attempts) != 2 || det.Attempts[0].Response == "" {
		t.Fatalf("attempts %+v", det.Attempts)
	}

	check := func(when string) {
		t.Helper()
		var all []byte
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s: the secret is in %s", when, filepath.Base(f))
			}
			all = append(all, b...)
		}
		// The reference is stored; proves these are the files written to.
		if !bytes.Contains(all, []byte(name)) {
			t.Errorf("%s: the variable name is in none of %v", when, files)
		}
	}
	check("open") // the WAL holds the recent writes
	if bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Error("the secret is in the logs")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed") // checkpointed into the main file
}
