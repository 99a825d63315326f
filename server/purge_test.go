package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// waitDeliveryStatus polls the API until delivery id has status want.
func waitDeliveryStatus(t *testing.T, h *harness, id, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, d := h.do("GET", "/v1/deliveries/"+id, "", nil, nil)
		if d["status"] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s: %v, want status %s", id, d["status"], want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPurgeAPI purges through POST /v1/events/purge: an age or a time,
// what was removed in the answer and in the metrics, and 400 for what it
// cannot read.
func TestPurgeAPI(t *testing.T) { eachStore(t, testPurgeAPI) }

func testPurgeAPI(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	h := startServer(t, writeRules(t, rule("t", rc.URL+"/hook")), nil, store)
	status, ans := h.post(event("purge-1", "participant.confirmed", confirmedData))
	if status != 202 {
		t.Fatalf("event: %d %v", status, ans)
	}
	evID := ans["id"].(string)
	waitDeliveryStatus(t, h, deliveryIDs(t, ans)[0], "delivered")
	purge := func(body string) (int, map[string]any) {
		t.Helper()
		return h.do("POST", "/v1/events/purge", "application/json", []byte(body), nil)
	}

	// A time before the event removes nothing.
	status, out := purge(`{"before": "2020-01-01T00:00:00Z"}`)
	if status != 200 || out["events"] != 0.0 || out["before"] != "2020-01-01T00:00:00Z" {
		t.Errorf("purge before 2020: %d %v", status, out)
	}
	// An age of 0: everything finished until now.
	status, out = purge(`{"before": "0d"}`)
	if status != 200 || out["events"] != 1.0 || out["deliveries"] != 1.0 || out["attempts"] != 1.0 {
		t.Errorf("purge 0d: %d %v, want 1 event, 1 delivery, 1 attempt", status, out)
	}
	if at, err := time.Parse(time.RFC3339Nano, out["before"].(string)); err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Errorf("before %v (%v), want about now", out["before"], err)
	}
	if status, _ := h.do("GET", "/v1/events/"+evID, "", nil, nil); status != 404 {
		t.Errorf("GET the purged event: %d, want 404", status)
	}
	metrics := scrape(t, h)
	for _, want := range []string{
		`hookline_retention_removed_total{table="events"} 1` + "\n",
		`hookline_retention_removed_total{table="deliveries"} 1` + "\n",
		`hookline_retention_removed_total{table="attempts"} 1` + "\n",
		"hookline_store_size_bytes ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "hookline_store_size_bytes -1") {
		t.Error("hookline_store_size_bytes is -1: the size could not be read")
	}

	for _, c := range []struct{ body, code string }{
		{``, "invalid_json"},
		{`not json`, "invalid_json"},
		{`["30d"]`, "invalid_json"},
		{`{"before": 30}`, "invalid_json"},
		{`{"before": "30d", "status": "failed"}`, "invalid_json"},
		{`{"before": "30d"} {}`, "invalid_json"},
		{`{}`, "invalid_filter"},
		{`{"before": "yesterday"}`, "invalid_filter"},
		{`{"before": "-1h"}`, "invalid_filter"},
		{`{"before": "2026-01-31"}`, "invalid_filter"},
	} {
		status, out := purge(c.body)
		e, _ := out["error"].(map[string]any)
		if status != 400 || e["code"] != c.code || e["message"] == "" {
			t.Errorf("purge %s: %d %v, want 400 %s", c.body, status, out, c.code)
		}
	}
}

// The size gauge reads the store once per TTL and shows -1 when it
// cannot.
func TestSizeGauge(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var reads int
	size := int64(4096)
	var err error
	reg := prometheus.NewRegistry()
	reg.MustRegister(newSizeGauge(func(context.Context) (int64, error) { reads++; return size, err }, clk.Now, time.Second))
	want := func(v string, n int) {
		t.Helper()
		if got := scrapeOnly(t, reg); !strings.Contains(got, "\nhookline_store_size_bytes "+v+"\n") || reads != n {
			t.Errorf("after %d reads:\n%s\nwant hookline_store_size_bytes %s after %d reads", reads, got, v, n)
		}
	}
	want("4096", 1)
	size = 8192
	want("4096", 1) // within the TTL
	clk.Add(time.Second)
	want("8192", 2)
	err = errors.New("disk gone")
	clk.Add(time.Second)
	want("-1", 3)
}
