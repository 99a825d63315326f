// Package tracing is Hookline's use of OpenTelemetry: the tracer provider
// `hookline serve` builds from the standard OTEL_* environment variables
// (OTLP when an endpoint is set, off otherwise), the W3C trace context a
// span is stored and sent as, the names of the attributes spans carry, and
// the trace_id of log lines.
//
// Nothing here is global: no otel.SetTracerProvider, no global propagator
// or error handler. The provider is passed down explicitly, and a nil
// trace.TracerProvider means tracing is off: the server and the store then
// skip every span rather than call a no-op one, so intake pays nothing.
package tracing
