package delivery

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// slowReceiver holds the first request until the client gives up or
// release is closed, and answers later ones at once. started is closed when
// the first request arrives.
func slowReceiver(t *testing.T, firstStatus int) (url string, started, release chan struct{}, calls *atomic.Int32) {
	started, release, calls = make(chan struct{}), make(chan struct{}), new(atomic.Int32)
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) > 1 {
			return
		}
		close(started)
		select {
		case <-r.Context().Done():
		case <-release:
			w.WriteHeader(firstStatus)
		}
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	return srv.URL, started, release, calls
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestStopCancelsInFlightAndRestartDelivers(t *testing.T) {
	eachDB(t, testStopCancelsInFlightAndRestartDelivers)
}

func testStopCancelsInFlightAndRestartDelivers(t *testing.T, db testDB) {
	url, started, _, calls := slowReceiver(t, http.StatusOK)
	s := openStore(t, db, nil)
	start(t, s)
	id := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(url, `{}`)})).Deliveries[0].ID
	wait(t, started, "the first attempt")

	const grace = 200 * time.Millisecond
	begun := time.Now() // before the deadline is set, which counts from its own now
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v, want the deadline's error", err)
	}
	if took := time.Since(begun); took < grace {
		t.Errorf("Stop returned after %s, before its deadline", took)
	}
	det, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if det.Status != StatusPending || len(det.Attempts) != 0 {
		t.Errorf("after an interrupted attempt: %s with %v", det.Status, outcomes(det.Attempts))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, db, nil)
	start(t, s)
	det = waitStatus(t, s, id, StatusDelivered)
	if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:delivered:200"}) {
		t.Errorf("attempts %v", got)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("receiver saw %d requests, want 2 (the interrupted one and the retry)", n)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop with nothing in flight: %v", err)
	}
}

func TestStopWaitsForInFlight(t *testing.T) { eachDB(t, testStopWaitsForInFlight) }

func testStopWaitsForInFlight(t *testing.T, db testDB) {
	url, started, release, _ := slowReceiver(t, http.StatusOK)
	s := openStore(t, db, nil)
	start(t, s)
	id := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(url, `{}`)})).Deliveries[0].ID
	wait(t, started, "the first attempt")
	stopped := make(chan error)
	go func() { stopped <- s.Stop(context.Background()) }()
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	det, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if det.Status != StatusDelivered {
		t.Errorf("status %s after a graceful stop, want the attempt in flight finished", det.Status)
	}
}

// Retry while an attempt is in flight: that attempt began before the
// request, so another follows it.
func TestRetryDuringAttempt(t *testing.T) { eachDB(t, testRetryDuringAttempt) }

// A retry asked for while an attempt is in flight follows it, whether that
// attempt fails for good or delivers (whose short record then gives way to
// the full one).
func testRetryDuringAttempt(t *testing.T, db testDB) {
	for _, first := range []struct {
		status int
		want   []string
	}{
		{http.StatusBadRequest, []string{"1:permanent:400", "2:delivered:200"}},
		{http.StatusOK, []string{"1:delivered:200", "2:delivered:200"}},
	} {
		url, started, release, _ := slowReceiver(t, first.status)
		s := openStore(t, newTestDB(t, db.kind), nil) // a store of its own: SQLite's is locked by the first
		start(t, s)
		id := accept(t, s, newEvent("e1", NewDelivery{Delivery: httpAction(url, `{}`)})).Deliveries[0].ID
		wait(t, started, "the first attempt")
		if err := s.Retry(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		close(release) // the attempt in flight ends...
		waitAttempts(t, s, id, 2)
		det := waitStatus(t, s, id, StatusDelivered) // ...and the requested one follows
		if got := outcomes(det.Attempts); !slices.Equal(got, first.want) {
			t.Errorf("first answer %d: attempts %v, want %v", first.status, got, first.want)
		}
	}
}
