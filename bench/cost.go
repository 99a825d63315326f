package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cost of each accepted event is what a regression shows as: server
// CPU from the load's start until every promised delivery arrived (intake
// and delivery, so per event its deliveries included, and the same time
// per delivery), PostgreSQL's CPU apart, and the Go heap allocations the
// servers made over that time, read from their own /metrics.

// clockTicks is USER_HZ, the unit of /proc's CPU times, 100 on Linux.
const clockTicks = 100

// Cost is per-event and per-delivery resource use over a run.
type Cost struct {
	ServerCPU      time.Duration // every server process, load start to drained
	DatabaseCPU    time.Duration // PostgreSQL's processes, same span
	Mallocs        float64       // Go heap allocations of the servers, when MallocsCounted
	Events, Deliv  int
	MallocsCounted bool
}

func (c Cost) perEvent(d time.Duration) float64 {
	if c.Events == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(c.Events)
}

func (c Cost) String() string {
	s := fmt.Sprintf("server CPU %.0f µs per accepted event (its deliveries included)", c.perEvent(c.ServerCPU))
	if c.Deliv > 0 {
		s += fmt.Sprintf(", %.0f µs per delivery", float64(c.ServerCPU.Microseconds())/float64(c.Deliv))
	}
	if c.DatabaseCPU > 0 {
		s += fmt.Sprintf("; PostgreSQL %.0f µs per event", c.perEvent(c.DatabaseCPU))
	}
	if c.MallocsCounted && c.Events > 0 {
		s += fmt.Sprintf("; %.0f allocations per event", c.Mallocs/float64(c.Events))
	} else {
		s += "; allocations not counted (a server restarted)"
	}
	return s
}

// cpuCost turns two samples into the servers' and PostgreSQL's CPU time.
func cpuCost(a, b cpuSample) (servers, db time.Duration) {
	ticks := func(t int64) time.Duration { return time.Duration(max(0, t)) * time.Second / clockTicks }
	return ticks(serverTicks(a, b)), ticks(dbTicks(a, b))
}

// mallocs sums go_memstats_mallocs_total over the servers at urls.
func mallocs(ctx context.Context, urls []string) (float64, error) {
	var sum float64
	const name = "go_memstats_mallocs_total"
	for _, u := range urls {
		m, err := scrape(ctx, u, name)
		if err != nil {
			return 0, err
		}
		v, ok := m[name]
		if !ok {
			return 0, fmt.Errorf("no %s in %s/metrics", name, u)
		}
		sum += v
	}
	return sum, nil
}

// scrape reads the named series (a name with its labels, as /metrics
// writes them) from a server's /metrics; those it does not find are left
// out of the map.
func scrape(ctx context.Context, url string, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 4<<20))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, k) {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s/metrics: %s %q: %w", url, k, v, err)
		}
		out[k] = f
	}
	return out, sc.Err()
}
