package delivery

import (
	"context"
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
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Workers = 1 })
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
