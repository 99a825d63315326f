package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// waitCounts polls until the store's counts include want.
func waitCounts(t testing.TB, s *Store, want map[Status]int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, err := s.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for st, n := range want {
			ok = ok && got[st] == n
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts %v after %s, want %v", got, waitTimeout, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliveriesFilterAndPaginate(t *testing.T) { eachDB(t, testDeliveriesFilterAndPaginate) }

func testDeliveriesFilterAndPaginate(t *testing.T, db testDB) {
	ok, _ := receiver(t, nil)
	bad, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := openStore(t, db, func(c *Config) { c.Now = clk.Now })
	ctx := context.Background()

	// 30 events a minute apart: even ones fire trigger "a" (delivered),
	// odd ones trigger "b" (dead letters, but for minutes 9, 19 and 29,
	// delivered); then one event firing two actions of trigger "order".
	all := map[string]bool{}
	for i := range 30 {
		clk.Set(t0.Add(time.Duration(i) * time.Minute))
		d := httpAction(ok.URL, `{}`)
		switch {
		case i%2 == 0:
			d.Trigger = "a"
		case i%10 != 9:
			d = httpAction(bad.URL, `{}`)
			fallthrough
		default:
			d.Trigger = "b"
		}
		d.Address = d.Trigger + ".http.notify"
		rc := accept(t, s, newEvent(fmt.Sprint("e", i), NewDelivery{Delivery: d}))
		all[rc.Deliveries[0].ID] = true
	}
	clk.Set(t0.Add(time.Hour))
	audit := httpAction(ok.URL, `{}`)
	audit.Address, audit.Name = "order.http.audit", "audit"
	pair := accept(t, s, newEvent("pair", NewDelivery{Delivery: httpAction(ok.URL, `{}`)}, NewDelivery{Delivery: audit}))
	for _, r := range pair.Deliveries {
		all[r.ID] = true
	}
	start(t, s)
	waitCounts(t, s, map[Status]int{StatusDelivered: 20, StatusFailed: 12})

	// Every page in order, none missing, none twice.
	var got []Summary
	f := Filter{Limit: 7}
	for pages := 0; ; pages++ {
		page, cursor, err := s.Deliveries(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if pages > 10 || (cursor != "" && len(page) != 7) {
			t.Fatalf("page %d: %d rows, cursor %q", pages, len(page), cursor)
		}
		got = append(got, page...)
		if cursor == "" {
			break
		}
		f.Cursor = cursor
	}
	seen := map[string]bool{}
	for i, d := range got {
		if seen[d.ID] || !all[d.ID] {
			t.Errorf("row %d: %s repeated or unknown", i, d.ID)
		}
		seen[d.ID] = true
		if i > 0 {
			prev := got[i-1]
			if d.CreatedAt.After(prev.CreatedAt) || (d.CreatedAt.Equal(prev.CreatedAt) && d.ID > prev.ID) {
				t.Errorf("row %d (%s %s) is newer than row %d", i, d.CreatedAt, d.ID, i-1)
			}
		}
	}
	if len(seen) != len(all) {
		t.Errorf("pages held %d deliveries, want %d", len(seen), len(all))
	}
	if !got[0].CreatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("first row created %s, want the newest", got[0].CreatedAt)
	}

	// An action's deliveries in every status (read a status at a time,
	// then merged), and a trigger's (each of its actions' in each status,
	// merged), page exactly as the whole list does: b.http.notify's are
	// delivered and failed interleaved.
	for _, f := range []Filter{{Address: "b.http.notify"}, {Trigger: "b"}, {Trigger: "order"}, {Trigger: "a", Since: t0.Add(5 * time.Minute)}} {
		var want []Summary
		for _, d := range got {
			if (f.Address == "" || d.Address == f.Address) && (f.Trigger == "" || d.Trigger == f.Trigger) && !d.CreatedAt.Before(f.Since) {
				want = append(want, d)
			}
		}
		var paged []Summary
		f.Limit = 4
		for pages := 0; ; pages++ {
			page, cursor, err := s.Deliveries(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if pages > 10 || (cursor != "" && len(page) != 4) {
				t.Fatalf("%+v, page %d: %d rows, cursor %q", f, pages, len(page), cursor)
			}
			paged = append(paged, page...)
			if cursor == "" {
				break
			}
			f.Cursor = cursor
		}
		if len(paged) != len(want) || len(want) == 0 {
			t.Errorf("%+v: %d deliveries, want %d", f, len(paged), len(want))
		}
		for i := range min(len(paged), len(want)) {
			if paged[i].ID != want[i].ID {
				t.Errorf("%+v, row %d: %s, want %s", f, i, paged[i].ID, want[i].ID)
			}
		}
	}

	list := func(f Filter) []Summary {
		t.Helper()
		out, cursor, err := s.Deliveries(ctx, f)
		if err != nil || cursor != "" {
			t.Fatalf("Deliveries(%+v): cursor %q, %v", f, cursor, err)
		}
		return out
	}
	for _, d := range list(Filter{Status: "failed"}) {
		if d.Status != StatusFailed || d.Trigger != "b" || d.LastError == "" {
			t.Errorf("status=failed listed %+v", d)
		}
	}
	if n := len(list(Filter{Status: "failed"})); n != 12 {
		t.Errorf("status=failed: %d", n)
	}
	if n := len(list(Filter{Trigger: "a"})); n != 15 {
		t.Errorf("trigger=a: %d", n)
	}
	byEvent := list(Filter{EventID: pair.EventID})
	if len(byEvent) != 2 || !all[byEvent[0].ID] || byEvent[0].EventID != pair.EventID {
		t.Errorf("event_id: %+v", byEvent)
	}
	window := list(Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute)})
	if len(window) != 10 || !window[0].CreatedAt.Equal(t0.Add(19*time.Minute)) || !window[9].CreatedAt.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("since/until: %d rows", len(window))
	}
	if n := len(list(Filter{Address: "b.http.notify", Trigger: "b"})); n != 15 {
		t.Errorf("address and b: %d", n)
	}
	if n := len(list(Filter{Address: "a.http.notify", Trigger: "b"})); n != 0 {
		t.Errorf("a's address and b: %d", n)
	}
	if n := len(list(Filter{Address: "b.http.notify", Status: "failed", Since: t0.Add(10 * time.Minute)})); n != 8 {
		t.Errorf("address, failed, since: %d", n)
	}
	if n := len(list(Filter{Address: "other.http.notify"})); n != 0 {
		t.Errorf("another address: %d", n)
	}
	if n := len(list(Filter{Status: "delivered", Trigger: "b"})); n != 3 {
		t.Errorf("delivered and b: %d", n)
	}
	if n := len(list(Filter{Trigger: "b.http"})); n != 0 {
		t.Errorf("trigger b.http: %d", n)
	}
	if n := len(list(Filter{Limit: 10_000})); n != 32 {
		t.Errorf("large limit: %d", n)
	}
	if _, _, err := s.Deliveries(ctx, Filter{Status: "lost"}); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("unknown status: %v", err)
	}
	if _, _, err := s.Deliveries(ctx, Filter{Cursor: "!!"}); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("bad cursor: %v", err)
	}

	ev, err := s.Event(ctx, pair.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if ev.CEID != "pair" || ev.Source != "/test" || ev.Type != "order.created" || !ev.ReceivedAt.Equal(t0.Add(time.Hour)) ||
		len(ev.Deliveries) != 2 || ev.Deliveries[0].ID != pair.Deliveries[0].ID || ev.Deliveries[1].ID != pair.Deliveries[1].ID {
		t.Errorf("event %+v", ev)
	}
	if string(ev.Raw) != string(newEvent("pair").Raw) {
		t.Errorf("raw %s", ev.Raw)
	}
	if _, err := s.Event(ctx, "evt_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Event(unknown): %v", err)
	}
	if _, err := s.Delivery(ctx, "dlv_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delivery(unknown): %v", err)
	}
}

func TestRetryMatchingRequeuesDeadLetters(t *testing.T) {
	eachDB(t, testRetryMatchingRequeuesDeadLetters)
}

func testRetryMatchingRequeuesDeadLetters(t *testing.T, db testDB) {
	var fixed atomic.Bool
	flaky, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
	})
	ok, _ := receiver(t, nil)
	s := openStore(t, db, nil)
	start(t, s)
	ctx := context.Background()

	var dead []string
	for i := range 5 {
		rc := accept(t, s, newEvent(fmt.Sprint("dead", i), NewDelivery{Delivery: httpAction(flaky.URL, `{}`)}))
		dead = append(dead, rc.Deliveries[0].ID)
	}
	fine := accept(t, s, newEvent("fine", NewDelivery{Delivery: httpAction(ok.URL, `{}`)})).Deliveries[0].ID
	waitCounts(t, s, map[Status]int{StatusFailed: 5, StatusDelivered: 1})

	fixed.Store(true)
	n, err := s.RetryMatching(ctx, Filter{Status: "failed"})
	if err != nil || n != 5 {
		t.Fatalf("RetryMatching = %d, %v; want 5", n, err)
	}
	waitCounts(t, s, map[Status]int{StatusDelivered: 6})
	for _, id := range dead {
		det, err := s.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcomes(det.Attempts); !slices.Equal(got, []string{"1:permanent:422", "2:delivered:200"}) {
			t.Errorf("%s: attempts %v", id, got)
		}
	}
	if det, _ := s.Delivery(ctx, fine); len(det.Attempts) != 1 {
		t.Errorf("the delivered one was retried: %v", outcomes(det.Attempts))
	}
	if n, err := s.RetryMatching(ctx, Filter{Status: "failed"}); err != nil || n != 0 {
		t.Errorf("second RetryMatching = %d, %v; want 0", n, err)
	}
	if _, err := s.RetryMatching(ctx, Filter{Status: "nope"}); !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("bad filter: %v", err)
	}
}

func TestUndeliveredCounts(t *testing.T) { eachDB(t, testUndeliveredCounts) }

// byName answers each attempt by the action's name, so that the test
// decides which status every delivery reaches.
type byName struct {
	fixed   atomic.Bool   // "bad" delivers from now on
	release chan struct{} // "held" answers once closed
}

func (e *byName) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	switch d.Name {
	case "bad":
		if !e.fixed.Load() {
			return actions.Outcome{Status: actions.Permanent, Error: "refused"}
		}
	case "busy":
		return actions.Outcome{Status: actions.Retry, Error: "busy"}
	case "held":
		select {
		case <-e.release:
		case <-ctx.Done():
			return actions.Outcome{Status: actions.Retry, Error: ctx.Err().Error()}
		}
	}
	return actions.Outcome{Status: actions.Delivered}
}

// testUndeliveredCounts puts deliveries in every status, and moves some
// between them, checking UndeliveredCounts against Counts (which reads
// every row) whenever nothing is in motion.
func testUndeliveredCounts(t *testing.T, db testDB) {
	exec := &byName{release: make(chan struct{})}
	s := openStore(t, db, func(c *Config) { c.Executors = map[string]actions.Executor{"http": exec} })
	unblock := sync.OnceFunc(func() { close(exec.release) })
	t.Cleanup(unblock) // runs before the store's Close, which waits for attempts
	ctx := context.Background()
	check := func(want map[Status]int) {
		t.Helper()
		got, err := s.UndeliveredCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want[StatusScheduled] = 0 // none of these waits
		if !maps.Equal(got, want) {
			t.Errorf("UndeliveredCounts = %v, want %v", got, want)
		}
		all, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Delivered, canceled and expired are final: not counted.
		delete(all, StatusDelivered)
		delete(all, StatusCanceled)
		delete(all, StatusExpired)
		if !maps.Equal(got, all) {
			t.Errorf("UndeliveredCounts = %v, Counts without delivered = %v", got, all)
		}
	}
	check(map[Status]int{StatusPending: 0, StatusRetrying: 0, StatusFailed: 0})

	named := func(ceID, name string) NewEvent {
		d := httpAction("http://127.0.0.1:9/unused", `{}`)
		d.Name = name
		return newEvent(ceID, NewDelivery{Delivery: d, Retry: RetryPolicy{Schedule: []time.Duration{time.Hour}}})
	}
	var dead []string
	for i := range 3 {
		dead = append(dead, accept(t, s, named(fmt.Sprint("bad", i), "bad")).Deliveries[0].ID)
	}
	for i := range 2 {
		accept(t, s, named(fmt.Sprint("ok", i), "ok"))
	}
	accept(t, s, named("busy", "busy"))
	accept(t, s, named("held", "held")) // pending while its attempt is held
	check(map[Status]int{StatusPending: 7, StatusRetrying: 0, StatusFailed: 0})

	start(t, s)
	waitCounts(t, s, map[Status]int{StatusPending: 1, StatusRetrying: 1, StatusDelivered: 2, StatusFailed: 3})
	check(map[Status]int{StatusPending: 1, StatusRetrying: 1, StatusFailed: 3})

	// A dead letter retried by hand leaves failed; the held attempt ends.
	exec.fixed.Store(true)
	if err := s.Retry(ctx, dead[0]); err != nil {
		t.Fatal(err)
	}
	unblock()
	waitCounts(t, s, map[Status]int{StatusPending: 0, StatusRetrying: 1, StatusDelivered: 4, StatusFailed: 2})
	check(map[Status]int{StatusPending: 0, StatusRetrying: 1, StatusFailed: 2})
}

// Pending deliveries are not in the address index (migration 11): an
// action's and a trigger's lists and counts find them in the status
// index, beside the others from the address index, whether the action
// has only pending deliveries or some of each.
func TestPendingDeliveriesAreListedAndCounted(t *testing.T) {
	eachDB(t, testPendingDeliveriesAreListedAndCounted)
}

func testPendingDeliveriesAreListedAndCounted(t *testing.T, db testDB) {
	ok, _ := receiver(t, nil)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := openStore(t, db, func(c *Config) { c.Now = clk.Now })
	ctx := context.Background()
	action := func(trigger, name string) *actions.Delivery {
		d := httpAction(ok.URL, `{}`)
		d.Trigger, d.Name, d.Address = trigger, name, trigger+".http."+name
		return d
	}
	// Delivered first: trigger "t", actions "done" and "mixed".
	for i := range 4 {
		clk.Set(t0.Add(time.Duration(i) * time.Minute))
		accept(t, s, newEvent(fmt.Sprint("d", i), NewDelivery{Delivery: action("t", "done")}, NewDelivery{Delivery: action("t", "mixed")}))
	}
	start(t, s)
	waitCounts(t, s, map[Status]int{StatusDelivered: 8})
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Then pending, the workers stopped: "mixed" again and "new", which
	// has nothing else; trigger "only" has pending deliveries alone.
	for i := range 3 {
		clk.Set(t0.Add(time.Duration(10+i) * time.Minute))
		accept(t, s, newEvent(fmt.Sprint("p", i), NewDelivery{Delivery: action("t", "mixed")}, NewDelivery{Delivery: action("t", "new")},
			NewDelivery{Delivery: action("only", "one")}))
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery WHERE status = 'pending'`); n != 9 {
		t.Fatalf("%d pending deliveries, want 9", n)
	}

	for _, c := range []struct {
		f               Filter
		pending, others int
	}{
		{Filter{Address: "t.http.mixed"}, 3, 4},
		{Filter{Address: "t.http.new"}, 3, 0},
		{Filter{Address: "t.http.done"}, 0, 4},
		{Filter{Address: "t.http.mixed", Status: "pending"}, 3, 0},
		{Filter{Address: "t.http.mixed", Status: "delivered"}, 0, 4},
		{Filter{Trigger: "t"}, 6, 8},
		{Filter{Trigger: "t", Status: "pending"}, 6, 0},
		{Filter{Trigger: "t", Status: "delivered"}, 0, 8},
		{Filter{Trigger: "only"}, 3, 0},
		{Filter{Trigger: "only", Status: "pending"}, 3, 0},
		{Filter{Trigger: "only", Status: "delivered"}, 0, 0},
		// Every delivery, and those since a time: the status index a
		// status at a time, merged (migration 12).
		{Filter{}, 9, 8},
		{Filter{Since: t0.Add(2 * time.Minute)}, 9, 4},
		{Filter{Until: t0.Add(2 * time.Minute)}, 0, 4},
	} {
		got := allPages(t, s, c.f, 3)
		pending := 0
		for i, d := range got {
			if d.Status == StatusPending {
				pending++
			}
			if (c.f.Address != "" && d.Address != c.f.Address) || (c.f.Trigger != "" && d.Trigger != c.f.Trigger) ||
				(i > 0 && (d.CreatedAt.After(got[i-1].CreatedAt) || (d.CreatedAt.Equal(got[i-1].CreatedAt) && d.ID > got[i-1].ID))) {
				t.Errorf("%+v: row %d %+v out of place", c.f, i, d)
			}
		}
		if pending != c.pending || len(got)-pending != c.others {
			t.Errorf("%+v: %d pending and %d others, want %d and %d", c.f, pending, len(got)-pending, c.pending, c.others)
		}
		n, more, err := s.CountMatching(ctx, c.f, 100)
		if err != nil || more || n != c.pending+c.others {
			t.Errorf("CountMatching(%+v) = %d, %v, %v; want %d", c.f, n, more, err, c.pending+c.others)
		}
	}
	byAction, err := s.ActionCounts(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if byAction["t.http.done"][StatusDelivered] != 4 || byAction["t.http.mixed"][StatusDelivered] != 4 || len(byAction) != 2 {
		t.Errorf("ActionCounts = %v", byAction)
	}
}

// allPages is every page of Deliveries(f) in pages of limit, in order.
func allPages(t *testing.T, s *Store, f Filter, limit int) []Summary {
	t.Helper()
	var got []Summary
	f.Limit = limit
	for pages := 0; pages < 50; pages++ {
		page, cursor, err := s.Deliveries(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if cursor == "" {
			return got
		}
		f.Cursor = cursor
	}
	t.Fatalf("%+v: more than 50 pages", f)
	return nil
}

// An action's or a trigger's deliveries in a status other than pending
// are ranges of the address index, which SQLite reads only when the
// query states its condition: else it walks every delivery in that
// status, newest first, looking for the action's.
func TestStatusListsByActionUseTheAddressIndex(t *testing.T) {
	s := planStore(t)
	ctx := context.Background()
	for _, f := range []Filter{{Trigger: "t", Status: "delivered"}, {Address: "t.http.notify", Status: "failed"}, {Trigger: "t"}} {
		fs, err := s.filterSQL(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		q, args := `SELECT id FROM hookline_delivery`+fs.where, fs.args
		switch {
		case len(fs.addrs) > 0:
			q, args = merged(fs.where, fs.args, fs.addrs, f.Status == "", false, 51)
		case f.Status == "":
			q, args = byStatuses(fs.where, fs.args, true, 51)
		}
		plan := queryPlan(t, s, q, args...)
		if !strings.Contains(plan, "hookline_delivery_address") {
			t.Errorf("%+v: plan %q does not use hookline_delivery_address", f, plan)
		}
		if f.Status != "" && strings.Contains(plan, "hookline_delivery_status") {
			t.Errorf("%+v: plan %q reads the status index", f, plan)
		}
	}
}

// The newest deliveries whatever their status, and how many there are
// since a time, are ranges of the status index, one per status: no index
// is in the order of creation alone (migration 12), and the table read
// newest first would be read whole for a count since a time.
func TestListsOfEveryDeliveryReadTheStatusIndex(t *testing.T) {
	s := planStore(t)
	ctx := context.Background()
	for _, f := range []Filter{{}, {Since: time.Now().Add(-time.Hour)}, {Correlation: "c1"}} {
		fs, err := s.filterSQL(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		list, args := byStatuses(fs.where, fs.args, false, 51)
		count, cargs := countQuery(fs, f, 101)
		for name, plan := range map[string]string{"list": queryPlan(t, s, list, args...), "count": queryPlan(t, s, count, cargs...)} {
			if n := strings.Count(plan, "hookline_delivery_status"); n != len(allStatuses) {
				t.Errorf("%+v: %s plan reads the status index %d times, want once per status (%d):\n%s", f, name, n, len(allStatuses), plan)
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.HasPrefix(line, "SCAN hookline_delivery") && !strings.Contains(line, "INDEX") {
					t.Errorf("%+v: %s plan reads the whole table:\n%s", f, name, plan)
				}
			}
		}
	}
}

// planStore is a SQLite store holding one delivery of action
// t.http.notify, whose queries' plans the tests read.
func planStore(t *testing.T) *Store {
	t.Helper()
	s := openStore(t, newTestDB(t, "sqlite"), nil)
	d := httpAction("http://127.0.0.1:1/", `{}`)
	d.Trigger, d.Address = "t", "t.http.notify"
	accept(t, s, newEvent("e1", NewDelivery{Delivery: d}))
	return s
}

// queryPlan is SQLite's plan for q, a line per step.
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.Query(`EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "\n")
}
