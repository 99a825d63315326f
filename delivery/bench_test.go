package delivery

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAccept measures intake: one event with one delivery per
// operation, committed (workers not started).
func BenchmarkAccept(b *testing.B) {
	body := `{"specversion":"1.0","source":"/shop","type":"order.created","data":{"order":"A-1001","total":42.5}}`
	run := func(b *testing.B, parallel bool) {
		s := openStore(b, "", nil)
		var seq atomic.Int64
		acceptOne := func() {
			ev := newEvent(fmt.Sprint("bench-", seq.Add(1)), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/hook", body)})
			if _, err := s.Accept(context.Background(), ev); err != nil {
				b.Error(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		if parallel {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					acceptOne()
				}
			})
		} else {
			for range b.N {
				acceptOne()
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	}
	b.Run("sequential", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// BenchmarkDeliver measures the queue end to end: b.N deliveries accepted
// beforehand, then the time from Start until the receiver has them all and
// every one is recorded as delivered.
func BenchmarkDeliver(b *testing.B) {
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
	s := openStore(b, "", nil)
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
}
