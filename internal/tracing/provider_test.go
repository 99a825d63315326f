package tracing

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"

	"github.com/hookline/hookline/internal/testpeer"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestTracingIsOffUnlessAnEndpointIsSet(t *testing.T) {
	t.Parallel()
	for name, env := range map[string]map[string]string{
		"nothing set":        {},
		"protocol only":      {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"blank endpoint":     {"OTEL_EXPORTER_OTLP_ENDPOINT": "  "},
		"sdk disabled":       {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"},
		"no traces exporter": {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := New(context.Background(), Options{LookupEnv: lookup(env)})
			if err != nil {
				t.Fatal(err)
			}
			if tp := p.TracerProvider(); tp != nil {
				t.Errorf("TracerProvider() = %v, want nil (off)", tp)
			}
			if p.Protocol() != "" {
				t.Errorf("Protocol() = %q", p.Protocol())
			}
			if err := p.Shutdown(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	p, err := New(context.Background(), Options{})
	if err != nil || p.TracerProvider() != nil {
		t.Errorf("no LookupEnv: %v, %v; want off", p.TracerProvider(), err)
	}
}

func TestProtocolChoice(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string // "" for an error
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, ProtocolHTTPProtobuf},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, ProtocolHTTPJSON},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, ProtocolGRPC},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "thrift"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "zipkin"}, ""},
	} {
		p, err := New(context.Background(), Options{LookupEnv: lookup(tc.env)})
		if tc.want == "" {
			if err == nil {
				t.Errorf("%v: no error", tc.env)
				p.Shutdown(context.Background())
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if p.Protocol() != tc.want || p.TracerProvider() == nil {
			t.Errorf("%v: protocol %q, provider %v; want %q", tc.env, p.Protocol(), p.TracerProvider(), tc.want)
		}
		// Nothing was traced: shutting down exports nothing and needs no
		// collector.
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("%v: %v", tc.env, err)
		}
	}
}

// TestExportsOverOTLPHTTP exports through the real exporter, configured by
// the process environment as in production, to an in-process receiver.
func TestExportsOverOTLPHTTP(t *testing.T) {
	sink := testpeer.NewOTLP()
	defer sink.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	ctx := context.Background()
	p, err := New(ctx, Options{LookupEnv: os.LookupEnv, Version: "v1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(ctx, "work", trace.WithAttributes(EventID.String("evt_1")))
	span.End()
	// Shutdown flushes: the span has arrived when it returns.
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := sink.Spans()
	if len(spans) != 1 {
		t.Fatalf("received %d spans, want 1: %+v", len(spans), spans)
	}
	s := spans[0]
	if s.Name != "work" || s.Attrs["hookline.event.id"] != "evt_1" {
		t.Errorf("span %+v", s)
	}
	for k, want := range map[string]string{"service.name": "hookline", "service.version": "v1.2.3", "deployment.environment.name": "test"} {
		if s.Resource[k] != want {
			t.Errorf("resource %s = %q, want %q (%v)", k, s.Resource[k], want, s.Resource)
		}
	}
}

// traceService is a gRPC OTLP receiver.
type traceService struct {
	coltrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	names []string
}

func (s *traceService) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s.names = append(s.names, sp.GetName())
			}
		}
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func TestExportsOverOTLPGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc := &traceService{}
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, svc)
	go srv.Serve(ln)
	defer srv.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+ln.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	ctx := context.Background()
	p, err := New(ctx, Options{LookupEnv: os.LookupEnv})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.TracerProvider().Tracer("test").Start(ctx, "over grpc")
	span.End()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if len(svc.names) != 1 || svc.names[0] != "over grpc" {
		t.Errorf("received %v", svc.names)
	}
}

type failingExporter struct{ *tracetest.NoopExporter }

func (failingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	return errors.New("collector said 503")
}

func TestFailedExportsAreLoggedNotPanicked(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	e := &loggingExporter{SpanExporter: failingExporter{tracetest.NewNoopExporter()}, log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }}
	for range 3 {
		if err := e.ExportSpans(context.Background(), nil); err != nil {
			t.Fatal(err) // the SDK would hand it to the global error handler
		}
	}
	if n := strings.Count(buf.String(), "exporting spans failed"); n != 1 {
		t.Errorf("%d lines within the interval, want 1:\n%s", n, buf.String())
	}
	now = now.Add(exportLogInterval)
	e.ExportSpans(context.Background(), nil)
	if !strings.Contains(buf.String(), "failures_not_logged=2") || !strings.Contains(buf.String(), "collector said 503") {
		t.Errorf("second line:\n%s", buf.String())
	}
}

func TestEncodeDecode(t *testing.T) {
	t.Parallel()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc := Decode(parent, "vendor=abc")
	if !sc.IsValid() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsSampled() {
		t.Fatalf("Decode: %+v", sc)
	}
	p, s := Encode(sc)
	if p != parent || s != "vendor=abc" {
		t.Errorf("Encode: %q %q", p, s)
	}
	for _, bad := range []string{"", "00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if Decode(bad, "").IsValid() {
			t.Errorf("Decode(%q) is valid", bad)
		}
	}
	if p, s := Encode(trace.SpanContext{}); p != "" || s != "" {
		t.Errorf("Encode(invalid) = %q %q", p, s)
	}
	// A tracestate that does not parse is dropped, the parent kept.
	if sc := Decode(parent, "not a tracestate"); !sc.IsValid() || sc.TraceState().Len() != 0 {
		t.Errorf("bad tracestate: %+v", sc)
	}
}

func TestWithTraceID(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	WithTraceID(context.Background(), log).Info("off")
	sc := Decode("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")
	WithTraceID(trace.ContextWithSpanContext(context.Background(), sc), log).Info("on")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if strings.Contains(lines[0], "trace_id") || !strings.Contains(lines[1], "trace_id=4bf92f3577b34da6a3ce929d0e0e4736") {
		t.Errorf("lines:\n%s", buf.String())
	}
}
