package delivery

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// The node registry (nodes.go): first attempts held in memory by processes
// sharing a PostgreSQL database, and taken over when their node dies.

// acceptHeld has s accept an event firing n deliveries to url and checks
// that s holds them in memory, under its number.
func acceptHeld(t *testing.T, s *Store, ceID, url string, n int) Receipt {
	t.Helper()
	var ds []NewDelivery
	for i := range n {
		ds = append(ds, NewDelivery{Delivery: httpAction(url, fmt.Sprintf(`{"event":%q,"n":%d}`, ceID, i))})
	}
	rc := accept(t, s, newEvent(ceID, ds...))
	mark := -s.nodes.num.Load()
	for _, d := range rc.Deliveries {
		if job := jobOf(t, s, d.ID); job != mark {
			t.Fatalf("delivery %s has job_id %d, want %d: held by node %d", d.ID, job, mark, -mark)
		}
	}
	return rc
}

func jobOf(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	var job int64
	if err := s.db.QueryRow(s.sql(`SELECT job_id FROM hookline_delivery WHERE id = ?`), id).Scan(&job); err != nil {
		t.Fatal(err)
	}
	return job
}

// silence stops s's heartbeat, as if its process had been killed.
func silence(s *Store) {
	s.nodes.stop()
	s.nodes.done.Wait()
}

func TestNodeRunsItsFirstAttemptsWithoutRiver(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "postgres"), nil)
	start(t, s)
	rc := acceptHeld(t, s, "e1", srv.URL, 2)
	got := []string{next(t, seen).Body, next(t, seen).Body}
	slices.Sort(got)
	if want := []string{`{"event":"e1","n":0}`, `{"event":"e1","n":1}`}; !slices.Equal(got, want) {
		t.Fatalf("receiver got %q, want %q", got, want)
	}
	for _, d := range rc.Deliveries {
		if det := waitStatus(t, s, d.ID, StatusDelivered); !slices.Equal(outcomes(det.Attempts), []string{"1:delivered:204"}) {
			t.Errorf("attempts %v", outcomes(det.Attempts))
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM river_job WHERE kind = 'hookline.delivery'`); n != 0 {
		t.Errorf("%d River jobs for first attempts that succeeded, want 0", n)
	}
}

// A node that stops sending heartbeats is dead: another gives its held
// deliveries River jobs and runs them, and if the dead node comes back it
// finds them taken and does not send them again.
func TestDeadNodesFirstAttemptsRunOnAnother(t *testing.T) {
	srv, seen := receiver(t, nil)
	db := newTestDB(t, "postgres")
	dead := openStore(t, db, nil) // never started: its deliveries wait in its memory
	rc := acceptHeld(t, dead, "e1", srv.URL, 3)
	silence(dead)

	live := openStore(t, db, func(c *Config) { c.nodeDeadAfter = 300 * time.Millisecond })
	start(t, live)
	for range rc.Deliveries {
		next(t, seen)
	}
	for _, d := range rc.Deliveries {
		waitStatus(t, live, d.ID, StatusDelivered)
		if job := jobOf(t, live, d.ID); job <= 0 {
			t.Errorf("delivery %s kept job_id %d, want a River job", d.ID, job)
		}
	}
	if n := count(t, live, fmt.Sprintf(`SELECT COUNT(*) FROM hookline_node WHERE num = %d`, dead.nodes.num.Load())); n != 0 {
		t.Errorf("the dead node is still registered")
	}

	// It was only paused: it runs its queue, finds every row taken over,
	// and sends nothing.
	start(t, dead)
	deadline := time.Now().Add(waitTimeout)
	for dead.direct.held.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := dead.direct.held.Load(); n != 0 {
		t.Fatalf("the paused node still holds %d deliveries", n)
	}
	select {
	case r := <-seen:
		t.Errorf("the paused node sent %q again after its deliveries were taken over", r.Body)
	default:
	}
	for _, d := range rc.Deliveries {
		if det := waitStatus(t, live, d.ID, StatusDelivered); len(det.Attempts) != 1 {
			t.Errorf("delivery %s: attempts %v, want one", d.ID, outcomes(det.Attempts))
		}
	}
}

// After a restart of the database server, whose crash may have lost
// records of delivered attempts (they skip the WAL flush), a node
// registers again and gives what is pending under its old number to
// River; what it still holds in memory is then not sent a second time.
func TestNodeHandsItsRowsOverWhenTheDatabaseRestarted(t *testing.T) {
	srv, seen := receiver(t, nil)
	s := openStore(t, newTestDB(t, "postgres"), nil)
	rc := acceptHeld(t, s, "e1", srv.URL, 2)
	silence(s)
	ctx := context.Background()
	old := s.nodes.num.Load()
	if err := s.nodes.beat(ctx); err != nil || s.nodes.num.Load() != old {
		t.Fatalf("a heartbeat with the server as it was: node %d → %d, %v", old, s.nodes.num.Load(), err)
	}

	s.nodes.serverStart-- // registered with an earlier run of the server
	if err := s.nodes.beat(ctx); err != nil {
		t.Fatal(err)
	}
	if s.nodes.num.Load() == old {
		t.Fatalf("the node kept number %d after the server restarted", old)
	}
	if n := count(t, s, fmt.Sprintf(`SELECT COUNT(*) FROM hookline_node WHERE num = %d`, old)); n != 0 {
		t.Errorf("the old number is still registered")
	}
	for _, d := range rc.Deliveries {
		if job := jobOf(t, s, d.ID); job <= 0 {
			t.Errorf("delivery %s kept job_id %d, want a River job", d.ID, job)
		}
	}
	start(t, s)
	next(t, seen)
	next(t, seen)
	for _, d := range rc.Deliveries {
		if det := waitStatus(t, s, d.ID, StatusDelivered); len(det.Attempts) != 1 {
			t.Errorf("delivery %s: attempts %v, want one", d.ID, outcomes(det.Attempts))
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for s.direct.held.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-seen:
		t.Errorf("%q was sent twice", r.Body)
	default:
	}
}

// Held rows whose number no registered node has (a node taken for dead that
// committed an event after its row was removed) are found by the orphan
// scan.
func TestUnregisteredNodesFirstAttemptsAreTakenOver(t *testing.T) {
	srv, seen := receiver(t, nil)
	db := newTestDB(t, "postgres")
	gone := openStore(t, db, nil)
	rc := acceptHeld(t, gone, "e1", srv.URL, 1)
	silence(gone)
	live := openStore(t, db, nil)
	if _, err := live.db.Exec(live.sql(`DELETE FROM hookline_node WHERE num = ?`), gone.nodes.num.Load()); err != nil {
		t.Fatal(err)
	}
	start(t, live)
	// Not a dead node: only the orphan scan finds it.
	if err := live.nodes.sweep(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if job := jobOf(t, live, rc.Deliveries[0].ID); job > 0 {
		t.Fatalf("the heartbeat sweep took over a row of an unregistered node")
	}
	if err := live.nodes.sweep(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	next(t, seen)
	waitStatus(t, live, rc.Deliveries[0].ID, StatusDelivered)
}

// A node that closes hands what it still holds to River, so another runs
// it without waiting for a timeout, and leaves the registry.
func TestClosingNodeHandsItsFirstAttemptsOver(t *testing.T) {
	srv, seen := receiver(t, nil)
	db := newTestDB(t, "postgres")
	leaving := openStore(t, db, nil)
	rc := acceptHeld(t, leaving, "e1", srv.URL, 2)
	num := leaving.nodes.num.Load()
	if err := leaving.Close(); err != nil {
		t.Fatal(err)
	}
	other := openStore(t, db, nil)
	for _, d := range rc.Deliveries {
		if job := jobOf(t, other, d.ID); job <= 0 {
			t.Errorf("delivery %s left with job_id %d, want a River job", d.ID, job)
		}
	}
	if n := count(t, other, fmt.Sprintf(`SELECT COUNT(*) FROM hookline_node WHERE num = %d`, num)); n != 0 {
		t.Errorf("the closed node is still registered")
	}
	start(t, other)
	next(t, seen)
	next(t, seen)
	for _, d := range rc.Deliveries {
		waitStatus(t, other, d.ID, StatusDelivered)
	}
}

// Node numbers are never reused, so a row held under a dead node's number
// cannot be taken for a new node's.
func TestNodeNumbersAreNotReused(t *testing.T) {
	db := newTestDB(t, "postgres")
	a := openStore(t, db, nil)
	first := a.nodes.num.Load()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openStore(t, db, nil)
	if got := b.nodes.num.Load(); got <= first {
		t.Errorf("a node opened after node %d closed got number %d", first, got)
	}
	if got := b.direct.mark(); got != -b.nodes.num.Load() || got >= jobSpilled {
		t.Errorf("mark %d, want -%d (below jobSpilled)", got, b.nodes.num.Load())
	}
}
