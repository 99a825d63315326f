package server

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookline/hookline/internal/tracing"
)

// intakeRoute names the intake span, as the OpenTelemetry conventions name
// an HTTP server's: method and route.
const intakeRoute = "/v1/events"

// tracedIntake runs postEvent's work in the intake span: it continues the
// trace of the request's W3C traceparent (and tracestate) when it has one,
// and is otherwise the root of a new trace. Its children are the steps of
// intake (decode, match with rendering, commit); the store keeps its
// context with each delivery, so that every attempt's span is its child.
func (s *Server) tracedIntake(w http.ResponseWriter, r *http.Request) {
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, http.MethodPost+" "+intakeRoute, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(tracing.HTTPMethod.String(http.MethodPost), tracing.HTTPRoute.String(intakeRoute)))
	defer span.End()
	sw := &statusWriter{ResponseWriter: w}
	s.intake(sw, r.WithContext(ctx), span)
	span.SetAttributes(tracing.HTTPStatus.Int(sw.status))
	if sw.status >= http.StatusInternalServerError {
		// A 4xx is the client's doing, which leaves the status unset.
		span.SetStatus(codes.Error, http.StatusText(sw.status))
	}
}

// step starts a child span of intake, or returns a no-op one (which costs
// no allocation) when tracing is off.
func (s *Server) step(ctx context.Context, name string) (context.Context, trace.Span) {
	if s.tracer == nil {
		return ctx, noop.Span{}
	}
	return s.tracer.Start(ctx, name)
}

// reject counts an event refused with the API error code, and notes the
// code on the intake span.
func (s *Server) reject(span trace.Span, code string) {
	s.metrics.rejected.WithLabelValues(code).Inc()
	if span.IsRecording() {
		span.SetAttributes(tracing.ErrorCode.String(code))
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
