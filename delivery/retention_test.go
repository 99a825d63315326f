package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/hookline/hookline/actions"
)

// retentionStore is a store on db whose clock is clk and whose executor
// answers by action name (byName), with what needs closing before it.
func retentionStore(t *testing.T, db testDB, clk *clock, edit func(*Config)) *Store {
	t.Helper()
	exec := &byName{release: make(chan struct{})}
	s := openStore(t, db, func(c *Config) {
		c.Now = clk.Now
		c.Executors = map[string]actions.Executor{"http": exec}
		if edit != nil {
			edit(c)
		}
	})
	t.Cleanup(sync.OnceFunc(func() { close(exec.release) })) // before Close, which waits for "held"
	return s
}

// namedEvent is an event firing one delivery per name (byName decides how
// each ends), each retried after an hour.
func namedEvent(ceID string, names ...string) NewEvent {
	var ds []NewDelivery
	for _, name := range names {
		d := httpAction("http://127.0.0.1:9/unused", `{}`)
		d.Name = name
		ds = append(ds, NewDelivery{Delivery: d, Retry: RetryPolicy{Schedule: []time.Duration{time.Hour}}})
	}
	return newEvent(ceID, ds...)
}

// gone fails unless the event and its deliveries are gone.
func checkGone(t *testing.T, s *Store, rc Receipt) {
	t.Helper()
	if _, err := s.Event(context.Background(), rc.EventID); !errors.Is(err, ErrNotFound) {
		t.Errorf("event %s: %v, want it removed", rc.EventID, err)
	}
	for _, d := range rc.Deliveries {
		if _, err := s.Delivery(context.Background(), d.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("delivery %s: %v, want it removed", d.ID, err)
		}
	}
}

// checkKept fails unless the event and its deliveries are there, each
// delivery with attempts attempts.
func checkKept(t *testing.T, s *Store, rc Receipt, attempts int) {
	t.Helper()
	ev, err := s.Event(context.Background(), rc.EventID)
	if err != nil {
		t.Errorf("event %s: %v, want it kept", rc.EventID, err)
		return
	}
	if len(ev.Deliveries) != len(rc.Deliveries) {
		t.Errorf("event %s has %d deliveries, want %d", rc.EventID, len(ev.Deliveries), len(rc.Deliveries))
	}
	for _, d := range rc.Deliveries {
		det, err := s.Delivery(context.Background(), d.ID)
		if err != nil {
			t.Errorf("delivery %s: %v, want it kept", d.ID, err)
			continue
		}
		if len(det.Attempts) < attempts {
			t.Errorf("delivery %s (%s) has attempts %v, want %d", d.ID, det.Status, outcomes(det.Attempts), attempts)
		}
	}
}

func TestPurgeRemovesOnlyFinishedEvents(t *testing.T) { eachDB(t, testPurgeRemovesOnlyFinishedEvents) }

// testPurgeRemovesOnlyFinishedEvents: an event goes, whole, when it is
// older than the cutoff and every delivery of it is final and last changed
// before the cutoff; anything else stays, whole.
func testPurgeRemovesOnlyFinishedEvents(t *testing.T, db testDB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := retentionStore(t, db, clk, nil)

	withID := namedEvent("delivered", "ok")
	withID.Identifiers = []string{"email:ann@example.com"}
	delivered := accept(t, s, withID)
	failed := accept(t, s, namedEvent("failed", "bad"))
	none := accept(t, s, namedEvent("none")) // fired nothing
	retrying := accept(t, s, namedEvent("retrying", "busy"))
	mixed := accept(t, s, namedEvent("mixed", "ok", "held")) // one delivered, one pending
	retried := accept(t, s, namedEvent("retried", "bad"))
	start(t, s)
	waitCounts(t, s, map[Status]int{StatusDelivered: 2, StatusFailed: 2, StatusRetrying: 1, StatusPending: 1})

	// After the cutoff: a dead letter retried by hand (failed again) and a
	// new event.
	clk.Set(t0.Add(2 * time.Hour))
	if err := s.Retry(ctx, retried.Deliveries[0].ID); err != nil {
		t.Fatal(err)
	}
	waitDelivery(t, s, retried.Deliveries[0].ID, func(d *Detail) (bool, string) {
		return len(d.Attempts) == 2 && d.Status == StatusFailed, fmt.Sprintf("%s after %v", d.Status, outcomes(d.Attempts))
	})
	recent := accept(t, s, namedEvent("recent", "ok"))
	waitStatus(t, s, recent.Deliveries[0].ID, StatusDelivered)

	if n := count(t, s, s.sql(`SELECT COUNT(*) FROM hookline_identifier WHERE event_id = ?`), delivered.EventID); n != 1 {
		t.Fatalf("%d erasure index rows of an event carrying an e-mail address, want 1", n)
	}
	res, err := s.Purge(ctx, t0.Add(time.Hour))
	if want := (PurgeResult{Events: 3, Deliveries: 2, Attempts: 2}); err != nil || res != want {
		t.Errorf("Purge = %+v, %v; want %+v", res, err, want)
	}
	for _, rc := range []Receipt{delivered, failed, none} {
		checkGone(t, s, rc)
	}
	if n := count(t, s, s.sql(`SELECT COUNT(*) FROM hookline_identifier WHERE event_id = ?`), delivered.EventID); n != 0 {
		t.Errorf("%d erasure index rows left of a removed event", n)
	}
	checkKept(t, s, retrying, 1)
	checkKept(t, s, mixed, 0)
	checkKept(t, s, retried, 2)
	checkKept(t, s, recent, 1)
	if got := s.Removed(); got != res {
		t.Errorf("Removed = %+v, want %+v", got, res)
	}
	if res, err := s.Purge(ctx, t0.Add(time.Hour)); err != nil || res != (PurgeResult{}) {
		t.Errorf("second Purge = %+v, %v; want nothing removed", res, err)
	}
}

func TestPurgeGoesInBatches(t *testing.T) { eachDB(t, testPurgeGoesInBatches) }

// testPurgeGoesInBatches: a purge takes events a batch per transaction,
// oldest first, and walks past those it must keep, a whole batch of them
// included.
func testPurgeGoesInBatches(t *testing.T, db testDB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := retentionStore(t, db, clk, nil) // not started: deliveries stay pending
	s.purgeBatch = 3

	// Seven events that may go, then a batch of pending ones, then events
	// that may go between pending ones.
	var removable, pending []Receipt
	for i := range 16 {
		clk.Set(t0.Add(time.Duration(i) * time.Second))
		switch {
		case i >= 7 && (i < 10 || i%2 == 1):
			pending = append(pending, accept(t, s, namedEvent(fmt.Sprint("pending", i), "ok")))
		default:
			removable = append(removable, accept(t, s, namedEvent(fmt.Sprint("none", i))))
		}
	}
	before := t0.Add(time.Hour)

	// A purge out of time stops after one batch.
	res, done, err := s.purge(ctx, before, time.Unix(1, 0))
	if want := (PurgeResult{Events: 3}); err != nil || done || res != want {
		t.Errorf("purge past its deadline = %+v, done %v, %v; want %+v, not done", res, done, err, want)
	}
	checkGone(t, s, removable[0])
	checkKept(t, s, removable[3], 0)

	res, err = s.Purge(ctx, before)
	if want := (PurgeResult{Events: int64(len(removable) - 3)}); err != nil || res != want {
		t.Errorf("Purge = %+v, %v; want %+v", res, err, want)
	}
	for _, rc := range removable {
		checkGone(t, s, rc)
	}
	for _, rc := range pending {
		checkKept(t, s, rc, 0)
	}
}

func TestRetentionJobRuns(t *testing.T) { eachDB(t, testRetentionJobRuns) }

// testRetentionJobRuns: with Retention set, River's periodic job purges
// what has grown older than it, again and again.
func testRetentionJobRuns(t *testing.T, db testDB) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := retentionStore(t, db, clk, func(c *Config) {
		c.Retention = time.Hour
		c.RetentionInterval = 50 * time.Millisecond
	})
	old := accept(t, s, namedEvent("old", "ok"))
	held := accept(t, s, namedEvent("held", "held"))
	start(t, s)
	waitStatus(t, s, old.Deliveries[0].ID, StatusDelivered)
	clk.Set(t0.Add(2 * time.Hour))
	young := accept(t, s, namedEvent("young", "ok"))
	waitStatus(t, s, young.Deliveries[0].ID, StatusDelivered)
	waitGone(t, s, old.EventID)
	checkKept(t, s, held, 0)
	checkKept(t, s, young, 1)

	// Later runs purge what has grown old since.
	clk.Set(t0.Add(4 * time.Hour))
	waitGone(t, s, young.EventID)
	checkKept(t, s, held, 0)
	// Counted just after the purge's commit, which waitGone saw.
	want := PurgeResult{Events: 2, Deliveries: 2, Attempts: 2}
	for deadline := time.Now().Add(waitTimeout); s.Removed() != want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := s.Removed(); got != want {
		t.Errorf("Removed = %+v, want 2 of each", got)
	}
}

// waitGone polls until event id is removed.
func waitGone(t *testing.T, s *Store, id string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		_, err := s.Event(context.Background(), id)
		if errors.Is(err, ErrNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s still there after %s", id, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRetentionZeroKeepsEverything(t *testing.T) { eachDB(t, testRetentionZeroKeepsEverything) }

// testRetentionZeroKeepsEverything: without Retention nothing is
// scheduled, and a retention job queued elsewhere (another node, an earlier
// run) removes nothing here.
func testRetentionZeroKeepsEverything(t *testing.T, db testDB) {
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := retentionStore(t, db, clk, nil)
	if jobs := s.periodicJobs(); len(jobs) != 0 {
		t.Errorf("%d periodic jobs without retention", len(jobs))
	}
	old := accept(t, s, namedEvent("old"))
	clk.Set(t0.Add(10000 * time.Hour))
	start(t, s)
	ins, err := s.client.Insert(ctx, purgeArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for {
		job, err := s.client.JobGet(ctx, ins.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if job.State == rivertype.JobStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention job %s after %s", job.State, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkKept(t, s, old, 0)
	if got := s.Removed(); got != (PurgeResult{}) {
		t.Errorf("Removed = %+v, want nothing", got)
	}
}

func TestStoreSize(t *testing.T) { eachDB(t, testStoreSize) }

// testStoreSize: the size grows as events are stored.
func testStoreSize(t *testing.T, db testDB) {
	ctx := context.Background()
	s := openStore(t, db, nil)
	before, err := s.Size(ctx)
	if err != nil || before <= 0 {
		t.Fatalf("Size = %d, %v", before, err)
	}
	for i := range 200 {
		accept(t, s, bigEvent(fmt.Sprint("big", i)))
	}
	after, err := s.Size(ctx)
	if err != nil || after <= before {
		t.Errorf("Size after 200 events of 4 KiB = %d, %v; before %d", after, err, before)
	}
}

// bigEvent is an event of about 4 KiB that fires nothing, hard to
// compress (PostgreSQL compresses large values).
func bigEvent(ceID string) NewEvent {
	ev := newEvent(ceID)
	var pad [2048]byte
	for i := range pad {
		pad[i] = byte(i*7919 + len(ceID)*31)
	}
	ev.Raw = fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/test","type":"order.created","data":%q}`, ceID, fmt.Sprintf("%x", pad))
	return ev
}

func TestParseAge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"720h", 720 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"0", 0, false},
		{"0d", 0, false},
		{"90m", 90 * time.Minute, false},
		{"1.5d", 0, true},
		{"-1h", 0, true},
		{"-3d", 0, true},
		{"d", 0, true},
		{"thirty days", 0, true},
		{"", 0, true},
	} {
		got, err := ParseAge(c.in)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseAge(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseBefore(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-01-31T00:00:00Z", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), false},
		{"2026-01-31T01:00:00+01:00", time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), false},
		{"720h", now.Add(-720 * time.Hour), false},
		{"30d", now.Add(-30 * 24 * time.Hour), false},
		{"2026-01-31", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		{"-1h", time.Time{}, true},
		{"", time.Time{}, true},
	} {
		got, err := ParseBefore(c.in, now)
		if !got.Equal(c.want) || (err != nil) != c.err {
			t.Errorf("ParseBefore(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// River's finished jobs are kept no longer than our rows, and as River
// keeps them by default when our rows live longer (or for ever).
func TestFinishedJobRetention(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		retention time.Duration
		want      jobRetention
	}{
		{0, jobRetention{}},
		{time.Minute, jobRetention{time.Minute, time.Minute, time.Minute}},
		{48 * time.Hour, jobRetention{24 * time.Hour, 24 * time.Hour, 48 * time.Hour}},
		{30 * 24 * time.Hour, jobRetention{24 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}},
	} {
		s := &Store{cfg: Config{Retention: c.retention}}
		if got := s.finishedJobRetention(); got != c.want {
			t.Errorf("Retention %v: %+v, want %+v", c.retention, got, c.want)
		}
	}
}

// A batch halves when it took longer than the target and doubles when it
// took less than half of it, within 1 and the largest.
func TestNextBatch(t *testing.T) {
	t.Parallel()
	const target = time.Millisecond
	for _, c := range []struct {
		n    int
		took time.Duration
		want int
	}{
		{16, 2 * time.Millisecond, 8},
		{1, 5 * time.Millisecond, 1},
		{16, 100 * time.Microsecond, 32},
		{400, 100 * time.Microsecond, 500},
		{500, 100 * time.Microsecond, 500},
		{16, 700 * time.Microsecond, 16},
		{16, time.Millisecond, 16},
	} {
		if got := nextBatch(c.n, c.took, target, 500); got != c.want {
			t.Errorf("nextBatch(%d, %s) = %d, want %d", c.n, c.took, got, c.want)
		}
	}
}

// finalStatuses, which retention's SQL is written with, are exactly the
// statuses Status.final says are final.
func TestFinalStatuses(t *testing.T) {
	t.Parallel()
	for _, st := range []Status{StatusPending, StatusRetrying, StatusDelivered, StatusFailed, StatusScheduled, StatusCanceled, StatusExpired} {
		if !st.valid() {
			t.Errorf("%s is not valid: is this list out of date?", st)
		}
		if st.Final() != slices.Contains(finalStatuses, st) {
			t.Errorf("%s: Final() is %v, in finalStatuses %v", st, st.Final(), slices.Contains(finalStatuses, st))
		}
	}
}
