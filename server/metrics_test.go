package server

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/delivery"
)

// fakeClock is a settable time for storeGauges.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore wraps a count function and counts its calls.
type countingStore struct {
	count   func(context.Context) (map[delivery.Status]int, error)
	queries atomic.Int32
}

func (c *countingStore) Count(ctx context.Context) (map[delivery.Status]int, error) {
	c.queries.Add(1)
	return c.count(ctx)
}

// scrapeOnly renders what GET /metrics shows for a registry holding only g.
func scrapeOnly(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// storeGaugesText is the exposition of the three store gauges, names and
// help texts as dashboards have always seen them.
func storeGaugesText(pending, retrying, dead int) string {
	return fmt.Sprintf(`# HELP hookline_deliveries_dead Deliveries with status failed (dead: failed for good, retried only by hand).
# TYPE hookline_deliveries_dead gauge
hookline_deliveries_dead %d
# HELP hookline_deliveries_pending Deliveries with status pending (dead: failed for good, retried only by hand).
# TYPE hookline_deliveries_pending gauge
hookline_deliveries_pending %d
# HELP hookline_deliveries_retrying Deliveries with status retrying (dead: failed for good, retried only by hand).
# TYPE hookline_deliveries_retrying gauge
hookline_deliveries_retrying %d
# HELP hookline_deliveries_scheduled Deliveries waiting for their due time (an action's schedule).
# TYPE hookline_deliveries_scheduled gauge
hookline_deliveries_scheduled 0
`, dead, pending, retrying)
}

// byName answers each attempt by the action's name: "ok" delivers, "again"
// asks for a retry, "dead" fails for good until fixed.
type byName struct{ fixed atomic.Bool }

func (e *byName) Execute(_ context.Context, d *actions.Delivery) actions.Outcome {
	switch {
	case d.Name == "again":
		return actions.Outcome{Status: actions.Retry, Error: "busy"}
	case d.Name == "dead" && !e.fixed.Load():
		return actions.Outcome{Status: actions.Permanent, Error: "refused"}
	}
	return actions.Outcome{Status: actions.Delivered}
}

// TestStoreGauges follows deliveries through every status on a real store
// and checks what each scrape reports and how many store queries it cost.
func TestStoreGauges(t *testing.T) { eachStore(t, testStoreGauges) }

func testStoreGauges(t *testing.T, mutate func(*Options)) {
	var opts Options
	if mutate != nil {
		mutate(&opts)
	}
	exec := &byName{}
	cfg := delivery.Config{DataDir: t.TempDir(), Executors: map[string]actions.Executor{"http": exec}}
	if opts.DatabaseURL != "" {
		cfg.DataDir, cfg.DatabaseURL = "", opts.DatabaseURL
	}
	store, err := delivery.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx := context.Background()
	ids := map[string]string{}
	for _, name := range []string{"ok", "ok2", "again", "dead"} {
		// No content: byName needs none.
		d := &actions.Delivery{Address: "t.http." + name, Trigger: "t", Type: "http", Name: name}
		rc, err := store.Accept(ctx, delivery.NewEvent{
			Source: "/test", CEID: name, Type: "participant.confirmed", Raw: []byte(`{}`),
			Deliveries: []delivery.NewDelivery{{Delivery: d, Retry: delivery.RetryPolicy{Schedule: []time.Duration{time.Hour}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = rc.Deliveries[0].ID
	}

	cs := &countingStore{count: store.UndeliveredCounts}
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStoreGauges(cs.Count, clk.Now, storeGaugesTTL))
	scrapeWant := func(queries int32, pending, retrying, dead int) {
		t.Helper()
		if got, want := scrapeOnly(t, reg), storeGaugesText(pending, retrying, dead); got != want {
			t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
		}
		if n := cs.queries.Load(); n != queries {
			t.Errorf("%d store queries so far, want %d", n, queries)
		}
	}

	scrapeWant(1, 4, 0, 0)
	// Within the TTL a scrape reuses the count.
	clk.Add(storeGaugesTTL - time.Millisecond)
	scrapeWant(1, 4, 0, 0)

	if err := store.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Stop(context.Background()) })
	waitStoreCounts(t, store, map[delivery.Status]int{delivery.StatusDelivered: 2, delivery.StatusRetrying: 1, delivery.StatusFailed: 1})
	clk.Add(time.Millisecond)
	scrapeWant(2, 0, 1, 1)

	// A dead letter retried by hand, and delivered this time.
	exec.fixed.Store(true)
	if err := store.Retry(ctx, ids["dead"]); err != nil {
		t.Fatal(err)
	}
	waitStoreCounts(t, store, map[delivery.Status]int{delivery.StatusDelivered: 3, delivery.StatusFailed: 0})
	clk.Add(storeGaugesTTL)
	scrapeWant(3, 0, 1, 0)

	// Scrapes arriving together share one query.
	clk.Add(storeGaugesTTL)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := reg.Gather(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	scrapeWant(4, 0, 1, 0)
}

// waitStoreCounts polls the store itself (not the gauges) until its counts
// include want.
func waitStoreCounts(t *testing.T, store *delivery.Store, want map[delivery.Status]int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := store.Counts(context.Background())
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
			t.Fatalf("store counts %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A store that cannot be read shows as -1 on every gauge, as before, while
// the rest of the scrape goes on; the failure is kept for the TTL like an
// answer, then the store is asked again.
func TestStoreGaugesStoreFailure(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	cs := &countingStore{count: func(context.Context) (map[delivery.Status]int, error) {
		if broken.Load() {
			return nil, errors.New("database is locked")
		}
		return map[delivery.Status]int{delivery.StatusPending: 2, delivery.StatusRetrying: 0, delivery.StatusFailed: 5}, nil
	}}
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	other := prometheus.NewGauge(prometheus.GaugeOpts{Name: "other", Help: "Another metric."})
	reg.MustRegister(newStoreGauges(cs.Count, clk.Now, time.Second), other)

	for range 2 {
		got := scrapeOnly(t, reg)
		for _, want := range []string{"hookline_deliveries_pending -1\n", "hookline_deliveries_retrying -1\n", "hookline_deliveries_dead -1\n", "other 0\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("scrape lacks %q:\n%s", want, got)
			}
		}
	}
	if n := cs.queries.Load(); n != 1 {
		t.Errorf("%d store queries within the TTL of a failure, want 1", n)
	}
	broken.Store(false)
	clk.Add(time.Second)
	if got := scrapeOnly(t, reg); !strings.HasPrefix(got, storeGaugesText(2, 0, 5)) {
		t.Errorf("after recovery:\n%s", got)
	}
}
