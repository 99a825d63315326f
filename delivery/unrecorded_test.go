package delivery

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests of attempts made but not recorded (unrecorded.go): the
// database refuses the record under a running worker, for real.

// waitFor polls cond until it holds, or fails with what it says.
func waitFor(t testing.TB, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", waitTimeout, state)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refuseAttempts makes the database refuse every attempt record, as a full
// disk would, until the trigger is dropped.
func refuseAttempts(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.db.Exec(`CREATE TRIGGER hookline_test_refuse BEFORE INSERT ON hookline_attempt
		BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END`); err != nil {
		t.Fatal(err)
	}
}

// An attempt that reached its peer but could not be recorded is recorded
// later, on the delivery's retry schedule; it is not sent again.
func TestUnrecordedAttemptIsRecordedNotSentAgain(t *testing.T) {
	answer := make(chan struct{})
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		<-answer
		w.WriteHeader(http.StatusNoContent)
	})
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Rand = func() float64 { return 0.5 } })
	start(t, s)
	rc := accept(t, s, newEvent("e1", NewDelivery{
		Delivery: httpAction(srv.URL, `{}`),
		Retry:    RetryPolicy{Schedule: []time.Duration{20 * time.Millisecond}, MaxAttempts: 1000},
	}))
	id := rc.Deliveries[0].ID
	next(t, seen)
	// The database refuses the record while the peer takes the attempt.
	// A trigger, not "PRAGMA query_only" on the writer: database/sql may
	// replace that connection (it drops one a cancelled statement
	// interrupted, River's included), and a new one would write.
	if _, err := s.db.Exec(`CREATE TRIGGER refuse_records BEFORE INSERT ON hookline_attempt
		BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database (test)'); END`); err != nil {
		t.Fatal(err)
	}
	close(answer)
	waitFor(t, func() (bool, string) {
		h := s.RecordHealth()
		return h.Failures >= 3, fmt.Sprintf("%d failures to record, want 3", h.Failures)
	})
	h := s.RecordHealth()
	if h.Unrecorded != 1 || !h.Failing || !strings.Contains(h.LastError, "readonly") {
		t.Errorf("RecordHealth = %+v, want 1 unrecorded, failing for a read-only database", h)
	}
	if err := s.Degraded(); err == nil {
		t.Error("Degraded = nil while an attempt is not recorded")
	}
	if held, _ := s.FirstAttempts(); held != 1 {
		t.Errorf("%d held, want the unrecorded one to keep its room", held)
	}

	if _, err := s.db.Exec(`DROP TRIGGER refuse_records`); err != nil {
		t.Fatal(err)
	}
	det := waitStatus(t, s, id, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
		t.Errorf("attempts %v", got)
	}
	waitFor(t, func() (bool, string) {
		err := s.Degraded()
		return err == nil, fmt.Sprintf("Degraded = %v after the record", err)
	})
	select {
	case r := <-seen:
		t.Errorf("the attempt was sent again: %q", r.Body)
	default:
	}
}

// Once the policy's tries are spent the record is given up: nothing more
// is sent, the delivery stays pending, and the next Open runs it again.
// Failures are logged once per second of the store's clock at most.
func TestUnrecordedAttemptIsGivenUpThenRunsOnNextOpen(t *testing.T) {
	db := newTestDB(t, "sqlite")
	srv, seen := receiver(t, nil)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	var logs syncBuffer
	s := openStore(t, db, func(c *Config) {
		c.Now = clk.Now
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	refuseAttempts(t, s)
	policy := RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}, MaxAttempts: 3}
	var ids []string
	for i := range 2 {
		rc := accept(t, s, newEvent(fmt.Sprint("e", i), NewDelivery{Delivery: httpAction(srv.URL, fmt.Sprint(i)), Retry: policy}))
		ids = append(ids, rc.Deliveries[0].ID)
	}
	start(t, s)
	gaveUp := func(n int64) {
		t.Helper()
		waitFor(t, func() (bool, string) {
			held, _ := s.FirstAttempts()
			h := s.RecordHealth()
			return held == 0 && h.Unrecorded == n, fmt.Sprintf("%d held, %+v", held, h)
		})
	}
	gaveUp(2)
	if h := s.RecordHealth(); h.Failures != 6 {
		t.Errorf("%d tries to record 2 attempts, want 3 each", h.Failures)
	}

	// A second later on the store's clock, one more line.
	clk.Set(t0.Add(recordLogInterval))
	rc := accept(t, s, newEvent("e2", NewDelivery{Delivery: httpAction(srv.URL, "2"), Retry: policy}))
	ids = append(ids, rc.Deliveries[0].ID)
	gaveUp(3)
	if h := s.RecordHealth(); h.Failures != 9 {
		t.Errorf("%d tries to record 3 attempts, want 3 each", h.Failures)
	}
	if err := s.Degraded(); err == nil || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("Degraded = %v, want 3 attempts not recorded", err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(logs.Bytes()))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l["level"] == "ERROR" {
			lines = append(lines, l)
		}
	}
	// A failure that comes while the first line is being written is
	// counted in it rather than in the second: the two attempts fail
	// concurrently.
	if len(lines) != 2 || lines[0]["failures_not_logged"].(float64)+lines[1]["failures_not_logged"].(float64) != 5 {
		t.Errorf("logged %v, want 2 lines, counting the 5 failures not logged between them", lines)
	}
	var got []string
	for range 3 {
		got = append(got, next(t, seen).Body)
	}
	select {
	case r := <-seen:
		t.Errorf("an attempt was sent again: %q", r.Body)
	default:
	}
	for _, id := range ids {
		if det, err := s.Delivery(context.Background(), id); err != nil || det.Status != StatusPending || len(det.Attempts) != 0 {
			t.Errorf("%s: %v, %+v", id, err, det)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, db, nil)
	if _, err := s.db.Exec(`DROP TRIGGER hookline_test_refuse`); err != nil {
		t.Fatal(err)
	}
	start(t, s)
	for range 3 {
		got = append(got, next(t, seen).Body)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"0", "0", "1", "1", "2", "2"}) {
		t.Errorf("receiver got %q, want each delivery twice: once unrecorded, once after the restart", got)
	}
	for _, id := range ids {
		det := waitStatus(t, s, id, StatusDelivered)
		if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:204"}) {
			t.Errorf("%s: attempts %v", id, got)
		}
	}
	if err := s.Degraded(); err != nil {
		t.Errorf("Degraded = %v after a restart recorded everything", err)
	}
}
