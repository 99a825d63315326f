package testpeer

import (
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	common "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one span an OTLP peer received, flattened for assertions: ids in
// lower-case hex as W3C traceparent writes them, every attribute value as
// text.
type Span struct {
	TraceID, SpanID string
	ParentID        string // "" for a root span
	Name            string
	Kind            string // SPAN_KIND_SERVER, …
	Attrs           map[string]string
	Events          []SpanEvent
	Links           []SpanLink
	StatusCode      string // STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR
	StatusMessage   string
	Resource        map[string]string // the attributes of the span's resource
}

// SpanEvent is an event recorded on a span.
type SpanEvent struct {
	Name  string
	Attrs map[string]string
}

// SpanLink is a link from a span to another.
type SpanLink struct{ TraceID, SpanID string }

// OTLP is an OTLP/HTTP trace receiver (POST /v1/traces, protobuf, gzip or
// not), as a collector would run: point OTEL_EXPORTER_OTLP_ENDPOINT at its
// URL. It answers every export with success and keeps the spans.
type OTLP struct {
	*httptest.Server

	mu    sync.Mutex
	spans []Span
}

// NewOTLP starts the receiver; Close stops it.
func NewOTLP() *OTLP {
	o := &OTLP{}
	o.Server = httptest.NewServer(http.HandlerFunc(o.serve))
	return o
}

func (o *OTLP) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "only application/x-protobuf is understood, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := Span{
					TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
					ParentID: hex.EncodeToString(s.GetParentSpanId()), Name: s.GetName(), Kind: s.GetKind().String(),
					Attrs: attrs(s.GetAttributes()), StatusCode: s.GetStatus().GetCode().String(),
					StatusMessage: s.GetStatus().GetMessage(), Resource: res,
				}
				for _, e := range s.GetEvents() {
					sp.Events = append(sp.Events, SpanEvent{Name: e.GetName(), Attrs: attrs(e.GetAttributes())})
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, SpanLink{TraceID: hex.EncodeToString(l.GetTraceId()), SpanID: hex.EncodeToString(l.GetSpanId())})
				}
				got = append(got, sp)
			}
		}
	}
	o.mu.Lock()
	o.spans = append(o.spans, got...)
	o.mu.Unlock()
	out, err := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// attrs turns OTLP attributes into text values.
func attrs(kvs []*common.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyText(kv.GetValue())
	}
	return m
}

func anyText(v *common.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *common.AnyValue_StringValue:
		return x.StringValue
	case *common.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *common.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *common.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case nil:
		return ""
	}
	// Arrays, maps and bytes: their protobuf text, which holds every
	// string inside them.
	return fmt.Sprint(v)
}

// Spans returns the spans received so far.
func (o *OTLP) Spans() []Span {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Span(nil), o.spans...)
}

// Wait polls until a span satisfying match arrived, or the timeout passes.
func (o *OTLP) Wait(match func(Span) bool, timeout time.Duration) (Span, bool) {
	deadline := time.Now().Add(timeout)
	for {
		for _, s := range o.Spans() {
			if match(s) {
				return s, true
			}
		}
		if time.Now().After(deadline) {
			return Span{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
