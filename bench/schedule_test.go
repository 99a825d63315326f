package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/webhook"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/internal/pgtest"
)

// BenchmarkScheduledPickup measures how soon scheduled deliveries start
// after their due time when 1,000 fall due per second: b.N deliveries to
// a loopback HTTP receiver are accepted ahead of time, due one per
// millisecond from five seconds on, and the store reports each one's lag
// (delivery.Config.DueLag). p50-ms and p99-ms are the lag percentiles;
// the target is p99 ≤ 1 s on both stores.
func BenchmarkScheduledPickup(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			cfg := delivery.Config{DataDir: b.TempDir()}
			if kind == "postgres" {
				cfg.DataDir, cfg.DatabaseURL = "", pgtest.URL(b)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
			defer srv.Close()
			exec := webhook.New(webhook.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
			defer exec.CloseIdleConnections()
			var mu sync.Mutex
			var lags []time.Duration
			done := make(chan struct{})
			cfg.Executors = map[string]actions.Executor{"http": exec}
			cfg.Workers = 50
			cfg.DueLag = func(d time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				lags = append(lags, d)
				if len(lags) == b.N {
					close(done)
				}
			}
			s, err := delivery.Open(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			// Workers first, so that their start-up is not counted as lag.
			if err := s.Start(ctx); err != nil {
				b.Fatal(err)
			}
			start := time.Now().Add(5 * time.Second)
			// Accepted by 32 callers at once, as a server would: group
			// commit keeps this well ahead of the first due time.
			next := make(chan int)
			var accepting sync.WaitGroup
			for range 32 {
				accepting.Go(func() {
					for i := range next {
						d := &actions.Delivery{Address: "bench.http.later", Trigger: "bench", Type: "http", Name: "later",
							Fields: actions.Fields{
								{Name: "method", Value: actions.Value{Text: actions.Literal("POST")}},
								{Name: "url", Value: actions.Value{Text: actions.Literal(srv.URL)}},
								{Name: "body", Value: actions.Value{Text: actions.Literal("{}")}},
							}}
						due := start.Add(time.Duration(i) * time.Millisecond)
						_, err := s.Accept(ctx, delivery.NewEvent{Source: "/bench", CEID: fmt.Sprint(i), Type: "bench",
							Raw: []byte(`{}`), Deliveries: []delivery.NewDelivery{{Delivery: d, Schedule: &delivery.Schedule{Due: due}}}})
						if err != nil {
							b.Error(err)
						}
					}
				})
			}
			for i := range b.N {
				next <- i
			}
			close(next)
			accepting.Wait()
			if time.Now().After(start) {
				b.Fatalf("accepting %d deliveries took past their first due time; lower -benchtime", b.N)
			}
			b.ResetTimer()
			select {
			case <-done:
			case <-time.After(time.Duration(b.N)*time.Millisecond + time.Minute):
				b.Fatalf("only %d of %d started", len(lags), b.N)
			}
			b.StopTimer()
			if err := s.Stop(ctx); err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			slices.Sort(lags)
			b.ReportMetric(float64(lags[len(lags)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lags[len(lags)*99/100])/1e6, "p99-ms")
		})
	}
}
