package delivery

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is the one clock of a store under test: moving it makes
// scheduled deliveries due, for River too (riverClock).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// scheduled is a delivery to srvURL with name, due in `in`, correlated by corr.
func scheduled(srvURL, name string, due time.Time, corr string) NewDelivery {
	d := httpAction(srvURL+"/"+name, `{}`)
	d.Name, d.Address = name, "order.http."+name
	return NewDelivery{Delivery: d, Schedule: &Schedule{Due: due, Note: "test", Correlation: corr}}
}

func TestScheduledDeliveryWaitsForItsDueTime(t *testing.T) { eachDB(t, testScheduledWaits) }

func testScheduledWaits(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, seen := receiver(t, nil)
	s := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	start(t, s)
	due := clock.Now().Add(2 * time.Hour)
	now := httpAction(srv.URL+"/now", `{}`)
	rc := accept(t, s, newEvent("e1", scheduled(srv.URL, "later", due, "a1"), NewDelivery{Delivery: now}))
	// The immediate one runs; the scheduled one waits, stored with its due time.
	if r := next(t, seen); r.Path != "/now" {
		t.Fatalf("first request to %s, want /now", r.Path)
	}
	waitStatus(t, s, rc.Deliveries[1].ID, StatusDelivered)
	d, err := s.Delivery(context.Background(), rc.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusScheduled || d.DueAt == nil || !d.DueAt.Equal(due) || d.ScheduleNote != "test" {
		t.Fatalf("delivery %+v: want scheduled, due %s", d.Summary, due)
	}
	list, _, err := s.Deliveries(context.Background(), Filter{Status: string(StatusScheduled)})
	if err != nil || len(list) != 1 || list[0].ID != rc.Deliveries[0].ID {
		t.Fatalf("list scheduled = %v, %v", list, err)
	}
	counts, err := s.UndeliveredCounts(context.Background())
	if err != nil || counts[StatusScheduled] != 1 {
		t.Fatalf("counts %v, %v: want 1 scheduled", counts, err)
	}
	// Due: River sees the store's clock.
	clock.Advance(2 * time.Hour)
	if r := next(t, seen); r.Path != "/later" {
		t.Fatalf("request to %s, want /later", r.Path)
	}
	waitStatus(t, s, rc.Deliveries[0].ID, StatusDelivered)
}

func TestScheduledDeliveryCanceledByLaterEvent(t *testing.T) { eachDB(t, testScheduledCanceled) }

func testScheduledCanceled(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, seen := receiver(t, nil)
	s := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	start(t, s)
	due := clock.Now().Add(time.Hour)
	a := accept(t, s, newEvent("invite-a", scheduled(srv.URL, "remind", due, "appt-1")))
	b := accept(t, s, newEvent("invite-b", scheduled(srv.URL, "remind", due, "appt-2")))
	other := accept(t, s, newEvent("invite-c", scheduled(srv.URL, "other", due, "appt-1")))
	// A confirmation of appointment 1 cancels its reminder only: not appointment 2's,
	// nor another action's with the same value.
	conf := newEvent("confirm-a")
	conf.Cancels = []Cancel{{Address: "order.http.remind", Correlation: "appt-1"}}
	rc := accept(t, s, conf)
	if rc.Canceled != 1 {
		t.Fatalf("canceled %d, want 1", rc.Canceled)
	}
	d, err := s.Delivery(context.Background(), a.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusCanceled || d.CanceledBy != rc.EventID {
		t.Fatalf("delivery %+v: want canceled by %s", d.Summary, rc.EventID)
	}
	// The same event again is a duplicate: it cancels nothing more.
	if again := accept(t, s, conf); !again.Duplicate || again.Canceled != 0 {
		t.Errorf("duplicate receipt %+v", again)
	}
	// When due, the others run and the canceled one's job does nothing.
	clock.Advance(time.Hour)
	got := map[string]bool{next(t, seen).Path: true, next(t, seen).Path: true}
	if !got["/remind"] || !got["/other"] {
		t.Fatalf("requests %v, want /remind (appointment 2) and /other", got)
	}
	waitStatus(t, s, b.Deliveries[0].ID, StatusDelivered)
	waitStatus(t, s, other.Deliveries[0].ID, StatusDelivered)
	select {
	case r := <-seen:
		t.Fatalf("unexpected request %s", r.Path)
	case <-time.After(200 * time.Millisecond):
	}
	if d, _ := s.Delivery(context.Background(), a.Deliveries[0].ID); d.Status != StatusCanceled || len(d.Attempts) != 0 {
		t.Errorf("canceled delivery %+v ran", d.Summary)
	}
	// A canceled delivery can be run by hand.
	if err := s.Retry(context.Background(), a.Deliveries[0].ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, a.Deliveries[0].ID, StatusDelivered)
}

func TestScheduledDeliveryGateAndLateAfter(t *testing.T) { eachDB(t, testScheduledGate) }

func testScheduledGate(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, seen := receiver(t, nil)
	var mu sync.Mutex
	removed := map[string]string{}
	var lags []time.Duration
	s := openStore(t, db, func(c *Config) {
		c.Now = clock.Now
		c.Gate = func(addr string) string { mu.Lock(); defer mu.Unlock(); return removed[addr] }
		c.DueLag = func(d time.Duration) { mu.Lock(); defer mu.Unlock(); lags = append(lags, d) }
	})
	due := clock.Now().Add(time.Hour)
	late := scheduled(srv.URL, "late", due, "")
	late.Schedule.LateAfter = 10 * time.Minute
	gone := scheduled(srv.URL, "gone", due, "")
	ok := scheduled(srv.URL, "ok", due, "")
	rc := accept(t, s, newEvent("e1", late, gone, ok))
	mu.Lock()
	removed["order.http.gone"] = "the action was removed by a reload"
	mu.Unlock()
	// The server was down past due + late_after: "late" expires, "gone" is
	// canceled with the gate's reason, "ok" runs late.
	clock.Advance(time.Hour + 11*time.Minute)
	start(t, s)
	if r := next(t, seen); r.Path != "/ok" {
		t.Fatalf("request to %s, want /ok", r.Path)
	}
	d := waitStatus(t, s, rc.Deliveries[0].ID, StatusExpired)
	if !strings.Contains(d.LastError, "late_after") || len(d.Attempts) != 0 {
		t.Errorf("expired delivery %+v", d.Summary)
	}
	d = waitStatus(t, s, rc.Deliveries[1].ID, StatusCanceled)
	if d.CanceledBy != "the action was removed by a reload" {
		t.Errorf("canceled by %q", d.CanceledBy)
	}
	waitStatus(t, s, rc.Deliveries[2].ID, StatusDelivered)
	mu.Lock()
	defer mu.Unlock()
	if len(lags) != 1 || lags[0] != 11*time.Minute {
		t.Errorf("lags %v, want [11m]: the one that ran, measured on the store's clock", lags)
	}
}

func TestScheduledDeliverySurvivesRestart(t *testing.T) { eachDB(t, testScheduledRestart) }

func testScheduledRestart(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, seen := receiver(t, nil)
	s := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	start(t, s)
	rc := accept(t, s, newEvent("e1", scheduled(srv.URL, "later", clock.Now().Add(time.Hour), "")))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour) // came due while the server was down
	s2 := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	start(t, s2)
	if r := next(t, seen); r.Path != "/later" {
		t.Fatalf("request to %s, want /later", r.Path)
	}
	waitStatus(t, s2, rc.Deliveries[0].ID, StatusDelivered)
}

func TestCancelByHand(t *testing.T) { eachDB(t, testCancelByHand) }

func testCancelByHand(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, _ := receiver(t, nil)
	s := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	rc := accept(t, s, newEvent("e1", scheduled(srv.URL, "later", clock.Now().Add(time.Hour), "")))
	id := rc.Deliveries[0].ID
	if err := s.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Delivery(context.Background(), id)
	if d.Status != StatusCanceled || d.CanceledBy != "by hand" {
		t.Errorf("delivery %+v", d.Summary)
	}
	if err := s.Cancel(context.Background(), id); !errors.Is(err, ErrNotWaiting) || !strings.Contains(err.Error(), "it is canceled") {
		t.Errorf("cancel again: %v, want ErrNotWaiting saying it is canceled", err)
	}
	if err := s.Cancel(context.Background(), "dlv_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v", err)
	}
}

// The cancelling lookup reads the partial index of waiting deliveries,
// not the table: its cost follows the deliveries of one action and value.
func TestCancelUsesTheWaitingIndex(t *testing.T) {
	s := openStore(t, newTestDB(t, "sqlite"), nil)
	plan := queryPlan(t, s, cancelWaitingSQL, "e", 1, "a", "b", 1)
	if !strings.Contains(plan, "hookline_delivery_waiting") {
		t.Errorf("plan %q does not use hookline_delivery_waiting", plan)
	}
}

// An erasure cancels its events' scheduled deliveries, and counts as
// canceled only those it canceled, not one an event canceled before.
func TestErasureCancelsScheduled(t *testing.T) { eachDB(t, testErasureCancelsScheduled) }

func testErasureCancelsScheduled(t *testing.T, db testDB) {
	clock := newTestClock()
	srv, _ := receiver(t, nil)
	s := openStore(t, db, func(c *Config) { c.Now = clock.Now })
	due := clock.Now().Add(time.Hour)
	rc := accept(t, s, newEvent("e1", scheduled(srv.URL, "later", due, ""), scheduled(srv.URL, "remind", due, "appt-1")))
	conf := newEvent("confirm")
	conf.Cancels = []Cancel{{Address: "order.http.remind", Correlation: "appt-1"}}
	accept(t, s, conf)
	er, err := s.Erase(context.Background(), EraseRequest{Kind: "event", EventID: rc.EventID})
	if err != nil {
		t.Fatal(err)
	}
	if er.Canceled != 1 {
		t.Errorf("erasure canceled %d, want 1 (the other was canceled by an event before)", er.Canceled)
	}
	d, _ := s.Delivery(context.Background(), rc.Deliveries[0].ID)
	if d.Status != StatusCanceled || d.CanceledBy != canceledByErasure {
		t.Errorf("delivery %+v: want canceled by the erasure", d.Summary)
	}
}
