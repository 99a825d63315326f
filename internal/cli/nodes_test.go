package cli

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/pgtest"
)

// tally is a receiver's record of deliveries by event id: completed ones
// (answered while the sender still waited) and aborted ones (the sender
// went away mid-request, as a killed node does).
type tally struct {
	mu        sync.Mutex
	completed map[string]int
	aborted   map[string]int
	delay     time.Duration
	inFlight  int // requests being answered now
}

func newTally() *tally { return &tally{completed: map[string]int{}, aborted: map[string]int{}} }

func (ta *tally) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	ta.mu.Lock()
	delay := ta.delay
	ta.mu.Unlock()
	id := r.Header.Get("X-Event")
	ta.mu.Lock()
	ta.inFlight++
	ta.mu.Unlock()
	defer func() {
		ta.mu.Lock()
		ta.inFlight--
		ta.mu.Unlock()
	}()
	select {
	case <-time.After(delay):
	case <-r.Context().Done():
		ta.mu.Lock()
		ta.aborted[id]++
		ta.mu.Unlock()
		return
	}
	ta.mu.Lock()
	ta.completed[id]++
	ta.mu.Unlock()
}

// busy reports how many requests are being answered now.
func (ta *tally) busy() int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	return ta.inFlight
}

func (ta *tally) setDelay(d time.Duration) {
	ta.mu.Lock()
	ta.delay = d
	ta.mu.Unlock()
}

// missing returns the ids not yet completed, and the count of completions
// beyond the first.
func (ta *tally) missing(ids []string) (missing []string, dups int) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for _, id := range ids {
		switch n := ta.completed[id]; {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			dups += n - 1
		}
	}
	return missing, dups
}

// TestNodesShareOneDatabase runs three `hookline serve` processes on one
// PostgreSQL schema (started together, so they also migrate it at the same
// time), spreads events across them, and checks that every delivery happens
// exactly once. Then it kills one node with SIGKILL while the receiver is
// slow, so that attempts are in flight on it, and checks that the other
// nodes complete them (River's rescuer, after the delay --attempt-timeout
// sets) and that no accepted event is lost.
func TestNodesShareOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	dbURL := pgtest.URL(t)
	t.Parallel()
	bin, err := exec.LookPath("hookline")
	if err != nil {
		t.Fatal(err)
	}
	ta := newTally()
	recv := httptest.NewServer(ta)
	defer recv.Close()
	dir := t.TempDir()
	rules := fmt.Sprintf(`
trigger "t" {
  on = ["participant.confirmed"]
  retry {
    schedule     = ["100ms"]
    max_attempts = 20
  }
  action "http" "h" {
    url     = "%s/in"
    headers = { "X-Event" = event.id }
  }
}`, recv.URL)
	if err := os.WriteFile(filepath.Join(dir, "rules.hcl"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}

	var nodes []*serveProc
	for range 3 {
		nodes = append(nodes, launchServe(t, bin, "serve", "--listen", "127.0.0.1:0", "--database-url", dbURL,
			"--allow-cidr", "127.0.0.0/8", "--log-level", "warn", "--watch", "off", "--attempt-timeout", "2s", dir))
	}
	// Stopped before the schema is dropped (cleanups run last first).
	t.Cleanup(func() {
		for _, n := range nodes {
			n.cmd.Process.Signal(os.Interrupt)
			n.cmd.Wait()
		}
	})
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url(t)
	}
	if t.Failed() {
		return
	}

	// post sends events [from, to) round robin to the nodes still in up,
	// four at a time, and returns the ids the servers accepted.
	post := func(prefix string, from, to int, up func(node int) bool) []string {
		var mu sync.Mutex
		var accepted []string
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					node := i % len(urls)
					if !up(node) {
						continue
					}
					id := fmt.Sprintf("%s-%04d", prefix, i)
					body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"nodes","type":"participant.confirmed","data":{"appointment":{},"participant":{}}}`, id)
					resp, err := http.Post(urls[node]+"/v1/events", "application/json", strings.NewReader(body))
					if err != nil {
						continue // the node is gone: not accepted
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						mu.Lock()
						accepted = append(accepted, id)
						mu.Unlock()
					}
				}
			})
		}
		for i := from; i < to; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
		return accepted
	}
	// await waits until every id has been delivered, or the deadline.
	await := func(ids []string, within time.Duration) (missing []string, dups int) {
		deadline := time.Now().Add(within)
		for {
			missing, dups = ta.missing(ids)
			if len(missing) == 0 || time.Now().After(deadline) {
				return missing, dups
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Normal operation: every delivery exactly once.
	all := func(int) bool { return true }
	calm := post("calm", 0, 300, all)
	if len(calm) != 300 {
		t.Fatalf("%d of 300 events accepted", len(calm))
	}
	missing, dups := await(calm, 30*time.Second)
	ta.mu.Lock()
	aborted := len(ta.aborted)
	ta.mu.Unlock()
	if len(missing) > 0 || dups > 0 || aborted > 0 {
		t.Fatalf("three nodes, normal operation: %d of %d never delivered (e.g. %v), %d duplicates, %d aborted",
			len(missing), len(calm), missing[:min(3, len(missing))], dups, aborted)
	}

	// One node dies while attempts are in flight on every node.
	ta.setDelay(time.Second)
	first := post("chaos", 0, 150, all)
	// Each node runs 20 attempts at a time: with more than 40 in flight,
	// the node about to die has some too.
	for deadline := time.Now().Add(10 * time.Second); ta.busy() <= 40 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := nodes[0].cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown at all
		t.Fatal(err)
	}
	nodes[0].cmd.Wait()
	killedAt := time.Now()
	rest := post("chaos", 150, 300, func(node int) bool { return node != 0 })
	chaos := append(first, rest...)
	missing, dups = await(chaos, 100*time.Second)
	took := time.Since(killedAt)
	ta.mu.Lock()
	inFlight := 0
	for id, n := range ta.aborted {
		if strings.HasPrefix(id, "chaos") {
			inFlight += n
		}
	}
	ta.mu.Unlock()
	if len(missing) > 0 {
		t.Fatalf("after SIGKILL of one node: %d of %d accepted events never delivered (e.g. %v)\nkilled node's log:\n%s",
			len(missing), len(chaos), missing[:min(3, len(missing))], nodes[0].logged())
	}
	if inFlight == 0 {
		t.Error("no attempt was in flight at the kill: the rescue was not exercised")
	}
	t.Logf("three nodes, one killed: %d events accepted, none lost; %d attempts were cut by the kill and ran again on the other nodes, all delivered %s after the kill; %d duplicate deliveries (at-least-once)",
		len(chaos), inFlight, took.Round(time.Second), dups)
}
