package delivery

import (
	"context"
	"fmt"
	"slices"
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

func TestDirectOverflowGoesToRiver(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Workers = 1 })
	room := cap(s.direct.queue)
	if !s.direct.reserve(room - 1) { // as if a backlog filled memory
		t.Fatal("reserve failed on an empty queue")
	}
	rc := accept(t, s, newEvent("e1",
		NewDelivery{Delivery: httpAction(srv.URL, `{"n":1}`)},
		NewDelivery{Delivery: httpAction(srv.URL, `{"n":2}`)}))
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE job_id <> 0`); n != 2 {
		t.Errorf("%d of 2 deliveries queued in River with memory full, want both", n)
	}
	if n := s.direct.held.Load(); n != int64(room-1) {
		t.Errorf("held %d, want the %d reserved: the overflowing event must not take room", n, room-1)
	}
	s.direct.release(room - 1)
	start(t, s)
	next(t, seen)
	next(t, seen)
	for _, d := range rc.Deliveries {
		waitStatus(t, s, d.ID, StatusDelivered)
	}
}

// Deliveries held in memory when a process stops (or dies) before running
// them are queued in River by the next Open, and each runs once.
func TestDirectHeldAttemptsOutliveTheProcess(t *testing.T) {
	db := newTestDB(t, "sqlite")
	srv, seen := receiver(t, nil)
	first := openStore(t, db, nil)
	var ids []string
	for i := range 3 {
		rc := accept(t, first, newEvent(fmt.Sprint("e", i), NewDelivery{Delivery: httpAction(srv.URL, fmt.Sprint(i))}))
		ids = append(ids, rc.Deliveries[0].ID)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, db, nil)
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE job_id = 0`); n != 0 {
		t.Errorf("%d deliveries still without a job after Open", n)
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
