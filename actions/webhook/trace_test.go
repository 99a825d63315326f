package webhook

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookline/hookline/actions"
)

// The attempt's span travels in its context: the request carries it as
// W3C trace context, and carries none without one.
func TestSendsTheAttemptsTraceContext(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{})
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("vendor=abc")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})

	out := e.Execute(trace.ContextWithSpanContext(context.Background(), sc), delivery(actions.Literal(srv.URL)))
	if out.Status != actions.Delivered {
		t.Fatalf("outcome %+v", out)
	}
	r := <-seen
	if got, want := r.Header.Get("Traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"; got != want {
		t.Errorf("traceparent %q, want %q", got, want)
	}
	if got := r.Header.Get("Tracestate"); got != "vendor=abc" {
		t.Errorf("tracestate %q", got)
	}

	if out := execute(t, e, delivery(actions.Literal(srv.URL))); out.Status != actions.Delivered {
		t.Fatalf("outcome %+v", out)
	}
	r = <-seen
	if _, ok := r.Header["Traceparent"]; ok {
		t.Errorf("traceparent %q sent without a span", r.Header.Get("Traceparent"))
	}
}
