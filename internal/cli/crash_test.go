package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCrashLosesNothing runs `hookline serve` as a child process, posts
// events while the receiver is slow, kills the server with SIGKILL, starts
// it again on the same data directory, and checks that every accepted
// event's delivery arrives (at least once; duplicates are counted).
func TestCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	t.Parallel()
	bin, err := exec.LookPath("hookline") // put on PATH by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	ta := newTally()
	ta.setDelay(20 * time.Millisecond) // slow enough that work is in flight at the kill
	recv := httptest.NewServer(ta)
	defer recv.Close()

	dir := t.TempDir()
	writeTallyRules(t, dir, recv.URL, "50ms")
	data := filepath.Join(dir, "data")
	start := func() (*exec.Cmd, string) {
		return startServe(t, bin, "serve", "--listen", "127.0.0.1:0", "--data", data, "--allow-cidr", "127.0.0.0/8", "--log-level", "warn", dir)
	}

	post := func(url string, from, to int) []string {
		return sender{urls: []string{url}, source: "crash", workers: 1}.post("evt", from, to, everyNode)
	}

	cmd, url := start()
	accepted := post(url, 0, 150)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown at all
		t.Fatal(err)
	}
	cmd.Wait()
	cmd, url = start()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	accepted = append(accepted, post(url, 150, 200)...) // the restarted server takes new events too

	// A request the kill cut off still arrived: this test asks for arrival.
	lost, dups := ta.await(accepted, 90*time.Second, true)
	if len(accepted) < 150 {
		t.Errorf("only %d of 200 events were accepted", len(accepted))
	}
	if len(lost) > 0 {
		t.Fatalf("%d accepted events never delivered, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	t.Logf("%d events accepted, all delivered; %d duplicate deliveries (at-least-once)", len(accepted), dups)

	// The CLI reads the run log of the restarted server.
	var out bytes.Buffer
	c := exec.Command(bin, "deliveries", "list", "--server", url, "--status", "delivered", "--limit", "5", "--format", "json")
	c.Stdout = &out
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	var page struct {
		Deliveries []struct {
			ID      string `json:"id"`
			EventID string `json:"event_id"`
			Status  string `json:"status"`
		} `json:"deliveries"`
	}
	if err := json.Unmarshal(out.Bytes(), &page); err != nil || len(page.Deliveries) != 5 || page.Deliveries[0].Status != "delivered" {
		t.Fatalf("deliveries list: %v %s", err, out.String())
	}
	first := page.Deliveries[0]
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		c := exec.Command(bin, append(args, "--server", url)...)
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil {
			t.Fatalf("hookline %v: %v\n%s", args, err, errb.String())
		}
		return out.String()
	}
	if got := run("deliveries", "show", first.ID); !strings.Contains(got, "t.http.h  DELIVERED") || !strings.Contains(got, "Attempts:") {
		t.Errorf("deliveries show:\n%s", got)
	}
	if got := run("deliveries", "retry", first.ID); !strings.Contains(got, first.ID+" scheduled again.") {
		t.Errorf("deliveries retry: %s", got)
	}
	if got := run("deliveries", "retry", "--status", "failed"); !strings.Contains(got, "0 deliveries scheduled again.") {
		t.Errorf("deliveries retry --status failed: %s", got)
	}
	if got := run("events", "show", first.EventID); !strings.Contains(got, "participant.confirmed") || !strings.Contains(got, first.ID) {
		t.Errorf("events show:\n%s", got)
	}
	c = exec.Command(bin, "deliveries", "show", "dlv_missing", "--server", url)
	if b, err := c.CombinedOutput(); err == nil || !strings.Contains(string(b), `There is no delivery "dlv_missing". (HTTP 404)`) {
		t.Errorf("unknown delivery: %v %s", err, b)
	}
}

// startServe runs `hookline serve` and returns it with its URL, read from
// the line it prints when it is ready.
func startServe(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	p := launchServe(t, bin, args...)
	return p.cmd, p.url(t)
}

// serveProc is a `hookline serve` child process that may not be ready yet.
type serveProc struct {
	cmd  *exec.Cmd
	addr chan string

	mu     sync.Mutex
	stderr []string // what it logged, for failure messages
}

// logged returns the lines the server wrote to stderr so far.
func (p *serveProc) logged() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.stderr, "\n")
}

// launchServe starts `hookline serve` without waiting for it, so that
// several can start at once.
func launchServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, addr: make(chan string, 1)}
	go func() {
		re := regexp.MustCompile(`on http://(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr = append(p.stderr, sc.Text())
			p.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				p.addr <- m[1]
			}
		}
	}()
	return p
}

// url waits until the server is ready and returns its URL.
func (p *serveProc) url(t *testing.T) string {
	t.Helper()
	select {
	case a := <-p.addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("the server did not start:\n%s", p.logged())
	}
	return ""
}

// TestSIGHUPReloads edits the rules with the watcher off, so that only the
// signal can make the server notice.
func TestSIGHUPReloads(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("hookline")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "r.hcl")
	write := func(name string) {
		src := fmt.Sprintf("trigger %q {\n  on = [\"participant.confirmed\"]\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n", name)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("before")
	cmd, url := startServe(t, bin, "serve", "--sandbox", "--watch", "off", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), dir)
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	write("after")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/v1/rules")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `"name": "after"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the rules: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
