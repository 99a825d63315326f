package cli

import (
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
	id := r.Header.Get("X-Event") // set by tallyRules
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

// missing returns the ids not yet delivered, and the count of deliveries
// beyond the first. With cutCounts, an aborted request counts as a
// delivery: it reached the receiver, which is all some tests ask.
func (ta *tally) missing(ids []string, cutCounts bool) (missing []string, dups int) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	for _, id := range ids {
		n := ta.completed[id]
		if cutCounts {
			n += ta.aborted[id]
		}
		switch {
		case n == 0:
			missing = append(missing, id)
		case n > 1:
			dups += n - 1
		}
	}
	return missing, dups
}

// await waits until every id has been delivered, or the deadline.
func (ta *tally) await(ids []string, within time.Duration, cutCounts bool) (missing []string, dups int) {
	deadline := time.Now().Add(within)
	for {
		missing, dups = ta.missing(ids, cutCounts)
		if len(missing) == 0 || time.Now().After(deadline) {
			return missing, dups
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeTallyRules writes dir/rules.hcl: one trigger sending every
// participant.confirmed event to url with its id in the header the tally
// counts by, retried every retryEvery up to 20 attempts.
func writeTallyRules(t *testing.T, dir, url, retryEvery string) {
	t.Helper()
	rules := fmt.Sprintf(`
trigger "t" {
  on = ["participant.confirmed"]
  retry {
    schedule     = [%q]
    max_attempts = 20
  }
  action "http" "h" {
    url     = "%s/in"
    headers = { "X-Event" = event.id }
  }
}`, retryEvery, url)
	if err := os.WriteFile(filepath.Join(dir, "rules.hcl"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sender posts participant.confirmed events round robin to `hookline
// serve` nodes.
type sender struct {
	urls    []string
	source  string
	workers int // requests at a time
}

// post sends the events prefix-from … prefix-(to-1) to the nodes for which
// up holds, and returns the ids the servers accepted. An event whose
// request fails was not accepted: its node is gone.
func (s sender) post(prefix string, from, to int, up func(node int) bool) []string {
	var mu sync.Mutex
	var accepted []string
	var wg sync.WaitGroup
	next := make(chan int)
	for range s.workers {
		wg.Go(func() {
			for i := range next {
				node := i % len(s.urls)
				if !up(node) {
					continue
				}
				id := fmt.Sprintf("%s-%04d", prefix, i)
				body := fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":%q,"type":"participant.confirmed","data":{"appointment":{},"participant":{}}}`, id, s.source)
				resp, err := http.Post(s.urls[node]+"/v1/events", "application/json", strings.NewReader(body))
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				// 200 answers an event stored before: its deliveries are due too.
				if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
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

// everyNode is post's up for when no node has been stopped.
func everyNode(int) bool { return true }
