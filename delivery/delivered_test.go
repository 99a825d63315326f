package delivery

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

// Delivered attempts recorded together (delivered.go) are recorded as each
// would be alone: those whose job is still their delivery's, not erased
// and not asked to be retried, are delivered with their attempt; the
// others are left for record's full path, untouched.
func TestDeliveredAttemptsShareAStatement(t *testing.T) {
	s := openStore(t, newTestDB(t, "postgres"), nil) // not started: nothing runs them
	rc := acceptHeld(t, s, "batch", "http://127.0.0.1:9/", 6)
	job := -s.nodes.num.Load()
	ids := make([]string, len(rc.Deliveries))
	for i, d := range rc.Deliveries {
		ids[i] = d.ID
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.Exec(s.sql(q), args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`UPDATE hookline_delivery SET erased_at = 1 WHERE id = ?`, ids[4])
	exec(`UPDATE hookline_delivery SET retry_requested = 1 WHERE id = ?`, ids[5])

	started := time.Now().Add(-time.Second)
	var batch []*deliveredReq
	for i, id := range ids {
		j := job
		if i == 3 {
			j = 12345 // superseded: another job runs it now
		}
		batch = append(batch, &deliveredReq{id: id, job: j, started: started, out: actions.Outcome{
			Status: actions.Delivered, StatusCode: 200 + i, Duration: time.Duration(i+1) * time.Millisecond,
			Response: fmt.Sprintf("answer %d", i), ProviderID: fmt.Sprint("p", i),
		}})
	}
	slices.Reverse(batch) // not in ID order
	if err := s.delivered.writeMany(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	for _, r := range batch {
		i := slices.Index(ids, r.id)
		want := i < 3
		if r.recorded != want {
			t.Errorf("delivery %d recorded = %v, want %v", i, r.recorded, want)
		}
		det, err := s.Delivery(context.Background(), r.id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case want:
			if det.Status != StatusDelivered || !slices.Equal(outcomes(det.Attempts), []string{fmt.Sprintf("1:delivered:%d", 200+i)}) {
				t.Errorf("delivery %d: %s, attempts %v", i, det.Status, outcomes(det.Attempts))
			} else if a := det.Attempts[0]; a.ProviderID != fmt.Sprint("p", i) || a.Duration != time.Duration(i+1)*time.Millisecond || !a.StartedAt.Equal(started) {
				t.Errorf("delivery %d: attempt %+v", i, a)
			}
		case len(det.Attempts) != 0 || det.Status != StatusPending:
			t.Errorf("delivery %d, not the common case, was written: %s, attempts %v", i, det.Status, outcomes(det.Attempts))
		}
	}
}
