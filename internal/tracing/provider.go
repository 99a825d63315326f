package tracing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Provider is the tracer provider of a process, on or off.
type Provider struct {
	sdk      *sdktrace.TracerProvider // nil: off
	protocol string
}

// Options configure New.
type Options struct {
	// LookupEnv reads the environment; default: none is set, so tracing is
	// off. It decides whether tracing is on and over which protocol; the
	// exporters and the SDK read the rest of their settings (endpoint,
	// headers, TLS, timeout, compression, sampler, batching, resource)
	// from the process environment themselves, as the OpenTelemetry
	// specification describes, so pass os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Version is the service.version of the spans' resource.
	Version string
	// Logger receives failed exports (at most one line per
	// exportLogInterval); default: discard. The SDK would otherwise report
	// them through OpenTelemetry's global error handler.
	Logger *slog.Logger
}

// The protocols OTEL_EXPORTER_OTLP_PROTOCOL may name.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf" // the specification's default
	ProtocolHTTPJSON     = "http/json"
)

// New builds the provider the environment asks for. Tracing is on when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set,
// unless OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none; spans
// are then exported over OTLP in batches, with the protocol
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL names
// (http/protobuf by default).
func New(ctx context.Context, opts Options) (*Provider, error) {
	get := func(k string) string {
		if opts.LookupEnv == nil {
			return ""
		}
		v, _ := opts.LookupEnv(k)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") ||
		(get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "") {
		return &Provider{}, nil
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); exp {
	case "none":
		return &Provider{}, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q: hookline exports spans over OTLP only (otlp, or none for no tracing)", exp)
	}
	protocol := cmp.Or(get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), get("OTEL_EXPORTER_OTLP_PROTOCOL"), ProtocolHTTPProtobuf)
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case ProtocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	case ProtocolHTTPProtobuf, ProtocolHTTPJSON:
		// It reads the protocol from the environment too.
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, fmt.Errorf("tracing: unknown OTLP protocol %q (use %s, %s or %s)", protocol, ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Attributes first, so that OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override them.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "hookline"), attribute.String("service.version", opts.Version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		if res == nil {
			return nil, errors.Join(fmt.Errorf("tracing: resource: %w", err), exp.Shutdown(ctx))
		}
		// A malformed OTEL_RESOURCE_ATTRIBUTES: the rest still applies.
		log.LogAttrs(ctx, slog.LevelWarn, "tracing: some resource attributes were ignored", slog.String("error", err.Error()))
	}
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(&loggingExporter{SpanExporter: exp, log: log, now: time.Now}),
		sdktrace.WithResource(res),
	)
	return &Provider{sdk: sdk, protocol: protocol}, nil
}

// TracerProvider is the provider to pass down: nil when tracing is off, so
// that its users skip tracing altogether instead of calling a no-op.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p.sdk == nil {
		return nil
	}
	return p.sdk
}

// Protocol is the OTLP protocol spans are exported with, "" when off.
func (p *Provider) Protocol() string { return p.protocol }

// Shutdown exports the spans still buffered, within ctx, and stops.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	if err := p.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: flushing spans: %w", err)
	}
	return nil
}

// exportLogInterval is the least time between two log lines about failed
// exports: a collector that is down fails every batch.
const exportLogInterval = 10 * time.Second

// loggingExporter logs failed exports to the injected logger, rate-limited,
// instead of returning them to the SDK, which would hand them to
// OpenTelemetry's process-wide error handler. Spans of a failed export are
// dropped either way (the OTLP exporters have retried by then).
type loggingExporter struct {
	sdktrace.SpanExporter
	log       *slog.Logger
	now       func() time.Time
	loggedAt  atomic.Int64 // unix nanoseconds of the last line, 0 before any
	notLogged atomic.Int64 // failures since
}

func (e *loggingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err == nil {
		return nil
	}
	now := e.now().UnixNano()
	last := e.loggedAt.Load()
	if (last != 0 && now-last < int64(exportLogInterval)) || !e.loggedAt.CompareAndSwap(last, now) {
		e.notLogged.Add(1)
		return nil
	}
	// The error names the collector and its answer, nothing of an event.
	e.log.LogAttrs(ctx, slog.LevelWarn, "exporting spans failed; they are dropped",
		slog.Int("spans", len(spans)), slog.String("error", err.Error()),
		slog.Int64("failures_not_logged", e.notLogged.Swap(0)))
	return nil
}
