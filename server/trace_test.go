package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hookline/hookline/internal/pgtest"
	"github.com/hookline/hookline/internal/testpeer"
	"github.com/hookline/hookline/internal/tracing"
)

// The participant of the traced events: none of this may appear in a span.
const (
	tracedName  = "Carla Diaz"
	tracedEmail = "carla@example.org"
	tracedPhone = "+15551234567"
)

// TestFollowingOneEvent exports spans over OTLP/HTTP, configured by the
// environment as `hookline serve` is, to an in-process receiver, and
// follows two events from their request to the receiver's answer: one
// accepted by a server that stops before delivering it and delivered by
// the next, one accepted and delivered by that next server. Not parallel:
// the exporter reads the process environment.
func TestFollowingOneEvent(t *testing.T) {
	sink := testpeer.NewOTLP()
	defer sink.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_TRACES_SAMPLER", "")
	t.Run("sqlite", func(t *testing.T) { followOneEvent(t, sink, "") })
	t.Run("postgres", func(t *testing.T) { followOneEvent(t, sink, pgtest.URL(t)) })
}

// lockedBuffer collects a server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(l.b.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func followOneEvent(t *testing.T, sink *testpeer.OTLP, databaseURL string) {
	ctx := context.Background()
	prov, err := tracing.New(ctx, tracing.Options{LookupEnv: os.LookupEnv, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if prov.TracerProvider() == nil {
		t.Fatal("tracing is off with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	rc := newReceiver(t)
	// The URL carries the participant's e-mail in its query string, as
	// many integrations do: it must not reach a span either.
	dir := writeRules(t, `trigger "crm_sync" {
  on = ["participant.confirmed"]
  action "http" "crm" {
    url = "`+rc.URL+`/crm?who=${urlencode(participant.email)}"
  }
}
`)
	data := filepath.Join(t.TempDir(), "data")
	store := func(o *Options) {
		o.DataDir, o.DatabaseURL = data, databaseURL
		o.TracerProvider = prov.TracerProvider()
	}
	evData := fmt.Sprintf(`{"appointment":{"title":"Visit"},"participant":{"name":%q,"email":%q,"phone":%q}}`, tracedName, tracedEmail, tracedPhone)
	// Trace and span ids of the senders' own spans.
	const (
		restartTrace = "0af7651916cd43dd8448eb211c80319c"
		restartSpan  = "b7ad6b7169203331"
		liveTrace    = "4bf92f3577b34da6a3ce929d0e0e4736"
		liveSpan     = "00f067aa0ba902b7"
	)

	// 1. A server that takes the first event and stops before delivering
	// it (it is never Run, so its store has no workers).
	opts := Options{RulesDir: dir, Watch: "off", LookupEnv: func(string) (string, bool) { return "", false }}
	store(&opts)
	first, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/events", strings.NewReader(string(event("before-restart", "participant.confirmed", evData))))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Traceparent", "00-"+restartTrace+"-"+restartSpan+"-01")
	w := httptest.NewRecorder()
	first.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusAccepted {
		t.Fatalf("first server: %d %s", w.Code, w.Body)
	}
	var restarted map[string]any
	json.Unmarshal(w.Body.Bytes(), &restarted)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	// 2. The next server delivers it, then takes and delivers the second.
	logs := &lockedBuffer{}
	h := startServer(t, dir, nil, func(o *Options) {
		store(o)
		o.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	code, live := h.do("POST", "/v1/events", "application/cloudevents+json", event("live", "participant.confirmed", evData),
		map[string]string{"Traceparent": "00-" + liveTrace + "-" + liveSpan + "-01", "Tracestate": "vendor=abc"})
	if code != http.StatusAccepted {
		t.Fatalf("POST: %d %v", code, live)
	}
	got := rc.wait(t, "/crm", 2)
	for _, ans := range []map[string]any{restarted, live} {
		waitStatus(t, h, deliveryIDs(t, ans)[0], "delivered")
	}
	h.stop() // attempts in flight end, and with them their spans
	if err := prov.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans := sink.Spans()

	traceparents := map[string]bool{}
	for _, r := range got {
		traceparents[r.header.Get("Traceparent")] = true
	}
	for _, c := range []struct {
		name                string
		answer              map[string]any
		traceID, senderSpan string
	}{
		{"accepted before the restart", restarted, restartTrace, restartSpan},
		{"accepted after it", live, liveTrace, liveSpan},
	} {
		eventID, deliveryID := c.answer["id"].(string), deliveryIDs(t, c.answer)[0]
		intake := findSpan(spans, func(s testpeer.Span) bool {
			return s.Name == "POST /v1/events" && s.Attrs["hookline.event.id"] == eventID
		})
		if intake == nil {
			t.Errorf("%s: no intake span for %s among %v", c.name, eventID, names(spans))
			continue
		}
		if intake.TraceID != c.traceID || intake.ParentID != c.senderSpan || intake.Kind != "SPAN_KIND_SERVER" {
			t.Errorf("%s: intake span in trace %s under %s (%s), want the sender's trace %s under %s",
				c.name, intake.TraceID, intake.ParentID, intake.Kind, c.traceID, c.senderSpan)
		}
		for k, v := range map[string]string{"hookline.event.type": "participant.confirmed", "hookline.deliveries": "1",
			"http.request.method": "POST", "http.route": "/v1/events", "http.response.status_code": "202"} {
			if intake.Attrs[k] != v {
				t.Errorf("%s: intake %s = %q, want %q", c.name, k, intake.Attrs[k], v)
			}
		}
		for _, step := range []string{"decode", "match", "commit"} {
			if findSpan(spans, func(s testpeer.Span) bool { return s.Name == step && s.ParentID == intake.SpanID }) == nil {
				t.Errorf("%s: no %s span under intake", c.name, step)
			}
		}
		attempt := findSpan(spans, func(s testpeer.Span) bool {
			return s.Name == "attempt http" && s.Attrs["hookline.delivery.id"] == deliveryID
		})
		if attempt == nil {
			t.Errorf("%s: no attempt span for %s among %v", c.name, deliveryID, names(spans))
			continue
		}
		if attempt.TraceID != c.traceID || attempt.ParentID != intake.SpanID {
			t.Errorf("%s: attempt span in trace %s under %s, want trace %s under the intake span %s",
				c.name, attempt.TraceID, attempt.ParentID, c.traceID, intake.SpanID)
		}
		for k, v := range map[string]string{"hookline.event.id": eventID, "hookline.trigger": "crm_sync",
			"hookline.action": "crm_sync.http.crm", "hookline.action.type": "http", "hookline.attempt": "1",
			"hookline.outcome": "delivered", "hookline.status_code": "200"} {
			if attempt.Attrs[k] != v {
				t.Errorf("%s: attempt %s = %q, want %q", c.name, k, attempt.Attrs[k], v)
			}
		}
		if want := "00-" + c.traceID + "-" + attempt.SpanID + "-01"; !traceparents[want] {
			t.Errorf("%s: the receiver got traceparents %v, want %s (the attempt's span)", c.name, traceparents, want)
		}
	}
	for _, r := range got {
		if strings.Contains(r.header.Get("Traceparent"), liveTrace) && r.header.Get("Tracestate") != "vendor=abc" {
			t.Errorf("tracestate %q, want the sender's", r.header.Get("Tracestate"))
		}
	}

	// Nothing personal in any span: names, attributes, events, statuses,
	// resource.
	for _, s := range spans {
		text := fmt.Sprintf("%s %v %v %s %v", s.Name, s.Attrs, s.Events, s.StatusMessage, s.Resource)
		for _, secret := range []string{tracedName, tracedEmail, tracedPhone, "carla", "5551234567"} {
			if strings.Contains(strings.ToLower(text), strings.ToLower(secret)) {
				t.Errorf("span %s holds %q: %s", s.Name, secret, text)
			}
		}
	}

	// The second server's lines about an event share its event_id and
	// carry its trace id.
	byEvent := map[string]int{}
	for _, line := range logs.lines(t) {
		id, _ := line["event_id"].(string)
		if id == "" {
			if line["ce_id"] != nil || line["delivery_id"] != nil {
				t.Errorf("a line about an event without its event_id: %v", line)
			}
			continue
		}
		byEvent[id]++
		want := map[string]string{restarted["id"].(string): restartTrace, live["id"].(string): liveTrace}[id]
		if line[tracing.LogKey] != want {
			t.Errorf("line %v: trace_id %v, want %s", line, line[tracing.LogKey], want)
		}
		if line["level"] == "INFO" || line["level"] == "WARN" || line["level"] == "ERROR" {
			b, _ := json.Marshal(line)
			for _, secret := range []string{tracedName, tracedEmail, tracedPhone} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("log line holds %q: %s", secret, b)
				}
			}
		}
	}
	// The live event: accepted (server, store) and delivered; the other:
	// delivered.
	if byEvent[live["id"].(string)] < 3 || byEvent[restarted["id"].(string)] < 1 {
		t.Errorf("lines per event %v", byEvent)
	}
}

func findSpan(spans []testpeer.Span, match func(testpeer.Span) bool) *testpeer.Span {
	for i := range spans {
		if match(spans[i]) {
			return &spans[i]
		}
	}
	return nil
}

func names(spans []testpeer.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name+" "+s.Attrs["hookline.event.id"]+s.Attrs["hookline.delivery.id"])
	}
	return out
}
