package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// purgeBenchRows is how many rows the purge of BenchmarkAcceptDuringPurge
// removes: a third each of events, deliveries (delivered) and attempts.
const purgeBenchRows = 1_000_000

// purgeBenchRate is the steady intake the benchmark measures, in events
// per second: a busy clinic platform, well within what either store takes
// (see BenchmarkAccept), so that latency is what it measures.
const purgeBenchRate = 500

// purgeBenchWindow is how long the purge runs, then rests, in turn.
const purgeBenchWindow = 5 * time.Second

// BenchmarkAcceptDuringPurge measures intake latency (one Accept, one
// delivery) at a steady purgeBenchRate, on a store holding purgeBenchRows
// old rows, while a purge removes them all. The purge runs and rests in
// turn, purgeBenchWindow each, so that latencies with and without it are
// measured in the same minutes: on a shared machine other processes move
// latencies more than anything else, and two runs one after the other do
// not see the same neighbours. p99-ms is the 99th percentile of Accept's
// latency, -idle while the purge rests and -purging while it runs; also
// how long the purge ran in all and its rows/s. Building the rows takes a
// few seconds (bulk SQL), so run it once:
//
//	go test ./delivery -run '^$' -bench AcceptDuringPurge -benchtime 1x
func BenchmarkAcceptDuringPurge(b *testing.B) {
	benchStores(b, func(b *testing.B, kind string) {
		ctx := context.Background()
		s := openStore(b, newTestDB(b, kind), nil)
		events := purgeBenchRows / 3
		fillOld(b, s, events)
		cutoff := fromNanos(int64(events) + 1)

		var purging atomic.Bool
		done := make(chan struct{})
		var purged PurgeResult
		var purgeErr error
		var ran time.Duration
		b.ResetTimer()
		go func() {
			defer close(done)
			for {
				purging.Store(true)
				start := time.Now()
				res, finished, err := s.purge(ctx, cutoff, start.Add(purgeBenchWindow))
				ran += time.Since(start)
				purging.Store(false)
				purged.add(res)
				if purgeErr = err; err != nil || finished {
					return
				}
				time.Sleep(purgeBenchWindow)
			}
		}()
		idle, busy := acceptSteadily(b, s, purgeBenchRate, done, purging.Load)
		b.StopTimer()
		if purgeErr != nil {
			b.Fatal(purgeErr)
		}
		if n := purged.Events + purged.Deliveries + purged.Attempts; n != int64(events)*3 {
			b.Fatalf("purged %+v, want %d rows", purged, events*3)
		}
		b.ReportMetric(ran.Seconds(), "purge-s")
		b.ReportMetric(float64(events*3)/ran.Seconds(), "rows/s")
		for _, l := range []struct {
			name string
			lat  []time.Duration
		}{{"idle", idle}, {"purging", busy}} {
			slices.Sort(l.lat)
			b.ReportMetric(float64(len(l.lat)), "events-"+l.name)
			b.ReportMetric(float64(l.lat[len(l.lat)*99/100])/1e6, "p99-ms-"+l.name)
		}
	})
}

// acceptSteadily starts an Accept every 1/rate seconds, each in its own
// goroutine (an open loop, as independent senders are: a slow Accept does
// not hold the next one back), until done is closed, and returns their
// latencies by whether busy said true when each started.
func acceptSteadily(b *testing.B, s *Store, rate int, done <-chan struct{}, busy func() bool) (idle, during []time.Duration) {
	body := `{"specversion":"1.0","source":"/shop","type":"order.created","data":{"order":"A-1001","total":42.5}}`
	var mu sync.Mutex
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-done:
			wg.Wait()
			return idle, during
		case <-tick.C:
		}
		wg.Go(func() {
			ev := newEvent(fmt.Sprint("steady-", n), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/hook", body)})
			purging := busy()
			t0 := time.Now()
			if _, err := s.Accept(context.Background(), ev); err != nil {
				b.Error(err)
			}
			d := time.Since(t0)
			mu.Lock()
			if purging {
				during = append(during, d)
			} else {
				idle = append(idle, d)
			}
			mu.Unlock()
		})
	}
}

// fillOld stores n events received at 1..n ns after the epoch, each with a
// delivered delivery and its attempt, straight in SQL (one statement per
// table, the same on both databases), then updates the planner's
// statistics as autovacuum or a long-running store would have. IDs sort
// in the order rows were stored, as the store's own (ULIDs) do, which
// keeps a purge's deletes on neighbouring index pages.
func fillOld(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	raw := `{"specversion":"1.0","source":"/old","type":"order.created","data":{"order":"A-1001","customer":{"name":"Ann Lee","email":"ann@example.com"},"total":42.5,"lines":[{"sku":"X-1","qty":2},{"sku":"Y-2","qty":1}]}}`
	content := `{"id":"dlv","address":"order.http.notify","trigger":"order","type":"http","name":"notify","fields":[{"name":"method","value":{"text":[{"lit":"POST"}]}},{"name":"url","value":{"text":[{"lit":"https://example.com/hook"}]}},{"name":"body","value":{"text":[{"lit":"` + strings.Repeat("x", 120) + `"}]}}]}`
	series := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) `
	for _, q := range []string{
		series + `INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
			SELECT 'evt_' || (1000000000 + i), '/old', 'old-' || i, 'order.created', i, '` + raw + `' FROM n`,
		series + `INSERT INTO hookline_delivery (id, event_id, seq, address, trigger_name, type, name, status, attempts,
			created_at, updated_at, next_attempt_at, last_error, content, retry_schedule, max_attempts, job_id, retry_requested)
			SELECT 'dlv_' || (1000000000 + i), 'evt_' || (1000000000 + i), 0, 'order.http.notify', 'order', 'http', 'notify', 'delivered', 1,
			i, i, NULL, '', '` + content + `', '[10000000000]', 8, 0, 0 FROM n`,
		series + `INSERT INTO hookline_attempt (delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id)
			SELECT 'dlv_' || (1000000000 + i), 1, i, 'delivered', 200, 1000000, '', 'ok', '' FROM n`,
	} {
		if _, err := s.db.ExecContext(ctx, s.sql(q), n); err != nil {
			b.Fatal(err)
		}
	}
	analyze := `ANALYZE`
	if s.be.lockRows != "" {
		analyze = `VACUUM ANALYZE` // PostgreSQL: what autovacuum does after a bulk load
	}
	if _, err := s.db.ExecContext(ctx, analyze); err != nil {
		b.Fatal(err)
	}
}
