package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitRules polls GET /v1/rules until ok accepts it.
func waitRules(t *testing.T, h *harness, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var r map[string]any
	for time.Now().Before(deadline) {
		_, r = h.do("GET", "/v1/rules", "", nil, nil)
		if ok(r) {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: rules never became so: %v", what, r)
	return nil
}

func hasTrigger(r map[string]any, name string) bool {
	for _, tr := range r["triggers"].([]any) {
		if tr.(map[string]any)["name"] == name {
			return true
		}
	}
	return false
}

func scrape(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func rule(name, url string) string {
	return fmt.Sprintf(`trigger %q {
  on = ["participant.confirmed"]
  action "http" "h" { url = %q }
}
`, name, url)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad rewrites the rules in every way real deployments do
// while events stream in, and checks that no event is refused or left
// unevaluated, that good edits take effect and bad ones do not.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hcl")
	write(t, main, rule("a", rc.URL+"/v1"))
	// A Kubernetes ConfigMap mount: cm.hcl -> ..data/cm.hcl, ..data -> ..v1.
	write(t, filepath.Join(dir, "..v1", "cm.hcl"), rule("cm", rc.URL+"/cm1"))
	must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "cm.hcl"), filepath.Join(dir, "cm.hcl")))

	h := startServer(t, dir, nil, func(o *Options) { o.Debounce = 50 * time.Millisecond })
	initial := waitRules(t, h, "start", func(r map[string]any) bool { return hasTrigger(r, "a") && hasTrigger(r, "cm") })

	// Stream events for the whole test.
	var mu sync.Mutex
	var bad []string
	sent := 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			status, ans := h.post(event(fmt.Sprintf("load-%d", i), "participant.confirmed", confirmedData))
			mu.Lock()
			sent++
			if status != http.StatusAccepted || ans["errors"] != nil || len(ans["deliveries"].([]any)) == 0 {
				bad = append(bad, fmt.Sprintf("%d %v", status, ans))
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()

	// 1. A valid edit takes effect.
	write(t, main, rule("a", rc.URL+"/v2"))
	r := waitRules(t, h, "valid edit", func(r map[string]any) bool { return r["hash"] != initial["hash"] })
	rc.wait(t, "/v2", 1)

	// 2. A broken file keeps the previous rules, with the error visible.
	write(t, main, `trigger "a" { on = ["participant.confirmed"]`)
	broken := waitRules(t, h, "broken edit", func(r map[string]any) bool { return r["last_error"] != nil })
	if broken["hash"] != r["hash"] || !hasTrigger(broken, "a") {
		t.Errorf("a broken file changed the live rules: %v", broken)
	}
	diags := broken["last_error"].(map[string]any)["diagnostics"].([]any)
	if len(diags) == 0 || !strings.Contains(fmt.Sprint(diags[0]), "main.hcl") {
		t.Errorf("last_error lacks the diagnostic: %v", broken["last_error"])
	}
	if m := scrape(t, h); !strings.Contains(m, "hookline_rules_last_reload_successful 0") {
		t.Error("the reload metric does not show the failure")
	}
	before := len(rc.requests("/v2"))
	rc.wait(t, "/v2", before+3) // events still fire on the previous rules

	// 3. Save like vim: write a temporary file, rename it over the original.
	tmp := filepath.Join(dir, ".main.hcl.swp")
	write(t, tmp, rule("a", rc.URL+"/v3"))
	must(t, os.Rename(tmp, main))
	waitRules(t, h, "rename over", func(r map[string]any) bool { return r["last_error"] == nil && r["hash"] != broken["hash"] })
	rc.wait(t, "/v3", 1)
	if m := scrape(t, h); !strings.Contains(m, "hookline_rules_last_reload_successful 1") {
		t.Error("the reload metric does not show the recovery")
	}

	// 4. A ConfigMap update: new directory, ..data symlink swapped atomically.
	write(t, filepath.Join(dir, "..v2", "cm.hcl"), rule("cm", rc.URL+"/cm2"))
	must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
	must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	rc.wait(t, "/cm2", 1)

	// 5. A new subdirectory with a new file.
	write(t, filepath.Join(dir, "teams", "billing", "b.hcl"), rule("billing", rc.URL+"/billing"))
	waitRules(t, h, "new subdirectory", func(r map[string]any) bool { return hasTrigger(r, "billing") })
	rc.wait(t, "/billing", 1)

	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d of %d events were refused or unevaluated, e.g. %s", len(bad), sent, bad[0])
	}
	if sent < 10 {
		t.Errorf("only %d events were sent during the reloads", sent)
	}
}

func TestReloadAPIAndPolling(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "r.hcl"), rule("a", "https://example.com/a"))
	h := startServer(t, dir, nil, func(o *Options) {
		o.Watch = "poll"
		o.PollInterval = 20 * time.Millisecond
		o.Sandbox = true
	})
	// Unchanged files: 200, nothing changed.
	status, ans := h.do("POST", "/v1/reload", "", nil, nil)
	if status != 200 || ans["changed"] != false {
		t.Fatalf("reload of unchanged files: %d %v", status, ans)
	}
	// A broken file: 422 with diagnostics; the poller reports it too.
	write(t, filepath.Join(dir, "r.hcl"), `trigger "a" { on = ["participant.confirmd"] }`)
	status, ans = h.do("POST", "/v1/reload", "", nil, nil)
	if status != 422 || ans["error"].(map[string]any)["code"] != "invalid_rules" || !strings.Contains(fmt.Sprint(ans["diagnostics"]), "Unknown event type") {
		t.Fatalf("reload of a broken file: %d %v", status, ans)
	}
	// Polling notices a good file without any request.
	write(t, filepath.Join(dir, "r.hcl"), rule("b", "https://example.com/b"))
	waitRules(t, h, "poll", func(r map[string]any) bool { return hasTrigger(r, "b") && r["last_error"] == nil })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestEmptyRulesAreRefused: moving every rule file away, or leaving files
// without a trigger, is refused like a broken edit: the previous rules keep
// serving and /readyz stays 200, with the error in /v1/rules and the
// metric. Starting on such a directory is refused too. AllowEmpty permits
// both.
func TestEmptyRulesAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "r.hcl")
	write(t, file, rule("a", "https://example.com/a"))
	h := startServer(t, dir, nil, func(o *Options) { o.Watch = "off"; o.Sandbox = true })

	for _, tt := range []struct{ name, msg string }{
		{"no rule files", "no rule files (*.hcl)"},
		{"no triggers", "define no triggers"},
	} {
		if tt.name == "no rule files" {
			must(t, os.Rename(file, filepath.Join(dir, "r.hcl.bak")))
		} else {
			write(t, file, "# every trigger moved elsewhere\ntwilio {\n  account_sid = \"AC1\"\n  auth_token = \"t\"\n  from = \"+15550199\"\n}\n")
		}
		status, ans := h.do("POST", "/v1/reload", "", nil, nil)
		apiErr, _ := ans["error"].(map[string]any)
		if msg, _ := apiErr["message"].(string); status != 422 || !strings.Contains(msg, tt.msg) || !strings.Contains(msg, "--allow-empty") {
			t.Errorf("%s: reload answered %d %v, want 422 saying %q and naming --allow-empty", tt.name, status, ans, tt.msg)
		}
		_, r := h.do("GET", "/v1/rules", "", nil, nil)
		last, _ := r["last_error"].(map[string]any)
		if !hasTrigger(r, "a") || last == nil || !strings.Contains(fmt.Sprint(last["message"]), tt.msg) {
			t.Errorf("%s: /v1/rules %v, want trigger a live and last_error saying %q", tt.name, r, tt.msg)
		}
		if m := scrape(t, h); !strings.Contains(m, "hookline_rules_last_reload_successful 0") || !strings.Contains(m, "hookline_rules_triggers 1") {
			t.Errorf("%s: the metrics do not show a refused reload with the old rules live", tt.name)
		}
		if status, ans := h.do("GET", "/readyz", "", nil, nil); status != 200 || ans["triggers"] != float64(1) {
			t.Errorf("%s: /readyz %d %v, want 200 with the previous rules", tt.name, status, ans)
		}
		if status, ans := h.post(event("empty-"+tt.name, "participant.confirmed", confirmedData)); status != 202 || len(deliveryIDs(t, ans)) != 1 {
			t.Errorf("%s: an event got %d %v, want it delivered by the previous rules", tt.name, status, ans)
		}
	}
	// Putting the rules back is a good edit again.
	write(t, file, rule("a", "https://example.com/a"))
	if status, ans := h.do("POST", "/v1/reload", "", nil, nil); status != 200 {
		t.Fatalf("reload of the rules put back: %d %v", status, ans)
	}
	if m := scrape(t, h); !strings.Contains(m, "hookline_rules_last_reload_successful 1") {
		t.Error("the reload metric does not show the recovery")
	}

	// Starting on an empty directory, or on rules without a trigger.
	noTriggers := writeRules(t, "# nothing yet\n")
	for _, d := range []string{t.TempDir(), noTriggers} {
		srv, err := New(context.Background(), Options{RulesDir: d, DataDir: t.TempDir(), Sandbox: true})
		if err == nil {
			srv.Close()
			t.Errorf("%s: the server started without rules", d)
		} else if !strings.Contains(err.Error(), "--allow-empty") {
			t.Errorf("%s: %v, want an error naming --allow-empty", d, err)
		}
	}

	// With AllowEmpty, both are intended.
	empty := t.TempDir()
	h = startServer(t, empty, nil, func(o *Options) { o.Watch = "off"; o.Sandbox = true; o.AllowEmpty = true })
	if status, ans := h.do("GET", "/readyz", "", nil, nil); status != 200 || ans["triggers"] != float64(0) {
		t.Errorf("AllowEmpty: /readyz %d %v", status, ans)
	}
	write(t, filepath.Join(empty, "r.hcl"), rule("b", "https://example.com/b"))
	if status, ans := h.do("POST", "/v1/reload", "", nil, nil); status != 200 {
		t.Fatalf("AllowEmpty: reload to a rule: %d %v", status, ans)
	}
	must(t, os.Remove(filepath.Join(empty, "r.hcl")))
	if status, ans := h.do("POST", "/v1/reload", "", nil, nil); status != 200 || ans["changed"] != true {
		t.Errorf("AllowEmpty: reload to no rules: %d %v", status, ans)
	}
	if status, ans := h.post(event("empty-allowed", "participant.confirmed", confirmedData)); status != 202 || len(deliveryIDs(t, ans)) != 0 {
		t.Errorf("AllowEmpty: an event got %d %v, want accepted with no delivery", status, ans)
	}
}
