package delivery

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// count runs a COUNT query against the store's database.
func count(t testing.TB, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.rdb.QueryRowContext(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// queued counts the first attempts waiting to run, in whichever queue: a
// River job the delivery names, or (SQLite) held in memory or spilled.
// Each one must be in exactly one of them.
func queued(t testing.TB, s *Store) int {
	t.Helper()
	inRiver := count(t, s, `SELECT COUNT(*) FROM hookline_delivery d JOIN river_job j ON j.id = d.job_id`)
	if jobs := count(t, s, `SELECT COUNT(*) FROM river_job`); jobs != inRiver {
		t.Errorf("%d River jobs, %d of them named by a delivery", jobs, inRiver)
	}
	held := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE job_id <= 0 AND status = 'pending'`)
	if s.direct == nil && held != 0 {
		t.Errorf("%d deliveries without a job on a store that holds none in memory", held)
	}
	if s.direct != nil && int64(len(s.direct.queue))+s.direct.spilled.Load() != int64(held) {
		t.Errorf("%d deliveries held in memory and %d spilled, %d stored as such", len(s.direct.queue), s.direct.spilled.Load(), held)
	}
	return inRiver + held
}

func TestDuplicateAccept(t *testing.T) { eachDB(t, testDuplicateAccept) }

func testDuplicateAccept(t *testing.T, db testDB) {
	s := openStore(t, db, nil) // not started: nothing is delivered, everything stays countable
	ev := newEvent("dup-1",
		NewDelivery{Delivery: httpAction("http://127.0.0.1:1/a", `{}`)},
		NewDelivery{Delivery: httpAction("http://127.0.0.1:1/b", `{}`)})
	first := accept(t, s, ev)
	again := accept(t, s, ev)
	if first.Duplicate || !again.Duplicate {
		t.Errorf("Duplicate: first %v, again %v", first.Duplicate, again.Duplicate)
	}
	if again.EventID != first.EventID || !slices.Equal(again.Deliveries, first.Deliveries) {
		t.Errorf("duplicate receipt %+v, want the original %+v", again, first)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery`); n != 2 {
		t.Errorf("%d deliveries stored, want 2", n)
	}
	if n := queued(t, s); n != 2 {
		t.Errorf("%d attempts queued, want 2", n)
	}

	// Same id from another source is another event.
	other := ev
	other.Source = "/elsewhere"
	if rc := accept(t, s, other); rc.Duplicate || rc.EventID == first.EventID {
		t.Errorf("other source: %+v", rc)
	}

	// Concurrent duplicates: exactly one is stored, all get its receipt.
	const n = 10
	ev = newEvent("dup-2", NewDelivery{Delivery: httpAction("http://127.0.0.1:1/c", `{}`)})
	receipts := make([]Receipt, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rc, err := s.Accept(context.Background(), ev)
			if err != nil {
				t.Error(err)
			}
			receipts[i] = rc
		})
	}
	wg.Wait()
	originals := 0
	for _, rc := range receipts {
		if !rc.Duplicate {
			originals++
		}
		if rc.EventID != receipts[0].EventID || len(rc.Deliveries) != 1 || rc.Deliveries[0] != receipts[0].Deliveries[0] {
			t.Errorf("receipt %+v differs from %+v", rc, receipts[0])
		}
	}
	if originals != 1 {
		t.Errorf("%d of %d concurrent accepts stored the event, want 1", originals, n)
	}
	if got := count(t, s, `SELECT COUNT(*) FROM hookline_event WHERE ce_id = 'dup-2'`); got != 1 {
		t.Errorf("%d events stored, want 1", got)
	}
	if got := queued(t, s); got != 2+2+1 {
		t.Errorf("%d attempts queued, want 5", got)
	}
}

func TestAcceptRejects(t *testing.T) { eachDB(t, testAcceptRejects) }

func testAcceptRejects(t *testing.T, db testDB) {
	s := openStore(t, db, nil)
	ctx := context.Background()
	for name, ev := range map[string]NewEvent{
		"no source":   {CEID: "x", Raw: []byte(`{}`)},
		"no id":       {Source: "/s", Raw: []byte(`{}`)},
		"not JSON":    {Source: "/s", CEID: "x", Raw: []byte(`{`)},
		"NUL in id":   {Source: "/s", CEID: "x\x00", Raw: []byte(`{}`)},
		"bad UTF-8":   {Source: "/s\xff", CEID: "x", Raw: []byte(`{}`)},
		"bad body":    {Source: "/s", CEID: "x", Raw: []byte("{\"a\": \"\xff\"}")},
		"no content":  {Source: "/s", CEID: "x", Raw: []byte(`{}`), Deliveries: []NewDelivery{{}}},
		"bad policy":  {Source: "/s", CEID: "x", Raw: []byte(`{}`), Deliveries: []NewDelivery{{Delivery: httpAction("http://x", ""), Retry: RetryPolicy{MaxAttempts: -1}}}},
		"no schedule": {Source: "/s", CEID: "x", Raw: []byte(`{}`), Deliveries: []NewDelivery{{Delivery: httpAction("http://x", ""), Retry: RetryPolicy{Schedule: []time.Duration{}, MaxAttempts: 3}}}},
	} {
		_, err := s.Accept(ctx, ev)
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
		// Only a problem with the event itself is one sending it again
		// cannot fix; the server answers that with 400, the rest with 503.
		aboutEvent := name != "no content" && name != "bad policy" && name != "no schedule"
		if errors.Is(err, ErrInvalidEvent) != aboutEvent {
			t.Errorf("%s: %v, ErrInvalidEvent %v", name, err, !aboutEvent)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_event`); n != 0 {
		t.Errorf("%d events stored by rejected accepts", n)
	}
	// An event that fires nothing is still recorded (and deduplicated).
	rc := accept(t, s, newEvent("quiet"))
	if rc.Deliveries == nil || len(rc.Deliveries) != 0 {
		t.Errorf("receipt %+v, want an empty list", rc)
	}
	if rc := accept(t, s, newEvent("quiet")); !rc.Duplicate || rc.Deliveries == nil {
		t.Errorf("duplicate of an empty event: %+v", rc)
	}
}

func TestPersistsAcrossRestart(t *testing.T) { eachDB(t, testPersistsAcrossRestart) }

func testPersistsAcrossRestart(t *testing.T, db testDB) {
	srv, seen := receiver(t, nil)
	first := openStore(t, db, nil)
	rc := accept(t, first, newEvent("e1", NewDelivery{Delivery: httpAction(srv.URL, `{"n":1}`)}))
	if err := first.Close(); err != nil { // before any worker ran
		t.Fatal(err)
	}

	s := openStore(t, db, nil)
	// Only one process may own a SQLite data directory; a PostgreSQL
	// database is shared by every node.
	second, err := Open(context.Background(), Config{DataDir: db.dir, DatabaseURL: db.url})
	if db.kind == "sqlite" && (err == nil || !strings.Contains(err.Error(), "in use")) {
		t.Errorf("second Open on a directory in use: %v", err)
	}
	if db.kind == "postgres" && err != nil {
		t.Errorf("second Open on a shared database: %v", err)
	}
	if err == nil {
		second.Close()
	}
	start(t, s)
	if got := next(t, seen).Body; got != `{"n":1}` {
		t.Errorf("receiver got %q", got)
	}
	waitStatus(t, s, rc.Deliveries[0].ID, StatusDelivered)
}

// A process killed mid-attempt leaves its job marked running. On SQLite,
// which one process owns, the next Open runs it again at once. On
// PostgreSQL another node's River rescuer takes it back once it has been
// running longer than the rescue delay derived from AttemptTimeout (here
// 1 s + 5 s + 10 s; with the default it would wait over 5 minutes).
func TestOrphanedAttemptRunsAgainAfterCrash(t *testing.T) {
	eachDB(t, testOrphanedAttemptRunsAgainAfterCrash)
}

func testOrphanedAttemptRunsAgainAfterCrash(t *testing.T, db testDB) {
	srv, seen := receiver(t, nil)
	crashed := openStore(t, db, nil)
	rc := accept(t, crashed, newEvent("e1", NewDelivery{Delivery: httpAction(srv.URL, `{}`)}))
	// What a fetch does; the process then "dies" before recording anything.
	fetched := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = datetime('now', 'subsec')`
	if db.kind == "postgres" {
		fetched = `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now() - interval '1 minute'`
	}
	if _, err := crashed.db.Exec(fetched); err != nil {
		t.Fatal(err)
	}
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, db, func(c *Config) { c.AttemptTimeout = time.Second })
	start(t, s)
	next(t, seen)
	det := waitStatus(t, s, rc.Deliveries[0].ID, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
		t.Errorf("attempts %v", got)
	}
}

func TestStartNeedsExecutors(t *testing.T) { eachDB(t, testStartNeedsExecutors) }

func testStartNeedsExecutors(t *testing.T, db testDB) {
	s := openStore(t, db, func(c *Config) { c.Executors = nil })
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start without executors succeeded")
	}
}
