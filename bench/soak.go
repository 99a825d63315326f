package main

import (
	"context"
	"fmt"
	"time"
)

// A soak run (-soak DURATION) sends a steady rate for that long to a server
// with a short --retention and samples the store's size from its own
// /metrics (hookline_store_size_bytes: the SQLite file and its WAL, or the
// PostgreSQL schema's tables) every -size-every: with retention removing
// what grows old, the size must level off.

// Soak defaults, where the flags leave them unset.
const (
	soakRate      = 200
	soakRetention = time.Minute
	soakSizeEvery = time.Minute
	// soakLevel is how much the size may still grow over a soak's second
	// half for it to count as levelled off.
	soakLevel = 0.10
	// soakSettle is how many retention periods a soak must last for the
	// verdict: the store fills for a retention period, and a purge follows
	// it within a tenth of one.
	soakSettle = 4
)

// sizeSample is one reading of the store during a soak.
type sizeSample struct {
	At      time.Duration // since the load started
	Bytes   int64         // hookline_store_size_bytes
	Removed int64         // hookline_retention_removed_total{table="events"} so far
}

// sampleSizes reads the store's size from the server at url now and every
// every until ctx ends, passing each reading to got.
func sampleSizes(ctx context.Context, url string, every time.Duration, start time.Time, got func(sizeSample)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, err := readSize(ctx, url, start); err == nil {
			got(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readSize scrapes the size and the events removed from a server's
// /metrics.
func readSize(ctx context.Context, url string, start time.Time) (sizeSample, error) {
	s := sizeSample{At: time.Since(start)}
	const size, removed = "hookline_store_size_bytes", `hookline_retention_removed_total{table="events"}`
	m, err := scrape(ctx, url, size, removed)
	if err != nil {
		return s, err
	}
	f, ok := m[size]
	if !ok || f < 0 {
		return s, fmt.Errorf("no valid %s in %s/metrics", size, url)
	}
	s.Bytes, s.Removed = int64(f), int64(m[removed])
	return s, nil
}

// soakVerdict says whether the size levelled off: at most soakLevel more
// at the end than at the middle of the run. ok is false when the run was
// too short to tell (under soakSettle retention periods, or too few
// samples).
func soakVerdict(samples []sizeSample, run, retention time.Duration) (growth float64, levelled, ok bool) {
	if len(samples) < 3 || run < soakSettle*retention {
		return 0, false, false
	}
	mid := samples[0]
	for _, s := range samples {
		if s.At <= run/2 {
			mid = s
		}
	}
	last := samples[len(samples)-1]
	if mid.Bytes <= 0 {
		return 0, false, false
	}
	growth = float64(last.Bytes-mid.Bytes) / float64(mid.Bytes)
	return growth, growth <= soakLevel, true
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
