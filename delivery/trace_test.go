package delivery

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// recorder is an in-memory tracer provider for the store.
func recorder(t testing.TB) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, rec
}

// intakeSpan stands for the server's span that accepted an event.
func intakeSpan(t testing.TB) trace.SpanContext {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=abc")
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
}

// waitSpans polls until n attempt spans have ended.
func waitSpans(t testing.TB, rec *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if ended := rec.Ended(); len(ended) >= n {
			return ended
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d spans ended, want %d", len(rec.Ended()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// Every attempt, the first from memory (SQLite) or from River, and the
// retry from River, is a child of its event's span, and the receiver gets
// that attempt's span as its traceparent.
func TestAttemptSpansAreChildrenOfTheEventsSpan(t *testing.T) {
	eachDB(t, testAttemptSpansAreChildrenOfTheEventsSpan)
}

func testAttemptSpansAreChildrenOfTheEventsSpan(t *testing.T, db testDB) {
	tp, rec := recorder(t)
	var n atomic.Int32
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := openStore(t, db, func(c *Config) { c.TracerProvider = tp })
	start(t, s)
	parent := intakeSpan(t)
	ev := newEvent("traced", NewDelivery{Delivery: httpAction(srv.URL, `{}`), Retry: RetryPolicy{Schedule: []time.Duration{time.Millisecond}, MaxAttempts: 2}})
	ev.Trace = parent
	rc := accept(t, s, ev)
	id := rc.Deliveries[0].ID
	waitStatus(t, s, id, StatusDelivered)
	reqs := []request{next(t, seen), next(t, seen)}
	spans := waitSpans(t, rec, 2)
	// In attempt order: the first's span ends after its record, which
	// queued the second.
	slices.SortFunc(spans, func(a, b sdktrace.ReadOnlySpan) int {
		return strings.Compare(attrs(a)["hookline.attempt"], attrs(b)["hookline.attempt"])
	})

	for i, sp := range spans {
		want := map[string]string{
			"hookline.event.id": rc.EventID, "hookline.delivery.id": id, "hookline.trigger": "order",
			"hookline.action": "order.http.notify", "hookline.action.type": "http",
			"hookline.attempt": fmt.Sprint(i + 1), "hookline.outcome": []string{"retry", "delivered"}[i],
			"hookline.status_code": []string{"503", "204"}[i],
		}
		got := attrs(sp)
		for k, v := range want {
			if got[k] != v {
				t.Errorf("span %d: %s = %q, want %q (%v)", i, k, got[k], v, got)
			}
		}
		if sp.Name() != "attempt http" || sp.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %d: %s, kind %v", i, sp.Name(), sp.SpanKind())
		}
		if sp.Parent().SpanID() != parent.SpanID() || sp.SpanContext().TraceID() != parent.TraceID() || !sp.Parent().IsRemote() {
			t.Errorf("span %d: parent %v in trace %v, want %v in %v", i, sp.Parent().SpanID(), sp.SpanContext().TraceID(), parent.SpanID(), parent.TraceID())
		}
		if got := sp.SpanContext().TraceState().String(); got != "vendor=abc" {
			t.Errorf("span %d: tracestate %q", i, got)
		}
		wantHeader := fmt.Sprintf("00-%s-%s-01", parent.TraceID(), sp.SpanContext().SpanID())
		if got := reqs[i].Header.Get("Traceparent"); got != wantHeader {
			t.Errorf("request %d: traceparent %q, want %q (its attempt's span)", i, got, wantHeader)
		}
	}
}

// An event accepted before a stop has its attempts run by the next
// process in the event's trace: the span context is stored with the
// delivery, not kept in memory.
func TestAttemptSpanParentOutlivesTheProcess(t *testing.T) {
	eachDB(t, testAttemptSpanParentOutlivesTheProcess)
}

func testAttemptSpanParentOutlivesTheProcess(t *testing.T, db testDB) {
	srv, seen := receiver(t, nil)
	parent := intakeSpan(t)
	first, err := Open(context.Background(), Config{DataDir: db.dir, DatabaseURL: db.url})
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvent("before-restart", NewDelivery{Delivery: httpAction(srv.URL, `{}`)})
	ev.Trace = parent
	rc := accept(t, first, ev)
	if err := first.Close(); err != nil { // never started: nothing was attempted
		t.Fatal(err)
	}

	tp, rec := recorder(t)
	s := openStore(t, db, func(c *Config) { c.TracerProvider = tp })
	start(t, s)
	r := next(t, seen)
	sp := waitSpans(t, rec, 1)[0]
	if sp.Parent().SpanID() != parent.SpanID() || sp.SpanContext().TraceID() != parent.TraceID() {
		t.Errorf("after the restart: parent %v in trace %v, want %v in %v", sp.Parent().SpanID(), sp.SpanContext().TraceID(), parent.SpanID(), parent.TraceID())
	}
	if got := attrs(sp)["hookline.delivery.id"]; got != rc.Deliveries[0].ID {
		t.Errorf("span of delivery %q", got)
	}
	if want := fmt.Sprintf("00-%s-%s-01", parent.TraceID(), sp.SpanContext().SpanID()); r.Header.Get("Traceparent") != want {
		t.Errorf("traceparent %q, want %q", r.Header.Get("Traceparent"), want)
	}
}

// Without a tracer provider nothing is traced, and nothing is sent, even
// for an event accepted with a span.
func TestNoTracingWithoutAProvider(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		srv, seen := receiver(t, nil)
		s := openStore(t, db, nil)
		start(t, s)
		ev := newEvent("untraced", NewDelivery{Delivery: httpAction(srv.URL, `{}`)})
		ev.Trace = intakeSpan(t)
		accept(t, s, ev)
		if r := next(t, seen); r.Header.Get("Traceparent") != "" {
			t.Errorf("traceparent %q sent with tracing off", r.Header.Get("Traceparent"))
		}
	})
}
