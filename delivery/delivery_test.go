package delivery

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

func TestAcceptAndDeliver(t *testing.T) { eachDB(t, testAcceptAndDeliver) }

func testAcceptAndDeliver(t *testing.T, db testDB) {
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("thanks")) })
	s := openStore(t, db, nil)
	start(t, s)

	d := httpAction(srv.URL+"/hook", `{"order":"A-1"}`)
	d.Fields.Set("headers", actions.Value{Map: []actions.Header{{Name: "X-Order", Value: actions.Literal("A-1")}}})
	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: d}))
	if rc.Duplicate || !strings.HasPrefix(rc.EventID, "evt_") || len(rc.EventID) != 30 || len(rc.Deliveries) != 1 {
		t.Fatalf("receipt %+v", rc)
	}
	ref := rc.Deliveries[0]
	if !strings.HasPrefix(ref.ID, "dlv_") || ref.Address != "order.http.notify" {
		t.Fatalf("ref %+v", ref)
	}
	if d.ID != "" {
		t.Errorf("Accept set the caller's Delivery.ID to %q", d.ID)
	}

	req := next(t, seen)
	if req.Body != `{"order":"A-1"}` || req.Header.Get("X-Order") != "A-1" {
		t.Errorf("receiver got %q with X-Order %q", req.Body, req.Header.Get("X-Order"))
	}
	det := waitStatus(t, s, ref.ID, StatusDelivered)
	if det.Summary.Attempts != 1 || det.NextAttemptAt != nil || det.LastError != "" || det.EventID != rc.EventID || det.Trigger != "order" {
		t.Errorf("summary %+v", det.Summary)
	}
	if len(det.Attempts) != 1 {
		t.Fatalf("attempts %v", outcomes(det.Attempts))
	}
	a := det.Attempts[0]
	if a.Number != 1 || a.Outcome != "delivered" || a.StatusCode != 200 || a.Response != "thanks" || a.Duration <= 0 || a.StartedAt.IsZero() {
		t.Errorf("attempt %+v", a)
	}
	if det.Content.ID != ref.ID || det.Content.Fields.Text("body").Redacted() != `{"order":"A-1"}` || det.Content.Address != "order.http.notify" {
		t.Errorf("stored content %+v", det.Content)
	}
	if want := (RetryPolicy{Schedule: DefaultSchedule, MaxAttempts: 8}); !slices.Equal(det.Retry.Schedule, want.Schedule) || det.Retry.MaxAttempts != 8 {
		t.Errorf("retry policy %+v, want the default resolved", det.Retry)
	}
	counts, err := s.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusDelivered] != 1 || counts[StatusPending] != 0 || len(counts) != 7 {
		t.Errorf("counts %v", counts)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestRetriesUntilDelivered(t *testing.T) { eachDB(t, testRetriesUntilDelivered) }

func testRetriesUntilDelivered(t *testing.T, db testDB) {
	var calls atomic.Int32
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusInternalServerError)
		}
	})
	s := openStore(t, db, func(c *Config) {
		c.Executors["http"] = newExecutor(t, map[string]string{"WH": testSigningSecret})
	})
	start(t, s)

	d := httpAction(srv.URL, `{}`)
	d.Fields.Set("signing_secret", actions.Value{Text: actions.Text{{Env: "WH"}}})
	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: d, Retry: RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}}))
	id := rc.Deliveries[0].ID

	det := waitStatus(t, s, id, StatusDelivered)
	if got, want := outcomes(det.Attempts), []string{"1:retry:500", "2:retry:500", "3:delivered:200"}; !slices.Equal(got, want) {
		t.Fatalf("attempts %v, want %v", got, want)
	}
	if det.Attempts[0].Error == "" || det.Attempts[0].Response == "" {
		t.Errorf("failed attempt has no error or response: %+v", det.Attempts[0])
	}
	if det.Summary.Attempts != 3 || det.LastError != "" {
		t.Errorf("summary %+v", det.Summary)
	}
	// Every retry sends the same delivery: the receiver can deduplicate on
	// webhook-id.
	for i := range 3 {
		if got := next(t, seen).Header.Get("webhook-id"); got != id {
			t.Errorf("request %d: webhook-id %q, want %q", i+1, got, id)
		}
	}
}

func TestDeadLetterThenRetryByHand(t *testing.T) { eachDB(t, testDeadLetterThenRetryByHand) }

func testDeadLetterThenRetryByHand(t *testing.T, db testDB) {
	var fixed atomic.Bool
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			http.Error(w, "no such order", http.StatusBadRequest)
		}
	})
	s := openStore(t, db, nil)
	start(t, s)
	ctx := context.Background()

	rc := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(srv.URL, `{}`)}))
	id := rc.Deliveries[0].ID
	det := waitStatus(t, s, id, StatusFailed)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:permanent:400"}) {
		t.Fatalf("attempts %v", got)
	}
	if det.LastError == "" || det.NextAttemptAt != nil {
		t.Errorf("dead letter %+v", det.Summary)
	}
	next(t, seen)

	fixed.Store(true)
	if err := s.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	det = waitStatus(t, s, id, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:permanent:400", "2:delivered:200"}) {
		t.Fatalf("attempts %v", got)
	}
	next(t, seen)

	// A delivered one is delivered again.
	if err := s.Retry(ctx, id); err != nil {
		t.Fatal(err)
	}
	next(t, seen)
	det = waitAttempts(t, s, id, 3)
	if got := outcomes(det.Attempts); det.Status != StatusDelivered || len(got) != 3 || got[2] != "3:delivered:200" {
		t.Errorf("attempts after a second retry: %v, status %s", got, det.Status)
	}

	if err := s.Retry(ctx, "dlv_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Retry(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRetryAfterDelaysNextAttempt(t *testing.T) { eachDB(t, testRetryAfterDelaysNextAttempt) }

func testRetryAfterDelaysNextAttempt(t *testing.T, db testDB) {
	var calls atomic.Int32
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	s := openStore(t, db, nil)
	start(t, s)

	rc := accept(t, s, newEvent("e1", NewDelivery{
		Delivery: httpAction(srv.URL, `{}`),
		Retry:    RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}},
	}))
	id := rc.Deliveries[0].ID
	det := waitStatus(t, s, id, StatusRetrying)
	if det.NextAttemptAt == nil || len(det.Attempts) != 1 {
		t.Fatalf("after a 429: %+v, attempts %v", det.Summary, outcomes(det.Attempts))
	}
	nextAt := *det.NextAttemptAt
	if wait := nextAt.Sub(det.Attempts[0].StartedAt); wait < time.Second {
		t.Errorf("next attempt %s after the first, want at least Retry-After's 1s", wait)
	}
	det = waitStatus(t, s, id, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:retry:429", "2:delivered:200"}) {
		t.Fatalf("attempts %v", got)
	}
	// River keeps milliseconds; allow for its rounding.
	if started := det.Attempts[1].StartedAt; started.Before(nextAt.Add(-2 * time.Millisecond)) {
		t.Errorf("second attempt started %s before next_attempt_at", nextAt.Sub(started))
	}
}

// TestRunsContentStoredBeforeFields: a delivery queued by a version that
// stored its content under a key named after its type ("http": {...})
// is still attempted as it was rendered, after an upgrade.
func TestRunsContentStoredBeforeFields(t *testing.T) { eachDB(t, testRunsContentStoredBeforeFields) }

func testRunsContentStoredBeforeFields(t *testing.T, db testDB) {
	var calls atomic.Int32
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := openStore(t, db, nil)
	start(t, s)
	rc := accept(t, s, newEvent("e1", NewDelivery{
		Delivery: httpAction(srv.URL+"/new", `{"new":true}`),
		Retry:    RetryPolicy{Schedule: []time.Duration{time.Second}},
	}))
	id := rc.Deliveries[0].ID
	if first := next(t, seen); first.Path != "/new" {
		t.Fatalf("first attempt went to %s", first.Path)
	}
	legacy := `{"id":"` + id + `","event_id":"ce-1","address":"order.http.notify","trigger":"order","type":"http","name":"notify","attempt":0,` +
		`"http":{"method":"PUT","url":[{"lit":"` + srv.URL + `/old"}],"headers":[{"name":"X-Legacy","value":[{"lit":"yes"}]}],` +
		`"body":[{"lit":"{\"legacy\":true}"}],"content_type":"application/json","timeout":5000000000}}`
	if _, err := s.db.ExecContext(context.Background(), s.sql(`UPDATE hookline_delivery SET content = ? WHERE id = ?`), legacy, id); err != nil {
		t.Fatal(err)
	}
	second := next(t, seen)
	if second.Method != http.MethodPut || second.Path != "/old" || second.Header.Get("X-Legacy") != "yes" || second.Body != `{"legacy":true}` {
		t.Errorf("the retry of the stored content sent %s %s %q with X-Legacy %q", second.Method, second.Path, second.Body, second.Header.Get("X-Legacy"))
	}
	waitStatus(t, s, id, StatusDelivered)
}

// A retry by hand starts a fresh run of the retry policy, of a dead letter
// as of a delivery still retrying; the attempt that ends a run for want of
// attempts reads "failed".
func TestManualRetryStartsAFreshRun(t *testing.T) { eachDB(t, testManualRetryStartsAFreshRun) }

func testManualRetryStartsAFreshRun(t *testing.T, db testDB) {
	var fixed atomic.Bool
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := openStore(t, db, nil)
	start(t, s)
	ctx := context.Background()

	dead := accept(t, s, newEvent("dead", NewDelivery{
		Delivery: httpAction(srv.URL, `{}`),
		Retry:    RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond}, MaxAttempts: 2},
	})).Deliveries[0].ID
	det := waitStatus(t, s, dead, StatusFailed)
	if got, want := outcomes(det.Attempts), []string{"1:retry:503", "2:failed:503"}; !slices.Equal(got, want) {
		t.Fatalf("attempts %v, want %v", got, want)
	}
	if err := s.Retry(ctx, dead); err != nil {
		t.Fatal(err)
	}
	waitAttempts(t, s, dead, 4)
	det = waitStatus(t, s, dead, StatusFailed)
	if got, want := outcomes(det.Attempts), []string{"1:retry:503", "2:failed:503", "3:retry:503", "4:failed:503"}; !slices.Equal(got, want) {
		t.Errorf("attempts after a retry by hand %v, want a second run of two: %v", got, want)
	}

	// Still retrying, on the second delay (an hour): a retry by hand runs
	// now and starts the schedule over, from the first delay.
	busy := accept(t, s, newEvent("busy", NewDelivery{
		Delivery: httpAction(srv.URL, `{}`),
		Retry:    RetryPolicy{Schedule: []time.Duration{10 * time.Millisecond, time.Hour}, MaxAttempts: 3},
	})).Deliveries[0].ID
	waitAttempts(t, s, busy, 2)
	waitStatus(t, s, busy, StatusRetrying)
	if err := s.Retry(ctx, busy); err != nil {
		t.Fatal(err)
	}
	det = waitAttempts(t, s, busy, 4)
	if got, want := outcomes(det.Attempts), []string{"1:retry:503", "2:retry:503", "3:retry:503", "4:retry:503"}; !slices.Equal(got, want) {
		t.Errorf("attempts %v, want %v", got, want)
	}
	det = waitStatus(t, s, busy, StatusRetrying)
	if det.NextAttemptAt == nil || det.NextAttemptAt.Sub(det.Attempts[3].StartedAt) < 30*time.Minute {
		t.Errorf("after the run's second attempt, next at %v, want the second delay (an hour)", det.NextAttemptAt)
	}

	fixed.Store(true)
	if err := s.Retry(ctx, dead); err != nil {
		t.Fatal(err)
	}
	det = waitStatus(t, s, dead, StatusDelivered)
	if got := outcomes(det.Attempts); len(got) != 5 || got[4] != "5:delivered:200" {
		t.Errorf("attempts %v", got)
	}
}
