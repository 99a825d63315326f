package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAcceptWithWaiting measures intake when many deliveries wait for
// their due time: each event fires one delivery and names one waiting
// delivery to cancel (a cancel_on of a schedule), as a confirmation would:
// /lookup finds none waiting for its value, /cancel finds one and cancels
// it. The baseline is the same million rows finished: a store's size
// costs intake anyway (deeper B-trees), waiting or not; what waiting adds
// is the partial index the lookup reads. Run with -bench AcceptWithWaiting; building
// a million rows takes seconds, so plain `go test` skips it.
func BenchmarkAcceptWithWaiting(b *testing.B) {
	for _, fill := range []struct {
		name   string
		n      int
		status Status
	}{
		{"empty", 0, ""},
		// The same table size, nothing waiting: what a store that has run a
		// while costs intake anyway (bigger B-trees), apart from waiting.
		{"finished=1000000", 1_000_000, StatusDelivered},
		{"waiting=1000000", 1_000_000, StatusScheduled},
	} {
		for _, hits := range []bool{false, true} {
			benchStores(b, func(b *testing.B, kind string) {
				name := fill.name + "/lookup"
				if hits {
					if fill.status != StatusScheduled {
						return
					}
					name = fill.name + "/cancel"
				}
				b.Run(name, func(b *testing.B) {
					s := openStore(b, newTestDB(b, kind), nil)
					fillWaiting(b, s, fill.n, fill.status)
					var seq atomic.Int64
					var mu sync.Mutex
					var lat []time.Duration
					b.ReportAllocs()
					b.ResetTimer()
					b.SetParallelism(64)
					b.RunParallel(func(pb *testing.PB) {
						var own []time.Duration
						for pb.Next() {
							n := seq.Add(1)
							ev := newEvent(fmt.Sprint("bench-", n), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/hook", `{}`)})
							// lookup: the cancel finds nothing waiting for its
							// value (an appointment with no reminder); cancel: it
							// finds one and cancels it, a write more.
							corr := fmt.Sprint("none-", n)
							if hits {
								corr = fmt.Sprint("appt-", n)
							}
							ev.Cancels = []Cancel{{Address: "order.http.remind", Correlation: corr}}
							t0 := time.Now()
							if _, err := s.Accept(context.Background(), ev); err != nil {
								b.Error(err)
							}
							own = append(own, time.Since(t0))
						}
						mu.Lock()
						lat = append(lat, own...)
						mu.Unlock()
					})
					b.StopTimer()
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
				})
			})
		}
	}
}

// fillWaiting stores n events, each with one delivery in status st,
// scheduled a day ahead and correlated as appt-1 ... appt-n, straight in
// SQL.
func fillWaiting(b *testing.B, s *Store, n int, st Status) {
	b.Helper()
	if n == 0 {
		return
	}
	now := time.Now()
	due := now.Add(24 * time.Hour)
	const chunk = 100_000
	for lo := 1; lo <= n; lo += chunk {
		hi := min(lo+chunk-1, n)
		err := s.inTx(context.Background(), func(tx *sql.Tx) error {
			series := `WITH RECURSIVE k(i) AS (SELECT CAST(? AS BIGINT) UNION ALL SELECT i + 1 FROM k WHERE i < ?) `
			if _, err := tx.Exec(s.sql(series+`INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
				SELECT 'evt_w' || i, '/fill', 'w' || i, 'order.created', ?, '{}' FROM k`), lo, hi, nanos(now)); err != nil {
				return err
			}
			_, err := tx.Exec(s.sql(series+`INSERT INTO hookline_delivery (id, event_id, seq, address, trigger_name, type, name,
				status, attempts, created_at, updated_at, last_error, content, retry_schedule, max_attempts, job_id, retry_requested,
				due_at, correlation)
				SELECT 'dlv_w' || i, 'evt_w' || i, 0, 'order.http.remind', 'order', 'http', 'remind',
				?, 0, ?, ?, '', '{}', '', 1, 0, 0, ?, 'appt-' || i FROM k`), lo, hi, st, nanos(now), nanos(now), nanos(due))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if s.be.singleProcess {
		if _, err := s.db.Exec(`ANALYZE`); err != nil {
			b.Fatal(err)
		}
	} else if _, err := s.db.Exec(`ANALYZE hookline_delivery`); err != nil {
		b.Fatal(err)
	}
}
