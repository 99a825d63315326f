package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeAllowEmpty starts `hookline serve --allow-empty` on an empty
// rules directory, which serve_empty.txtar shows is refused without the
// flag: the server is ready, and takes events that fire nothing.
func TestServeAllowEmpty(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("hookline")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, url := startServe(t, bin, "serve", "--allow-empty", "--sandbox", "--watch", "off", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), rules)
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	get := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	if status, ans := get("GET", "/readyz", ""); status != 200 || ans["triggers"] != float64(0) {
		t.Errorf("/readyz: %d %v, want 200 with 0 triggers", status, ans)
	}
	status, ans := get("POST", "/v1/events", `{"specversion":"1.0","id":"1","source":"s","type":"participant.confirmed","data":{"appointment":{},"participant":{}}}`)
	if ds, _ := ans["deliveries"].([]any); status != 202 || len(ds) != 0 {
		t.Errorf("an event: %d %v, want 202 with no deliveries", status, ans)
	}
}
