package cli

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/pgtest"
)

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
	writeTallyRules(t, dir, recv.URL, "100ms")

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

	send := sender{urls: urls, source: "nodes", workers: 4}

	// Normal operation: every delivery exactly once.
	calm := send.post("calm", 0, 300, everyNode)
	if len(calm) != 300 {
		t.Fatalf("%d of 300 events accepted", len(calm))
	}
	missing, dups := ta.await(calm, 30*time.Second, false)
	ta.mu.Lock()
	aborted := len(ta.aborted)
	ta.mu.Unlock()
	if len(missing) > 0 || dups > 0 || aborted > 0 {
		t.Fatalf("three nodes, normal operation: %d of %d never delivered (e.g. %v), %d duplicates, %d aborted",
			len(missing), len(calm), missing[:min(3, len(missing))], dups, aborted)
	}

	// One node dies while attempts are in flight on every node.
	ta.setDelay(time.Second)
	first := send.post("chaos", 0, 150, everyNode)
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
	rest := send.post("chaos", 150, 300, func(node int) bool { return node != 0 })
	chaos := append(first, rest...)
	missing, dups = ta.await(chaos, 100*time.Second, false)
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
