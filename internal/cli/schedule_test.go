package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A scheduled delivery shows as such in `deliveries list` and `show`
// (due time, how it was worked out), `deliveries cancel` cancels it, and
// canceling it again says why not: against a real `hookline serve`.
func TestDeliveriesCancel(t *testing.T) {
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
	src := `
trigger "follow_up" {
  on = ["participant.confirmed"]
  action "http" "crm" {
    url = "https://crm.example.com/follow-up"
    schedule {
      delay     = "24h"
      cancel_on = ["appointment.deleted"]
      correlate = "appointment.id"
    }
  }
}
`
	if err := os.WriteFile(filepath.Join(rules, "r.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd, url := startServe(t, bin, "serve", "--sandbox", "--watch", "off", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), rules)
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	resp, err := http.Post(url+"/v1/events", "application/cloudevents+json", strings.NewReader(
		`{"specversion":"1.0","id":"1","source":"s","type":"participant.confirmed","time":"2026-12-02T09:00:00Z","data":{"appointment":{"id":7},"participant":{"name":"Ann"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != 202 || len(ans.Deliveries) != 1 {
		t.Fatalf("event: %d %+v", resp.StatusCode, ans)
	}
	id := ans.Deliveries[0].ID
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append(args, "--server", url), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, _ := cli("deliveries", "list", "--status", "scheduled"); code != 0 || !strings.Contains(out, id+"  scheduled") {
		t.Errorf("list: %d\n%s", code, out)
	}
	if code, out, _ := cli("deliveries", "show", id); code != 0 || !strings.Contains(out, "24h after the event's time 2026-12-02T09:00:00Z") {
		t.Errorf("show: %d\n%s", code, out)
	}
	// eval against the server names the waiting delivery a deletion would cancel.
	deleted := filepath.Join(dir, "deleted.json")
	if err := os.WriteFile(deleted, []byte(`{"specversion":"1.0","id":"2","source":"s","type":"appointment.deleted","data":{"appointment":{"id":7}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := cli("eval", "--event", deleted, rules); code != 0 || !strings.Contains(out, "    "+id+", due ") {
		t.Errorf("eval --server: %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := cli("deliveries", "cancel", id); code != 0 || out != id+" canceled.\n" {
		t.Errorf("cancel: %d %q", code, out)
	}
	if code, out, _ := cli("deliveries", "show", id); code != 0 || !strings.Contains(out, "canceled: by hand") {
		t.Errorf("show after cancel: %d\n%s", code, out)
	}
	if code, _, errOut := cli("deliveries", "cancel", id); code != 1 || !strings.Contains(errOut, "is canceled, not waiting") {
		t.Errorf("cancel again: %d %q", code, errOut)
	}
}
