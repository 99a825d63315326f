package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchStores runs f per store, as BenchmarkX/sqlite and BenchmarkX/postgres
// (the latter skipped without HOOKLINE_TEST_DATABASE_URL). Each run needs
// a fresh newTestDB(b, kind): a benchmark function runs once per b.N tried.
func benchStores(b *testing.B, f func(b *testing.B, kind string)) {
	for _, kind := range stores {
		b.Run(kind, func(b *testing.B) { f(b, kind) })
	}
}

// BenchmarkAccept measures intake: one event with one delivery per
// operation, committed (workers not started). parallel runs 64 callers per
// GOMAXPROCS, as an HTTP server under load would; parallel-unbatched does
// the same with group commit off. p99-ms is the 99th percentile of one
// Accept's latency; events/batch the mean events per group transaction.
// Each event carries a participant's e-mail address and phone number, as
// Apptoto's participant events do, for the erasure index: 10,000
// participants, so most events index new identifiers.
func BenchmarkAccept(b *testing.B) {
	body := `{"specversion":"1.0","source":"/shop","type":"order.created","data":{"order":"A-1001","total":42.5}}`
	run := func(b *testing.B, kind string, parallel, unbatched bool) {
		s := openStore(b, newTestDB(b, kind), nil)
		if unbatched {
			// One transaction per event, as many at once as the pool
			// allows: Accept before group commit.
			s.commits.close()
			s.commits = newCommitter(s, pgDefaultConns, 1)
		}
		var seq atomic.Int64
		var mu sync.Mutex
		var lat []time.Duration
		acceptOne := func(own *[]time.Duration) {
			n := seq.Add(1)
			ev := newEvent(fmt.Sprint("bench-", n), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/hook", body)})
			ev.Identifiers = []string{fmt.Sprintf("email:patient%d@example.com", n%10000), fmt.Sprintf("phone:+1555%07d", n%10000)}
			t0 := time.Now()
			if _, err := s.Accept(context.Background(), ev); err != nil {
				b.Error(err)
			}
			*own = append(*own, time.Since(t0))
		}
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				var own []time.Duration
				for pb.Next() {
					acceptOne(&own)
				}
				mu.Lock()
				lat = append(lat, own...)
				mu.Unlock()
			})
		} else {
			for range b.N {
				acceptOne(&lat)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
		if n := s.commits.batches.Load(); n > 0 {
			b.ReportMetric(float64(s.commits.batched.Load())/float64(n), "events/batch")
		}
	}
	benchStores(b, func(b *testing.B, kind string) {
		b.Run("sequential", func(b *testing.B) { run(b, kind, false, false) })
		b.Run("parallel", func(b *testing.B) { run(b, kind, true, false) })
		b.Run("parallel-unbatched", func(b *testing.B) { run(b, kind, true, true) })
	})
}

// BenchmarkDeliver measures the queue end to end: b.N deliveries accepted
// beforehand, then the time from Start until the receiver has them all and
// every one is recorded as delivered.
func BenchmarkDeliver(b *testing.B) {
	benchStores(b, func(b *testing.B, kind string) {
		var got atomic.Int64
		done := make(chan struct{})
		target := int64(b.N)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if got.Add(1) == target {
				close(done)
			}
		}))
		defer srv.Close()
		s := openStore(b, newTestDB(b, kind), nil)
		for i := range b.N {
			accept(b, s, newEvent(fmt.Sprint("bench-", i), NewDelivery{Delivery: httpAction(srv.URL, `{"n":1}`)}))
		}
		b.ResetTimer()
		start(b, s)
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			b.Fatalf("receiver got %d of %d", got.Load(), b.N)
		}
		for {
			c, err := s.Counts(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if c[StatusDelivered] == b.N {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		if err := s.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
	})
}
