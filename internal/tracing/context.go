package tracing

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// W3C trace context (https://www.w3.org/TR/trace-context/) is the one form
// a span context takes outside a process: taken from an event's request,
// stored with its deliveries so that attempts continue its trace across
// the queue and restarts, and sent on http actions.

// Encode is sc as the traceparent and tracestate headers W3C defines, both
// "" when sc is not valid.
func Encode(sc trace.SpanContext) (traceparent, tracestate string) {
	if !sc.IsValid() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), c)
	return c["traceparent"], c["tracestate"]
}

// Decode is the remote span context traceparent and tracestate describe,
// not valid when traceparent is "" or malformed (a tracestate that does not
// parse is dropped, as W3C asks).
func Decode(traceparent, tracestate string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	c := propagation.MapCarrier{"traceparent": traceparent}
	if tracestate != "" {
		c["tracestate"] = tracestate
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
}

// LogKey is the key of the trace id on log lines.
const LogKey = "trace_id"

// WithTraceID is log with the trace_id of ctx's span, or log itself when
// ctx holds none (tracing off): lines about one event can then be found
// beside its spans.
func WithTraceID(ctx context.Context, log *slog.Logger) *slog.Logger {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return log
	}
	return log.With(slog.String(LogKey, sc.TraceID().String()))
}
