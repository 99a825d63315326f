package cli

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/testpeer"
)

// TestServeExportsTraces runs `hookline serve` with OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at an in-process OTLP receiver: an event's intake and attempt
// spans arrive in the sender's trace, at the latest when the server exits,
// since it flushes them on the way out. Not parallel: the child inherits
// the environment set here.
func TestServeExportsTraces(t *testing.T) {
	bin, err := exec.LookPath("hookline")
	if err != nil {
		t.Fatal(err)
	}
	sink := testpeer.NewOTLP()
	defer sink.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
	t.Setenv("OTEL_SERVICE_NAME", "hookline-test")
	got := make(chan string, 1)
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Traceparent")
	}))
	defer peer.Close()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rules, "r.hcl"), []byte(`trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" { url = "`+peer.URL+`/hook" }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := launchServe(t, bin, "serve", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--allow-cidr", "127.0.0.0/8", "--watch", "off", rules)
	url := p.url(t)
	req, _ := http.NewRequest("POST", url+"/v1/events", strings.NewReader(
		`{"specversion":"1.0","id":"1","source":"s","type":"participant.confirmed","data":{"appointment":{},"participant":{"name":"Ann"}}}`))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	var traceparent string
	select {
	case traceparent = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("the peer got nothing; the server said:\n%s", p.logged())
	}
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, p.logged())
	}
	if !strings.Contains(p.logged(), "tracing: exporting spans over OTLP") {
		t.Errorf("no line says tracing is on:\n%s", p.logged())
	}

	byName := map[string]testpeer.Span{}
	for _, s := range sink.Spans() {
		byName[s.Name] = s
	}
	intake, attempt := byName["POST /v1/events"], byName["attempt http"]
	if intake.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || intake.ParentID != "00f067aa0ba902b7" {
		t.Errorf("intake span %+v, want it in the sender's trace", intake)
	}
	if attempt.TraceID != intake.TraceID || attempt.ParentID != intake.SpanID || attempt.SpanID == "" {
		t.Errorf("attempt span %+v, want a child of the intake span %s", attempt, intake.SpanID)
	}
	if want := "00-" + intake.TraceID + "-" + attempt.SpanID + "-01"; traceparent != want {
		t.Errorf("the peer got traceparent %q, want %q", traceparent, want)
	}
	if intake.Resource["service.name"] != "hookline-test" || intake.Resource["service.version"] == "" {
		t.Errorf("resource %v", intake.Resource)
	}
}
