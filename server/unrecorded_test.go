package server

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Attempts made but not recorded (the database refuses their record) show
// on /readyz as degraded, still 200, and on /metrics, until recorded.
func TestReadyzDegradedWhileAttemptsAreNotRecorded(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	h := startServer(t, writeRules(t, `
trigger "ok" {
  on = ["participant.confirmed"]
  retry {
    schedule     = ["50ms"]
    max_attempts = 100
  }
  action "http" "h" { url = "`+rc.URL+`/ok" }
}`), nil, nil)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.data, "hookline.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER hookline_test_refuse BEFORE INSERT ON hookline_attempt
		BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END`); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.post(event("m1", "participant.confirmed", `{"appointment":{},"participant":{"name":"Ann"}}`)); code != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d", code)
	}
	rc.wait(t, "/ok", 1)
	readyz := func(want string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			code, body := h.do("GET", "/readyz", "", nil, nil)
			if code == http.StatusOK && body["status"] == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz: %d %v, want 200 and status %s", code, body, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	body := readyz("degraded")
	if reason, _ := body["degraded"].(string); !strings.Contains(reason, "disk full (test)") {
		t.Errorf("degraded reason %q", reason)
	}
	if m := scrape(t, h); !strings.Contains(m, "hookline_attempts_unrecorded 1\n") || strings.Contains(m, "hookline_attempt_record_failures_total 0\n") {
		t.Errorf("metrics do not show the attempt not recorded:\n%s", m)
	}
	if _, err := db.Exec(`DROP TRIGGER hookline_test_refuse`); err != nil {
		t.Fatal(err)
	}
	readyz("ready")
	if n := len(rc.requests("/ok")); n != 1 {
		t.Errorf("the peer got %d requests, want 1", n)
	}
}
