package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// The tests of first attempts held in memory, which only a store owned by
// one process (SQLite) does; the conformance suite covers the behaviour
// both stores share.

func TestDirectFirstAttemptNeedsNoJob(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "sqlite"), nil)
	start(t, s)
	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(srv.URL, `{"n":1}`)}))
	if got := next(t, seen).Body; got != `{"n":1}` {
		t.Fatalf("receiver got %q", got)
	}
	det := waitStatus(t, s, rc.Deliveries[0].ID, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
		t.Errorf("attempts %v", got)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM river_job`); n != 0 {
		t.Errorf("%d River jobs for a first attempt that succeeded, want 0", n)
	}
	// The worker lets go of the delivery just after recording it.
	deadline := time.Now().Add(waitTimeout)
	for s.direct.held.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := s.direct.held.Load(); n != 0 {
		t.Errorf("%d deliveries still held after their attempt was recorded", n)
	}
}

// Beyond memory's bound deliveries are spilled to the database and read
// back as room frees up, without River.
func TestDirectOverflowSpillsAndIsReadBack(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Workers = 1 })
	room := cap(s.direct.queue)
	if !s.direct.reserve(room - 1) { // as if a backlog filled memory
		t.Fatal("reserve failed on an empty queue")
	}
	rc := accept(t, s, newEvent("e1",
		NewDelivery{Delivery: httpAction(srv.URL, `{"n":1}`)},
		NewDelivery{Delivery: httpAction(srv.URL, `{"n":2}`)}))
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE job_id = -1`); n != 2 {
		t.Errorf("%d of 2 deliveries spilled with memory full, want both", n)
	}
	if n := queued(t, s); n != 2 {
		t.Errorf("%d attempts queued, want 2", n)
	}
	if held, spilled := s.FirstAttempts(); held != int64(room-1) || spilled != 2 {
		t.Errorf("FirstAttempts = %d held, %d spilled; want %d and 2", held, spilled, room-1)
	}
	if n := s.direct.held.Load(); n != int64(room-1) {
		t.Errorf("held %d, want the %d reserved: the overflowing event must not take room", n, room-1)
	}
	s.direct.release(room - 1)
	start(t, s)
	got := []string{next(t, seen).Body, next(t, seen).Body}
	slices.Sort(got)
	if !slices.Equal(got, []string{`{"n":1}`, `{"n":2}`}) {
		t.Errorf("receiver got %q", got)
	}
	for _, d := range rc.Deliveries {
		det := waitStatus(t, s, d.ID, StatusDelivered)
		if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
			t.Errorf("attempts %v", got)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM river_job`); n != 0 {
		t.Errorf("%d River jobs for spilled first attempts, want 0", n)
	}
}

// Deliveries held in memory or spilled when a process stops (or dies)
// before running them are read back after the next Open, and each runs
// once; spilled ones that already ran do not run again.
func TestDirectHeldAttemptsOutliveTheProcess(t *testing.T) {
	db := newTestDB(t, "sqlite")
	srv, seen := receiver(t, nil)
	first := openStore(t, db, nil)
	var ids []string
	for i := range 3 {
		if i == 2 { // memory full: this one is spilled
			if !first.direct.reserve(cap(first.direct.queue) - 2) {
				t.Fatal("reserve failed")
			}
		}
		rc := accept(t, first, newEvent(fmt.Sprint("e", i), NewDelivery{Delivery: httpAction(srv.URL, fmt.Sprint(i))}))
		ids = append(ids, rc.Deliveries[0].ID)
	}
	if first.direct.spilled.Load() != 1 || len(first.direct.queue) != 2 {
		t.Fatalf("%d spilled and %d held, want 1 and 2", first.direct.spilled.Load(), len(first.direct.queue))
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, db, nil)
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE job_id = -1`); n != 3 {
		t.Errorf("%d of 3 deliveries spilled after Open", n)
	}
	if n := queued(t, s); n != 3 {
		t.Errorf("%d attempts queued, want 3", n)
	}
	start(t, s)
	var got []string
	for range 3 {
		got = append(got, next(t, seen).Body)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"0", "1", "2"}) {
		t.Errorf("receiver got %q", got)
	}
	for _, id := range ids {
		det := waitStatus(t, s, id, StatusDelivered)
		if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
			t.Errorf("%s: attempts %v", id, got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The three keep job_id -1 once delivered: a later process that spills
	// must read back its own rows only.
	third := openStore(t, db, nil)
	if !third.direct.reserve(cap(third.direct.queue)) {
		t.Fatal("reserve failed")
	}
	rc := accept(t, third, newEvent("e3", NewDelivery{Delivery: httpAction(srv.URL, "3")}))
	third.direct.release(cap(third.direct.queue))
	start(t, third)
	if got := next(t, seen).Body; got != "3" {
		t.Errorf("receiver got %q, want only the new spilled delivery", got)
	}
	waitStatus(t, third, rc.Deliveries[0].ID, StatusDelivered)
	select {
	case r := <-seen:
		t.Errorf("a delivery ran again in a later process: %q", r.Body)
	case <-time.After(3 * feedPoll):
	}
}

// A retry asked for while the first attempt is held in memory adds one
// attempt after it, as for an attempt in flight.
func TestRetryWhileHeldInMemory(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "sqlite"), nil)
	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(srv.URL, `{}`)}))
	id := rc.Deliveries[0].ID
	if err := s.Retry(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM river_job`); n != 0 {
		t.Errorf("Retry queued %d jobs beside the held attempt, want 0 (the held one runs first)", n)
	}
	start(t, s)
	next(t, seen)
	next(t, seen)
	det := waitAttempts(t, s, id, 2)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204", "2:delivered:204"}) {
		t.Errorf("attempts %v", got)
	}
	waitStatus(t, s, id, StatusDelivered)
}

// A backlog many times memory's bound is read back batch by batch, each
// delivery once, none through River.
func TestDirectBacklogIsReadBackInBatches(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	// Not receiver: its channel would fill up and stall the worker.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[string(b)]++
		mu.Unlock()
	}))
	defer srv.Close()
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Workers, c.held = 1, 500 })
	n := 3*cap(s.direct.queue) + 7
	ids := make([]string, 0, n)
	for i := range n {
		rc := accept(t, s, newEvent(fmt.Sprint("e", i), NewDelivery{Delivery: httpAction(srv.URL, fmt.Sprint(i))}))
		ids = append(ids, rc.Deliveries[0].ID)
	}
	if sp := s.direct.spilled.Load(); sp != int64(n-cap(s.direct.queue)) {
		t.Errorf("%d spilled, want %d", sp, n-cap(s.direct.queue))
	}
	start(t, s)
	for _, id := range []string{ids[0], ids[n/2], ids[n-1]} {
		waitStatus(t, s, id, StatusDelivered)
	}
	deadline := time.Now().Add(waitTimeout)
	for count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE status = 'delivered'`) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := got[fmt.Sprint(i)]; c != 1 {
			t.Errorf("delivery %d arrived %d times, want once", i, c)
		}
	}
	if c := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE status = 'delivered'`); c != n {
		t.Errorf("%d of %d delivered", c, n)
	}
	if c := count(t, s, `SELECT COUNT(*) FROM river_job`); c != 0 {
		t.Errorf("%d River jobs, want 0", c)
	}
}

// Rows deleted (as retention deletes finished deliveries and their events)
// must not make the feeder skip rows spilled afterwards: SQLite hands the
// rowids of deleted rows at the top of the table out again.
func TestSpillAfterDeletesSkipsNothing(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Workers = 1 })
	room := cap(s.direct.queue)
	ctx := context.Background()
	spill := func(prefix string, n int) []string {
		t.Helper()
		waitFor(t, func() (bool, string) {
			held, _ := s.FirstAttempts()
			return held == 0, fmt.Sprintf("%d held", held)
		})
		if !s.direct.reserve(room) { // memory full: every one is spilled
			t.Fatal("reserve failed")
		}
		var ids []string
		for i := range n {
			rc := accept(t, s, newEvent(fmt.Sprint(prefix, i), NewDelivery{Delivery: httpAction(srv.URL, fmt.Sprint(prefix, i))}))
			ids = append(ids, rc.Deliveries[0].ID)
		}
		s.direct.release(room)
		s.direct.signal()
		for _, id := range ids {
			waitStatus(t, s, id, StatusDelivered)
		}
		for range n {
			next(t, seen)
		}
		return ids
	}
	start(t, s)
	spill("a", 5)
	// Retention: every finished delivery goes, with its attempts and
	// events.
	for _, q := range []string{
		`DELETE FROM hookline_attempt WHERE delivery_id IN (SELECT id FROM hookline_delivery WHERE status = 'delivered')`,
		`DELETE FROM hookline_delivery WHERE status = 'delivered'`,
		`DELETE FROM hookline_event WHERE id NOT IN (SELECT event_id FROM hookline_delivery)`,
	} {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	spill("b", 3)
	// And once more with rows left at the bottom of the table.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM hookline_attempt WHERE delivery_id IN
		(SELECT id FROM hookline_delivery ORDER BY rowid DESC LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM hookline_delivery WHERE rowid = (SELECT max(rowid) FROM hookline_delivery)`); err != nil {
		t.Fatal(err)
	}
	spill("c", 2)
	select {
	case r := <-seen:
		t.Errorf("a delivery ran twice: %q", r.Body)
	default:
	}
}

// A database whose first attempts were held or spilled by a version that
// numbered nothing reads them back, after the migration, in the order they
// were stored.
func TestSpilledRowsOfAnOlderVersionRunInOrder(t *testing.T) {
	db := newTestDB(t, "sqlite")
	ctx := context.Background()
	old := olderStore(t, db, 1)
	srv, seen := receiver(t, nil)
	// Stored in this order, which neither their IDs nor their times
	// follow: held, spilled, held, spilled.
	var want []string
	for i, job := range []int64{jobHeld, jobSpilled, jobHeld, jobSpilled} {
		ev, id := fmt.Sprint("evt_", 9-i), fmt.Sprint("dlv_", 9-i)
		content, err := json.Marshal(httpAction(srv.URL, id))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.db.ExecContext(ctx, `INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
			VALUES (?, '/test', ?, 'order.created', ?, '{}')`, ev, ev, 1000-i); err != nil {
			t.Fatal(err)
		}
		if _, err := old.db.ExecContext(ctx, `INSERT INTO hookline_delivery
			(id, event_id, seq, address, trigger_name, type, name, status, attempts, created_at, updated_at,
			 next_attempt_at, last_error, content, retry_schedule, max_attempts, job_id, retry_requested)
			VALUES (?, ?, 0, 'order.http.notify', 'order', 'http', 'notify', 'pending', 0, ?, ?, ?, '', ?, '[]', 1, ?, 0)`,
			id, ev, 1000-i, 1000-i, 1000-i, string(content), job); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if err := old.be.close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, db, func(c *Config) { c.Workers = 1 })
	start(t, s)
	var got []string
	for range want {
		got = append(got, next(t, seen).Body)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ran %q, want the stored order %q", got, want)
	}
	for _, id := range want {
		waitStatus(t, s, id, StatusDelivered)
	}
}
