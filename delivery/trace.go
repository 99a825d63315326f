package delivery

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/internal/tracing"
)

// Tracing: a span per attempt, the child of the span that accepted its
// event. That span's context is stored with each delivery as W3C trace
// context (schema step 4), so that an attempt continues its event's trace
// whether it runs from memory, from River, after a spill or after a
// restart. With Config.TracerProvider nil, s.tracer is nil and none of
// this runs.

// traceParent is a delivery's stored W3C trace context, "" when its event
// was accepted with tracing off.
type traceParent struct{ parent, state string }

// encodeTrace is the stored form of an accepted event's span context.
func encodeTrace(sc trace.SpanContext) traceParent {
	p, st := tracing.Encode(sc)
	return traceParent{parent: p, state: st}
}

// withParent puts the stored span context in ctx, for the attempt's span
// to be its child and the attempt's log lines to carry its trace id.
func (s *Store) withParent(ctx context.Context, tp traceParent) context.Context {
	if s.tracer == nil || tp.parent == "" {
		return ctx
	}
	if sc := tracing.Decode(tp.parent, tp.state); sc.IsValid() {
		return trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	return ctx
}

// startAttempt starts the span of attempt d.Attempt of delivery id, the
// child of the span in ctx (see withParent), or a new root when its event
// was accepted with tracing off.
func (s *Store) startAttempt(ctx context.Context, eventID, id string, d *actions.Delivery) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, noop.Span{}
	}
	// Client: the attempt calls a peer. Executors send its context on
	// (the http action as a traceparent header).
	return s.tracer.Start(ctx, "attempt "+d.Type, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		tracing.EventID.String(eventID),
		tracing.DeliveryID.String(id),
		tracing.Trigger.String(d.Trigger),
		tracing.Action.String(d.Address),
		tracing.ActionType.String(d.Type),
		tracing.Attempt.Int(d.Attempt),
	))
}

// endAttempt ends an attempt's span with what it led to: out recorded with
// next, out made but not recorded, or no attempt (interrupted). The error
// text is not an attribute: it may quote the peer's answer.
func endAttempt(span trace.Span, out actions.Outcome, next nextStep, err error) {
	defer span.End()
	if !span.IsRecording() {
		return
	}
	var nr *notRecorded
	outcome := recordedOutcome(out, next)
	switch {
	case errors.As(err, &nr):
		outcome = out.Status.String()
		span.SetAttributes(tracing.Recorded.Bool(false))
	case err != nil:
		outcome = "interrupted"
	}
	span.SetAttributes(tracing.Outcome.String(outcome), tracing.StatusCode.Int(out.StatusCode))
	if outcome != actions.Delivered.String() {
		span.SetStatus(codes.Error, outcome)
	}
}

// attemptLog is the logger of attempt d.Attempt of delivery id, of event
// eventID (ours, as the API knows it), with the trace id of ctx's span.
func (s *Store) attemptLog(ctx context.Context, eventID, id string, d *actions.Delivery) *slog.Logger {
	return tracing.WithTraceID(ctx, s.log.With(
		slog.String("event_id", eventID),
		slog.String("delivery_id", id),
		slog.String("trigger", d.Trigger),
		slog.String("action", d.Address),
		slog.Int("attempt", d.Attempt),
	))
}
