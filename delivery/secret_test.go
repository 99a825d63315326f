package delivery

import (
	"bytes"
	"database/sql"
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

func TestSecretNeverStored(t *testing.T) { eachDB(t, testSecretNeverStored) }

func testSecretNeverStored(t *testing.T, db testDB) {
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
	var logs syncBuffer
	s := openStore(t, db, func(c *Config) {
		c.Executors["http"] = newExecutor(t, map[string]string{name: secret})
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	start(t, s)

	d := httpAction(srv.URL, "")
	d.Fields.Set("headers", actions.Value{Map: []actions.Header{{Name: "Authorization", Value: actions.Text{{Lit: "Bearer "}, {Env: name}}}}})
	d.Fields.Set("body", actions.Value{Text: actions.Text{{Lit: `{"token":"`}, {Env: name}, {Lit: `"}`}}})
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
		for where, b := range stored(t, db) {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s: the secret is in %s", when, where)
			}
		}
	}
	check("open") // the WAL holds the recent writes
	if bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Error("the secret is in the logs")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed") // SQLite: checkpointed into the main file
}

// stored returns everything the store has written, by where: on SQLite
// each file of the data directory (the WAL holds the recent writes), on
// PostgreSQL each table of the test's schema as text. It fails t unless
// the stored delivery's reference to its secret (the variable's name) is
// in there, which proves these are the places written to.
func stored(t *testing.T, db testDB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var all []byte
	if db.kind == "sqlite" {
		files, _ := filepath.Glob(filepath.Join(db.dir, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(f)] = b
			all = append(all, b...)
		}
	} else {
		pg, err := sql.Open("pgx", db.url) // the store may be closed
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		tables, err := pg.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for tables.Next() {
			var n string
			tables.Scan(&n)
			names = append(names, n)
		}
		tables.Close()
		for _, n := range names {
			var b []byte
			if err := pg.QueryRow(`SELECT coalesce(string_agg(t::text, E'\n'), '') FROM ` + n + ` t`).Scan(&b); err != nil {
				t.Fatal(err)
			}
			out[n] = b
			all = append(all, b...)
		}
	}
	if !bytes.Contains(all, []byte("HOOKLINE_TEST_SECRET")) {
		t.Errorf("the variable name is in none of %d places", len(out))
	}
	return out
}
