package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/hookline/hookline/internal/pgtest"
)

// intakeRules is the rule set of the intake benchmarks: one trigger of the
// event's type, its filter and template as most are.
const intakeRules = `trigger "confirmed" {
  on   = ["participant.confirmed"]
  when = "appointment.calendar.name == 'Massage Room'"
  action "http" "crm" {
    url  = "https://crm.example.com/hooks/confirmed"
    body = "${participant.name}: ${appointment.title} on ${date_and_time_phrase(appointment.start_time)}"
  }
}
`

// BenchmarkIntake measures POST /v1/events through the API's handler:
// authentication, decode, match, render and the commit of one event with
// one delivery, answered 202. The workers are not started, so deliveries
// do not compete with intake for the CPU (on SQLite they wait in memory,
// then spilled). parallel runs 64 callers per GOMAXPROCS, as a loaded
// server would.
func BenchmarkIntake(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			for _, parallel := range []bool{false, true} {
				b.Run(map[bool]string{false: "sequential", true: "parallel"}[parallel], func(b *testing.B) {
					srv := newIntakeServer(b, kind, writeRules(b, intakeRules), nil)
					benchIntake(b, srv.Handler(), parallel)
				})
			}
		})
	}
}

// newIntakeServer is a server that is not Run: its handler takes events
// and its store keeps them, without workers.
func newIntakeServer(b *testing.B, kind, dir string, mutate func(*Options)) *Server {
	b.Helper()
	opts := Options{RulesDir: dir, DataDir: filepath.Join(b.TempDir(), "data"), Sandbox: true, Watch: "off"}
	if kind == "postgres" {
		opts.DatabaseURL = pgtest.URL(b)
	}
	if mutate != nil {
		mutate(&opts)
	}
	srv, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	return srv
}

func benchIntake(b *testing.B, h http.Handler, parallel bool) {
	const data = `{"appointment":{"id":5003,"calendar":{"id":8,"name":"Massage Room"},"title":"Deep Tissue Massage",` +
		`"start_time":"2026-12-03T18:00:00Z","time_zone":"America/Los_Angeles"},` +
		`"participant":{"id":9003,"name":"Carla Diaz","email":"carla@example.org"}}`
	var seq atomic.Int64
	post := func() {
		body := event(fmt.Sprint("bench-", seq.Add(1)), "participant.confirmed", data)
		req := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Errorf("status %d: %s", w.Code, w.Body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	if parallel {
		b.SetParallelism(64)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				post()
			}
		})
	} else {
		for range b.N {
			post()
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// The process's CPU time, the committer's and the garbage collector's
	// included: on a shared machine it moves far less than ns/op.
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkIntakeTraced is BenchmarkIntake with tracing on: the intake
// span and its three steps are recorded and batched for an exporter that
// discards them, so it measures what tracing adds to intake, not a
// collector.
func BenchmarkIntakeTraced(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			for _, parallel := range []bool{false, true} {
				b.Run(map[bool]string{false: "sequential", true: "parallel"}[parallel], func(b *testing.B) {
					tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
					b.Cleanup(func() { tp.Shutdown(context.Background()) })
					srv := newIntakeServer(b, kind, writeRules(b, intakeRules), func(o *Options) { o.TracerProvider = tp })
					benchIntake(b, srv.Handler(), parallel)
				})
			}
		})
	}
}
