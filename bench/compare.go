package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Comparing two builds. On a shared VM the same build took 2,756 and 3,935
// events/s twenty minutes apart, so one run of each says little about a
// change worth 5 %. -against runs the load on the two binaries in turn,
// -rounds times, in the order A B, B A, A B, ... so that a drift of the
// machine favours neither, and compares each round's pair: the two runs
// of a round are minutes apart at most. The references (raw loopback,
// River) are skipped: both builds run on the same machine, which is the
// reference.

// Comparison is the outcome of -against: every run, in the order made, and
// a summary line per figure.
type Comparison struct {
	A, B    string // the binaries
	Rounds  int
	Runs    []CompareRun
	Figures []FigureSummary
}

// CompareRun is one run of a comparison.
type CompareRun struct {
	Round  int
	Build  string // "A" or "B"
	Report *Report
}

// FigureSummary compares one figure of the two builds: their medians, and
// B/A of each round with the median and range of those ratios. Consistent
// says B was on the same side of A in every round.
type FigureSummary struct {
	Name             string
	MedianA, MedianB float64
	Ratios           []float64
	Median, Min, Max float64
	Consistent       bool
}

// figure is a number of a run's report that a comparison shows; get says
// whether the run measured it.
type figure struct {
	name string
	unit string
	get  func(*Report) (float64, bool)
}

func figures(postgres bool) []figure {
	fs := []figure{
		{"events/s accepted", "", func(r *Report) (float64, bool) { return r.Load.Throughput, true }},
		{"intake p99", "ms", func(r *Report) (float64, bool) { return msf(r.Load.P99), r.Load.P99 > 0 }},
		{"deliveries/s, start to end", "", func(r *Report) (float64, bool) { return r.DeliveriesPerSec, r.DeliveriesPerSec > 0 }},
		{"deliveries/s after the load", "", func(r *Report) (float64, bool) {
			return r.DeliveriesPerSecAfter, r.DeliveriesPerSecAfter > 0
		}},
		{"event→delivered p50", "ms", func(r *Report) (float64, bool) { return msf(r.E2EP50), r.E2EP50 > 0 }},
		{"event→delivered p99", "ms", func(r *Report) (float64, bool) { return msf(r.E2EP99), r.E2EP99 > 0 }},
		{"server CPU per event", "µs", func(r *Report) (float64, bool) {
			return r.Cost.perEvent(r.Cost.ServerCPU), r.Cost.Events > 0
		}},
	}
	if postgres {
		fs = append(fs, figure{"PostgreSQL CPU per event", "µs", func(r *Report) (float64, bool) {
			return r.Cost.perEvent(r.Cost.DatabaseCPU), r.Cost.Events > 0
		}})
	}
	return append(fs, figure{"allocations per event", "", func(r *Report) (float64, bool) {
		if !r.Cost.MallocsCounted || r.Cost.Events == 0 {
			return 0, false
		}
		return r.Cost.Mallocs / float64(r.Cost.Events), true
	}})
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// turns is the order of the runs: round i runs A then B when i is even,
// B then A when it is odd.
func turns(rounds int) [][2]string {
	out := make([][2]string, rounds)
	for i := range out {
		out[i] = [2]string{"A", "B"}
		if i%2 == 1 {
			out[i] = [2]string{"B", "A"}
		}
	}
	return out
}

// compare runs cfg on binaries a and b, rounds times each, and prints a
// line per run and the summary to out. It fails if a run fails; a run
// that lost a delivery is printed in full and makes the comparison fail
// (Comparison.Pass).
func compare(ctx context.Context, cfg Config, a, b string, rounds int, out io.Writer) (*Comparison, error) {
	cfg.RawDuration, cfg.RiverJobs = 0, 0
	cmp := &Comparison{A: a, B: b, Rounds: rounds}
	bins := map[string]string{"A": a, "B": b}
	fmt.Fprintf(out, "comparing A %s and B %s: %d rounds of %s each, in turn\n", a, b, rounds, cfg.Duration)
	for round, order := range turns(rounds) {
		for _, build := range order {
			c := cfg
			c.Hookline = bins[build]
			var log strings.Builder
			rep, err := run(ctx, c, &log)
			if err != nil {
				fmt.Fprint(out, log.String())
				return cmp, fmt.Errorf("round %d, %s: %w", round+1, build, err)
			}
			cmp.Runs = append(cmp.Runs, CompareRun{Round: round + 1, Build: build, Report: rep})
			fmt.Fprintf(out, "round %d %s: %s\n", round+1, build, runLine(rep))
			if !rep.Pass() {
				rep.print(out)
			}
		}
	}
	cmp.Figures = summarize(cmp.Runs, figures(cfg.DatabaseURL != ""))
	cmp.print(out)
	return cmp, nil
}

// Pass is whether every run passed (nothing accepted was lost).
func (c *Comparison) Pass() bool {
	return len(c.Runs) > 0 && !slices.ContainsFunc(c.Runs, func(r CompareRun) bool { return !r.Report.Pass() })
}

// runLine is a run's figures on one line.
func runLine(r *Report) string {
	s := fmt.Sprintf("%s events/s (p99 %s), deliveries %s/s start to end, %s/s after the load; %s",
		num(r.Load.Throughput), ms(r.Load.P99), num(r.DeliveriesPerSec), num(r.DeliveriesPerSecAfter), r.Cost)
	if r.Lost > 0 {
		s += fmt.Sprintf("; LOST %d", r.Lost)
	}
	return s
}

// summarize pairs the runs of each round and compares every figure.
func summarize(runs []CompareRun, fs []figure) []FigureSummary {
	rounds := map[int]map[string]*Report{}
	for _, r := range runs {
		if rounds[r.Round] == nil {
			rounds[r.Round] = map[string]*Report{}
		}
		rounds[r.Round][r.Build] = r.Report
	}
	var nums []int
	for n := range rounds {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	var out []FigureSummary
	for _, f := range fs {
		s := FigureSummary{Name: f.name}
		if f.unit != "" {
			s.Name += " (" + f.unit + ")"
		}
		var as, bs []float64
		for _, n := range nums {
			ra, rb := rounds[n]["A"], rounds[n]["B"]
			if ra == nil || rb == nil {
				continue
			}
			va, okA := f.get(ra)
			vb, okB := f.get(rb)
			if !okA || !okB || va == 0 {
				continue
			}
			as, bs = append(as, va), append(bs, vb)
			s.Ratios = append(s.Ratios, vb/va)
		}
		if len(s.Ratios) == 0 {
			continue
		}
		s.MedianA, s.MedianB = median(as), median(bs)
		s.Median, s.Min, s.Max = median(s.Ratios), slices.Min(s.Ratios), slices.Max(s.Ratios)
		s.Consistent = len(s.Ratios) > 1 && (s.Min > 1 || s.Max < 1)
		out = append(out, s)
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (c *Comparison) print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("== B against A, each round's pair compared (B/A − 1: median, and lowest … highest of the rounds)")
	p("A: %s", c.A)
	p("B: %s", c.B)
	p("%-32s %12s %12s   %s", "", "A (median)", "B (median)", "B against A")
	for _, f := range c.Figures {
		verdict := "not the same way in every round"
		switch {
		case len(f.Ratios) < 2:
			verdict = "one round: no spread to judge by"
		case f.Consistent:
			verdict = "the same way in every round"
		}
		p("%-32s %12s %12s   %+.1f %% (%+.1f … %+.1f); %s", f.Name, short(f.MedianA), short(f.MedianB),
			100*(f.Median-1), 100*(f.Min-1), 100*(f.Max-1), verdict)
	}
	if c.Pass() {
		p("RESULT: PASS (nothing accepted was lost in any run)")
	} else {
		p("RESULT: FAIL: a run lost accepted deliveries")
	}
}

// short formats a figure: whole numbers with separators from 100 up,
// one decimal below.
func short(f float64) string {
	if f >= 100 {
		return num(f)
	}
	return fmt.Sprintf("%.1f", f)
}

// compareMain is bench -against: bin (built from the work tree unless
// -hookline names one) against other.
func compareMain(ctx context.Context, cfg Config, other string, rounds int, out io.Writer) (*Comparison, error) {
	if _, err := os.Stat(other); err != nil {
		return nil, fmt.Errorf("-against: %w", err)
	}
	a := cfg.Hookline
	if a == "" {
		dir, err := os.MkdirTemp("", "hookline-bench-build-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if a, err = buildHookline(ctx, dir); err != nil {
			return nil, err
		}
	}
	return compare(ctx, cfg, a, other, rounds, out)
}

// checkCompare refuses what -against cannot do.
func checkCompare(cfg Config, rounds int) error {
	switch {
	case rounds < 1 || rounds > 50:
		return errors.New("-rounds must be between 1 and 50")
	case cfg.Soak != 0:
		return errors.New("-against compares load runs; it cannot be used with -soak")
	}
	return nil
}
