package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/internal/pgtest"
)

func TestMain(m *testing.M) {
	// The harness starts its reference measurements as child processes of
	// its own binary, which under go test is the test binary.
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// tinyConfig is a run small enough for go test: a few seconds of load at a
// low rate over 50 triggers.
func tinyConfig(bin string) Config {
	cfg := defaultConfig()
	cfg.Duration = 2 * time.Second
	cfg.Rate = 40
	cfg.Workers = 4
	cfg.Triggers = 50
	cfg.RawDuration = 500 * time.Millisecond
	cfg.RiverJobs = 100
	cfg.Drain = 60 * time.Second
	cfg.LogLevel = "warn"
	cfg.Hookline = bin
	return cfg
}

// TestHarness runs the harness twice on a binary built once: a plain run,
// and a chaos run (SIGKILL every second, a fifth of deliveries failing).
// Both must deliver everything the server accepted.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs hookline serve; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := buildHookline(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("load", func(t *testing.T) {
		var out strings.Builder
		rep, err := run(ctx, tinyConfig(bin), &out)
		t.Log(out.String())
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep)
		if rep.Raw == nil || rep.Raw.OK == 0 || rep.River == nil || rep.River.PerSec <= 0 {
			t.Errorf("references missing: raw %+v, river %+v", rep.Raw, rep.River)
		}
		if rep.Duplicates != 0 || rep.Resent != 0 {
			t.Errorf("without faults: %d duplicates, %d resent", rep.Duplicates, rep.Resent)
		}
		if rep.PeakRSS <= 0 {
			t.Error("no peak RSS measured")
		}
	})

	t.Run("soak", func(t *testing.T) {
		cfg := tinyConfig(bin)
		// Shorter than four retention periods, so the harness does not
		// judge the level (a few seconds of a shared CI machine cannot
		// tell; TestSoakVerdict covers the verdict): this run shows that
		// retention removes events while the load goes on.
		cfg.Soak, cfg.Retention, cfg.SizeEvery = 6*time.Second, 2*time.Second, time.Second
		var out strings.Builder
		rep, err := run(ctx, cfg, &out)
		t.Log(out.String())
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep)
		if len(rep.Sizes) < 3 || rep.Sizes[len(rep.Sizes)-1].Bytes <= 0 {
			t.Fatalf("sizes %+v, want a reading a second", rep.Sizes)
		}
		// With a retention of two seconds, the server's job removes events
		// while the load goes on.
		if last := rep.Sizes[len(rep.Sizes)-1]; last.Removed == 0 {
			t.Errorf("no event removed during a 6s soak with --retention 2s: %+v", rep.Sizes)
		}
	})

	t.Run("against", func(t *testing.T) {
		// The same binary as A and B: the flow of a comparison, whose
		// arithmetic TestCompareSummary checks.
		cfg := tinyConfig(bin)
		var out strings.Builder
		cmp, err := compare(ctx, cfg, bin, bin, 1, &out)
		t.Log(out.String())
		if err != nil {
			t.Fatal(err)
		}
		if len(cmp.Runs) != 2 || cmp.Runs[0].Build != "A" || cmp.Runs[1].Build != "B" || !cmp.Pass() {
			t.Fatalf("runs %+v, want A then B, both passing", cmp.Runs)
		}
		for _, r := range cmp.Runs {
			check(t, r.Report)
			if r.Report.Raw != nil || r.Report.River != nil {
				t.Error("a comparison ran the references")
			}
		}
		if len(cmp.Figures) == 0 || !strings.Contains(out.String(), "events/s accepted") {
			t.Errorf("no summary:\n%s", out.String())
		}
	})

	t.Run("chaos", func(t *testing.T) {
		cfg := tinyConfig(bin)
		cfg.Chaos = true
		cfg.Duration = 3 * time.Second
		cfg.KillEvery = time.Second
		cfg.FailRate = 0.2
		cfg.RawDuration, cfg.RiverJobs = 0, 0
		var out strings.Builder
		rep, err := run(ctx, cfg, &out)
		t.Log(out.String())
		if err != nil {
			t.Fatal(err)
		}
		check(t, rep)
		if rep.Kills == 0 || rep.Injected == 0 {
			t.Errorf("no chaos: %d kills, %d injected failures", rep.Kills, rep.Injected)
		}
	})
}

// TestRiverReference runs the River no-op child on each store the server
// supports: it opens them through delivery.OpenDatabase and must complete
// every job it inserted. PostgreSQL needs HOOKLINE_TEST_DATABASE_URL.
func TestRiverReference(t *testing.T) {
	const jobs = 200
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir, dsn := t.TempDir(), ""
			if kind == "postgres" {
				dir, dsn = "", pgtest.URL(t) // skips without PostgreSQL
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rr, err := measureRiver(ctx, dir, dsn, jobs, 4)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Jobs != jobs || rr.PerSec <= 0 {
				t.Errorf("result %+v, want %d jobs at a positive rate", rr, jobs)
			}
		})
	}
}

func check(t *testing.T, rep *Report) {
	t.Helper()
	if rep.Lost != 0 || !rep.Pass() {
		t.Errorf("lost %d of %d deliveries (accepted events %d)", rep.Lost, rep.Expected, rep.Accepted)
	}
	if rep.Expected == 0 || rep.Delivered != rep.Expected {
		t.Errorf("delivered %d of %d", rep.Delivered, rep.Expected)
	}
	if rep.BadSignature != 0 || rep.BadRequest != 0 || rep.Unexpected != 0 || rep.TriggerErrors != 0 {
		t.Errorf("bad signatures %d, malformed %d, unexpected %d, trigger errors %d",
			rep.BadSignature, rep.BadRequest, rep.Unexpected, rep.TriggerErrors)
	}
}

// TestFlags covers the command line's refusals.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nodes", "2"},
		{"-duration", "0s"},
		{"-fail-rate", "1"},
		{"-soak", "1m", "-chaos"},
		{"-soak", "-1m"},
		{"extra"},
	} {
		if code := cliMain(args, io.Discard, io.Discard); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// A soak levels off when the size grew little over its second half, and
// is judged only once it lasted a few retention periods.
func TestSoakVerdict(t *testing.T) {
	at := func(min int, mib int64) sizeSample {
		return sizeSample{At: time.Duration(min) * time.Minute, Bytes: mib << 20}
	}
	for _, c := range []struct {
		name         string
		samples      []sizeSample
		run          time.Duration
		levelled, ok bool
	}{
		{"flat", []sizeSample{at(0, 1), at(2, 40), at(5, 50), at(8, 52), at(10, 53)}, 10 * time.Minute, true, true},
		{"growing", []sizeSample{at(0, 1), at(2, 40), at(5, 50), at(8, 70), at(10, 80)}, 10 * time.Minute, false, true},
		{"shrinking", []sizeSample{at(0, 1), at(5, 50), at(10, 30)}, 10 * time.Minute, true, true},
		{"too short", []sizeSample{at(0, 1), at(1, 40), at(2, 50)}, 2 * time.Minute, false, false},
		{"too few samples", []sizeSample{at(0, 1), at(10, 40)}, 10 * time.Minute, false, false},
	} {
		_, levelled, ok := soakVerdict(c.samples, c.run, time.Minute)
		if levelled != c.levelled || ok != c.ok {
			t.Errorf("%s: levelled %v, judged %v; want %v, %v", c.name, levelled, ok, c.levelled, c.ok)
		}
	}
}
