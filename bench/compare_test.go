package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The runs alternate A B, B A, ...: a machine that drifts one way over the
// comparison favours neither build.
func TestCompareTurns(t *testing.T) {
	got := turns(3)
	want := [][2]string{{"A", "B"}, {"B", "A"}, {"A", "B"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("turns(3) = %v, want %v", got, want)
	}
}

// A figure is compared within each round, not across: the machine got
// faster from round to round here, by more than B's lead, and B is still
// ahead in every round.
func TestCompareSummary(t *testing.T) {
	rep := func(evs float64, p99 time.Duration, cpu time.Duration) *Report {
		return &Report{Accepted: 1000, Load: attackResult{Throughput: evs, P99: p99}, E2EP99: 100 * time.Millisecond,
			Cost: Cost{ServerCPU: cpu, Events: 1000}}
	}
	runs := []CompareRun{
		{1, "A", rep(1000, 30*time.Millisecond, 600*time.Millisecond)},
		{1, "B", rep(1100, 33*time.Millisecond, 500*time.Millisecond)},
		{2, "B", rep(1650, 20*time.Millisecond, 400*time.Millisecond)},
		{2, "A", rep(1500, 25*time.Millisecond, 500*time.Millisecond)},
		{3, "A", rep(2000, 40*time.Millisecond, 400*time.Millisecond)},
		{3, "B", rep(2300, 40*time.Millisecond, 300*time.Millisecond)},
	}
	sums := summarize(runs, figures(false))
	byName := map[string]FigureSummary{}
	for _, s := range sums {
		byName[s.Name] = s
	}
	evs := byName["events/s accepted"]
	if want := []float64{1.1, 1.1, 1.15}; !near(evs.Ratios, want) {
		t.Errorf("events/s ratios %v, want %v (B/A within each round)", evs.Ratios, want)
	}
	if !evs.Consistent || evs.MedianA != 1500 || evs.MedianB != 1650 || !near([]float64{evs.Median}, []float64{1.1}) {
		t.Errorf("events/s summary %+v", evs)
	}
	p99 := byName["intake p99 (ms)"]
	if p99.Consistent {
		t.Errorf("p99 went up, down and stayed: %+v must not be the same way in every round", p99)
	}
	cpu := byName["server CPU per event (µs)"]
	if !cpu.Consistent || cpu.Max >= 1 {
		t.Errorf("CPU per event fell in every round: %+v", cpu)
	}
	if e2e, ok := byName["event→delivered p99 (ms)"]; !ok || e2e.Consistent || e2e.Median != 1 {
		t.Errorf("event→delivered p99, the same in every run: %+v, %v", e2e, ok)
	}
	if _, ok := byName["event→delivered p50 (ms)"]; ok {
		t.Error("event→delivered p50 was not measured, yet compared")
	}
	if _, ok := byName["allocations per event"]; ok {
		t.Error("allocations were not counted, yet compared")
	}
	if _, ok := byName["PostgreSQL CPU per event (µs)"]; ok {
		t.Error("a SQLite comparison shows PostgreSQL's CPU")
	}

	c := &Comparison{A: "a", B: "b", Rounds: 3, Runs: runs, Figures: sums}
	var out strings.Builder
	c.print(&out)
	for _, want := range []string{
		"events/s accepted", "+10.0 % (+10.0 … +15.0); the same way in every round",
		"not the same way in every round", "RESULT: PASS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}

	runs[3].Report.Lost = 2
	if c.Pass() {
		t.Error("a comparison with a run that lost deliveries passes")
	}
}

func near(got, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if d := got[i] - want[i]; d > 1e-9 || d < -1e-9 {
			return false
		}
	}
	return true
}

// TestCompareFlags covers -against's refusals.
func TestCompareFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-against", "/bin/true", "-rounds", "0"},
		{"-against", "/bin/true", "-soak", "1m"},
	} {
		if code := cliMain(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
