package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// newAttacker is the one vegeta configuration used for both the server and
// the raw loopback reference, so that their ratio compares like with like.
// rate 0 means as fast as the workers can go: exactly `workers` requests in
// flight (vegeta's -rate=0 -max-workers=N). A fixed rate lets vegeta add
// workers when responses are slow, up to a bound.
func newAttacker(rate, workers int) (*vegeta.Attacker, vegeta.Pacer) {
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(15 * time.Second),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		// Never a proxy: every target is on loopback.
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
		vegeta.Connections(workers),
	}
	if rate <= 0 {
		opts = append(opts, vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)))
		return vegeta.NewAttacker(opts...), vegeta.ConstantPacer{}
	}
	opts = append(opts, vegeta.Workers(uint64(min(workers, rate))), vegeta.MaxWorkers(1024))
	return vegeta.NewAttacker(opts...), vegeta.ConstantPacer{Freq: rate, Per: time.Second}
}

// answer is the server's 202/200 body.
type answer struct {
	ID         string `json:"id"`
	Deliveries []struct {
		ID      string `json:"id"`
		Address string `json:"address"`
	} `json:"deliveries"`
	Errors []json.RawMessage `json:"errors"`
}

// ledger keeps what the server promised: for each accepted event, its
// deliveries. Reconciliation compares it with what the receiver got.
type ledger struct {
	mu       sync.Mutex
	accepted map[uint64][]expected // by event seq
	status   map[int]int           // answers by status code (0: no answer)
	errs     map[string]int        // error text -> count, for the report
	trigErrs int                   // filter or render errors reported in answers
}

// expected is one delivery the server said it would make.
type expected struct {
	id, address string
}

func newLedger() *ledger {
	return &ledger{accepted: map[uint64][]expected{}, status: map[int]int{}, errs: map[string]int{}}
}

// add records one answer (or failure) for event seq. It returns whether
// the event is now accepted.
func (l *ledger) add(seq uint64, code int, body []byte, errText string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.status[code]++
	if code != http.StatusAccepted && code != http.StatusOK {
		l.errs[shortError(code, errText, body)]++
		return false
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" {
		l.errs[fmt.Sprintf("%d with an unreadable answer", code)]++
		return false
	}
	exp := make([]expected, len(a.Deliveries))
	for i, d := range a.Deliveries {
		exp[i] = expected{d.ID, d.Address}
	}
	l.accepted[seq] = exp
	l.trigErrs += len(a.Errors)
	return true
}

func (l *ledger) isAccepted(seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.accepted[seq]
	return ok
}

// shortError makes an error line worth counting: the status and the
// error's gist, without the per-request details (ports, ids).
func shortError(code int, errText string, body []byte) string {
	if code != 0 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Sprintf("%d %s", code, e.Error.Code)
		}
		return fmt.Sprintf("%d %s", code, http.StatusText(code))
	}
	for _, s := range []string{"connection refused", "connection reset by peer", "EOF", "timeout", "Client.Timeout", "broken pipe"} {
		if strings.Contains(errText, s) {
			return "no answer: " + s
		}
	}
	if i := strings.LastIndex(errText, ": "); i >= 0 {
		errText = errText[i+2:]
	}
	return "no answer: " + errText
}

// topErrors formats the error counts, most frequent first.
func topErrors(m map[string]int, n int) string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var parts []string
	for i, e := range all {
		if i == n {
			parts = append(parts, fmt.Sprintf("%d more kinds", len(all)-n))
			break
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", e.k, e.v))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// attackResult is what one vegeta run measured.
type attackResult struct {
	Requests   uint64
	OK         int // 2xx answers
	Throughput float64
	P50, P99   time.Duration // of the 2xx answers
	Duration   time.Duration
}

// attack runs vegeta against the targeter for d, calling each for every
// result, and stops early when ctx is done. Its latency quantiles are exact
// and cover successful answers only: in chaos mode the failures are
// refused connections that say nothing about intake speed.
func attack(ctx context.Context, tr vegeta.Targeter, rate, workers int, d time.Duration, each func(*vegeta.Result)) attackResult {
	atk, pacer := newAttacker(rate, workers)
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var m vegeta.Metrics
	var lat []time.Duration
	for res := range atk.Attack(tr, pacer, d, "bench") {
		m.Add(res)
		if res.Code >= 200 && res.Code < 300 {
			lat = append(lat, res.Latency)
		}
		if each != nil {
			each(res)
		}
	}
	m.Close()
	r := attackResult{Requests: m.Requests, OK: len(lat), Duration: m.Duration + m.Wait}
	if r.Duration > 0 {
		r.Throughput = float64(r.OK) / r.Duration.Seconds()
	}
	r.P50, r.P99 = quantile(lat, 0.50), quantile(lat, 0.99)
	return r
}

// quantile sorts ds and returns its q-quantile (nearest rank), or 0.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	if !sort.SliceIsSorted(ds, func(i, j int) bool { return ds[i] < ds[j] }) {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	}
	i := int(q*float64(len(ds))+0.5) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
