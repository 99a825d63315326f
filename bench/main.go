// Command bench is Hookline's load and chaos harness: one command that
// builds hookline, starts a receiver and the server on loopback, drives
// realistic Apptoto events at it with vegeta, and reconciles what the
// server accepted with what the receiver got.
//
//	go run ./bench                          # 20 s, as fast as possible, SQLite
//	go run ./bench -rate 500 -duration 30s  # a fixed rate
//	go run ./bench -chaos -duration 30s     # kill -9 the server every 3 s, 20 % of deliveries fail
//	go run ./bench -database-url postgres://... -nodes 3
//	go run ./bench -soak 10m                # 200 events/s, --retention 1m: the store's size each minute
//
// A run:
//
//  1. builds cmd/hookline into a temporary directory;
//  2. measures the references, each in a child process of its own: vegeta
//     against a trivial 200 handler (the loopback ceiling), and River
//     completing no-op jobs on SQLite with the server's settings (the
//     queue's ceiling);
//  3. starts the receiver (signed webhooks verified with the Standard
//     Webhooks library, a Twilio-compatible endpoint, an SMTP server),
//     writes a generated rule set (1,000 triggers over the 20 event types)
//     and starts `hookline serve` on it;
//  4. sends events with vegeta at a fixed rate or as fast as possible; in
//     chaos mode kills the server with SIGKILL every few seconds and
//     restarts it on the same data, while the receiver fails a share of
//     deliveries;
//  5. sends again, with the same id, every event whose answer was lost in
//     a way that leaves its fate unknown (a reset connection, a timeout), as
//     a real sender would, waits for the deliveries to drain, and
//     reconciles: each delivery the server promised in a 202/200 answer
//     must have reached the receiver (lost must be 0, else FAIL and exit 1);
//     more than once is a duplicate, reported with its rate.
//
// Every address is on 127.0.0.1 (PostgreSQL is wherever -database-url
// says), every loop is bounded in count and time, and the program stops by
// itself; Ctrl-C stops the servers and removes the temporary directory.
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/hookline/hookline/delivery"
)

// Config is one run of the harness.
type Config struct {
	Duration      time.Duration // of the load
	Rate          int           // events per second; 0: as fast as Workers allow
	Workers       int           // vegeta's requests in flight at rate 0 (and its first workers otherwise)
	Triggers      int
	Nodes         int
	DatabaseURL   string // a database to create a fresh schema in; empty: SQLite in a temporary directory
	ServerWorkers int    // hookline serve --workers
	// AttemptTimeout is hookline serve --attempt-timeout when > 0. On
	// PostgreSQL it also bounds how soon a killed node's attempts are run
	// again by another, which chaos runs wait for.
	AttemptTimeout time.Duration
	LogLevel       string // hookline serve --log-level
	Chaos          bool
	KillEvery      time.Duration
	FailRate       float64       // share of deliveries the receiver fails; <0: 0.2 with Chaos, else 0
	Drain          time.Duration // longest wait for deliveries after the load; 0: from Duration
	RawDuration    time.Duration // raw loopback reference; 0 skips it
	RiverJobs      int           // River no-op reference; 0 skips it
	Hookline       string        // a prebuilt hookline binary; empty: build one
	Keep           bool          // keep the temporary directory
	Seed           uint64
	StartTimeout   time.Duration
	// Soak, when set, makes the run a soak of this long (it replaces
	// Duration; see soak.go): a steady Rate (soakRate unless set) to a
	// server with --retention Retention (soakRetention unless set), the
	// store's size read every SizeEvery. The references are skipped.
	Soak      time.Duration
	Retention time.Duration // hookline serve --retention when > 0
	SizeEvery time.Duration
}

func defaultConfig() Config {
	return Config{
		Duration: 20 * time.Second, Workers: 32, Triggers: 1000, Nodes: 1, ServerWorkers: delivery.DefaultWorkers, LogLevel: "info",
		KillEvery: 3 * time.Second, FailRate: -1, RawDuration: 5 * time.Second,
		RiverJobs: 20000, Seed: 1, StartTimeout: 60 * time.Second,
	}
}

func main() {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(cliMain(os.Args[1:], os.Stdout, os.Stderr))
}

func cliMain(args []string, stdout, stderr io.Writer) int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to send events")
	fs.IntVar(&cfg.Rate, "rate", cfg.Rate, "events per second; 0 sends as fast as -workers allow")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "requests in flight when -rate is 0")
	fs.IntVar(&cfg.Triggers, "triggers", cfg.Triggers, "generated triggers (spread over the 20 event types)")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "hookline serve processes (more than 1 needs -database-url)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", cfg.DatabaseURL, "PostgreSQL: each run creates a fresh schema in this database, passes it to hookline serve --database-url and drops it at the end (default: SQLite in a temporary directory)")
	fs.IntVar(&cfg.ServerWorkers, "server-workers", cfg.ServerWorkers, "hookline serve --workers")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "hookline serve --log-level")
	fs.DurationVar(&cfg.AttemptTimeout, "attempt-timeout", cfg.AttemptTimeout, "hookline serve --attempt-timeout (default: the server's, 5m)")
	fs.BoolVar(&cfg.Chaos, "chaos", cfg.Chaos, "kill -9 a server every -kill-every and restart it, while the receiver fails -fail-rate of deliveries")
	fs.DurationVar(&cfg.KillEvery, "kill-every", cfg.KillEvery, "chaos: time between kills (±25 %)")
	fs.Float64Var(&cfg.FailRate, "fail-rate", cfg.FailRate, "share of deliveries the receiver answers with 503 (SMTP 451); negative: 0.2 with -chaos, else 0")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "longest wait for deliveries after the load (default 1m + 3 × -duration, plus the attempt timeout + 90s with -chaos on PostgreSQL)")
	fs.DurationVar(&cfg.RawDuration, "raw-duration", cfg.RawDuration, "raw loopback HTTP reference run; 0 skips it")
	fs.IntVar(&cfg.RiverJobs, "river-jobs", cfg.RiverJobs, "River no-op reference: jobs to complete; 0 skips it")
	fs.StringVar(&cfg.Hookline, "hookline", cfg.Hookline, "use this hookline binary instead of building cmd/hookline")
	fs.BoolVar(&cfg.Keep, "keep", cfg.Keep, "keep the temporary directory (rules, data, server logs)")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the generated events")
	fs.DurationVar(&cfg.Soak, "soak", cfg.Soak, "a soak run this long instead of -duration: a steady -rate (default 200/s) with a short -retention (default 1m), printing the store's size every -size-every, which must level off; no references")
	fs.DurationVar(&cfg.Retention, "retention", cfg.Retention, "hookline serve --retention (default: the server's, 30d; 1m with -soak)")
	fs.DurationVar(&cfg.SizeEvery, "size-every", cfg.SizeEvery, "soak: how often the store's size is read (default 1m)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	against := fs.String("against", "", "compare: run the load on this hookline binary and on -hookline's (or the work tree's) in turn, -rounds times each, and compare them round by round (no references)")
	rounds := fs.Int("rounds", 3, "with -against: runs of each binary")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if *against != "" {
		if err := checkCompare(cfg, *rounds); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *against != "" {
		cmp, err := compareMain(ctx, cfg, *against, *rounds, stdout)
		return finish(ctx, cmp, err, cmp != nil && cmp.Pass(), *jsonOut, stderr)
	}
	rep, err := run(ctx, cfg, stdout)
	return finish(ctx, rep, err, rep != nil && rep.Pass(), *jsonOut, stderr)
}

// finish turns a run's (or a comparison's) outcome into the exit code,
// writing v as JSON to jsonOut first when it is set.
func finish(ctx context.Context, v any, err error, pass bool, jsonOut string, stderr io.Writer) int {
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "bench: interrupted; servers stopped")
			return 130
		}
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if !pass {
		return 1
	}
	return 0
}

func (c *Config) check() error {
	if c.Soak != 0 {
		if err := c.soak(); err != nil {
			return err
		}
	}
	switch {
	case c.Soak == 0 && (c.Duration <= 0 || c.Duration > time.Hour):
		return errors.New("-duration must be between 0 and 1h")
	case c.Rate < 0 || c.Workers < 1 || c.Workers > 4096:
		return errors.New("-rate must be >= 0 and -workers between 1 and 4096")
	case c.Triggers < 20 || c.Triggers > 100000:
		return errors.New("-triggers must be between 20 and 100000")
	case c.Nodes < 1 || c.Nodes > 16:
		return errors.New("-nodes must be between 1 and 16")
	case c.Nodes > 1 && c.DatabaseURL == "":
		return errors.New("-nodes > 1 needs -database-url: SQLite allows one server per data directory")
	case c.Chaos && c.KillEvery < 200*time.Millisecond:
		return errors.New("-kill-every must be at least 200ms")
	case c.FailRate >= 1:
		return errors.New("-fail-rate must be below 1")
	case c.Drain < 0 || c.Drain > time.Hour:
		return errors.New("-drain must be between 0 and 1h")
	}
	if c.Drain == 0 {
		// As fast as possible, the queue falls behind intake and drains
		// for about as long again after the load.
		c.Drain = time.Minute + 3*c.Duration
		if c.Chaos && c.DatabaseURL != "" {
			// On PostgreSQL a killed node's attempts in flight wait for
			// River's rescuer (the attempt timeout, 5 min by default, plus
			// 15 to 40 s): nodes share the database, so a restarted node
			// cannot tell them from a live node's.
			at := 5 * time.Minute
			if c.AttemptTimeout > 0 {
				at = c.AttemptTimeout
			}
			c.Drain += at + 90*time.Second
		}
	}
	if c.FailRate < 0 {
		c.FailRate = 0
		if c.Chaos {
			c.FailRate = 0.2
		}
	}
	return nil
}

// soak turns a soak's settings into the run's.
func (c *Config) soak() error {
	switch {
	case c.Soak < 0 || c.Soak > 24*time.Hour:
		return errors.New("-soak must be between 0 and 24h")
	case c.Chaos:
		return errors.New("-soak and -chaos do not go together")
	case c.Retention < 0 || c.SizeEvery < 0:
		return errors.New("-retention and -size-every must not be negative")
	}
	c.Duration = c.Soak
	c.Rate = cmp.Or(c.Rate, soakRate)
	c.Retention = cmp.Or(c.Retention, soakRetention)
	c.SizeEvery = cmp.Or(c.SizeEvery, soakSizeEvery)
	c.RawDuration, c.RiverJobs = 0, 0
	return nil
}

// Report is everything a run measured.
type Report struct {
	Config        Config
	Store         string
	Rules         ruleSet
	Raw           *attackResult
	River         *riverResult
	Load          attackResult
	Sent          uint64 // events handed to vegeta
	Accepted      int    // events answered 202 or 200, after resends
	Resent        int    // events sent again because their fate was unknown
	Resent200     int    // of those, already stored before the first answer was lost
	IntakeErrors  map[string]int
	TriggerErrors int

	Expected, Delivered, Lost, Duplicates, Unexpected int
	ByKind                                            map[string]int
	DrainWait                                         time.Duration
	Drained                                           bool
	DeliveriesPerSecLoad, DeliveriesPerSec            float64
	// DeliveriesPerSecAfter is the rate once the load stopped, when the
	// queue had a backlog: delivery alone, comparable to River's no-op
	// figure. 0 when the backlog was too small to tell.
	DeliveriesPerSecAfter                            float64
	E2EP50, E2EP99                                   time.Duration
	Injected, BadSignature, BadRequest, PeerRequests int64

	Kills    int
	Restart  time.Duration // mean time from kill to ready
	PeakRSS  int64         // KiB, highest VmHWM of any server process
	StopErrs []string
	Machine  string
	Built    string // what hookline binary ran
	// OtherLoad is the share of the machine other processes used during
	// the load: above a few percent, the figures are low by about as much.
	OtherLoad float64
	// The same during the references (their children are reaped, so
	// counted as ours). PostgreSQL's own processes count as other load.
	RawOtherLoad, RiverOtherLoad float64
	// CPU is the cores each party used during the load.
	CPU cpuUse
	// Cost is CPU and allocations per accepted event, load start to drained.
	Cost Cost
	// Sizes are the store's size during a soak, and SoakGrowth how much
	// it grew over the second half; SoakJudged is false when the run was
	// too short to tell whether it levelled off.
	Sizes                    []sizeSample
	SoakGrowth               float64
	SoakLevelled, SoakJudged bool
}

// Pass is the run's verdict: nothing the server accepted may be lost, and
// a soak long enough to tell must level off.
func (r *Report) Pass() bool {
	return r.Lost == 0 && r.Accepted > 0 && (!r.SoakJudged || r.SoakLevelled)
}

// run is one harness run; the report is printed to out as it progresses.
func run(ctx context.Context, cfg Config, out io.Writer) (rep *Report, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	rep = &Report{Config: cfg, Store: "SQLite", Machine: machine()}
	if cfg.DatabaseURL != "" {
		rep.Store = "PostgreSQL"
	}
	logf := func(format string, args ...any) { fmt.Fprintf(out, "bench: "+format+"\n", args...) }

	tmp, err := os.MkdirTemp("", "hookline-bench-")
	if err != nil {
		return nil, err
	}
	if cfg.Keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	bin := cfg.Hookline
	rep.Built = "prebuilt " + bin
	if bin == "" {
		rep.Built = "built from the work tree"
		if rev := sourceRevision(ctx); rev != "" {
			rep.Built += " (" + rev + ")"
		}
		logf("building cmd/hookline: %s", rep.Built)
		if bin, err = buildHookline(ctx, tmp); err != nil {
			return nil, err
		}
	}

	if cfg.RawDuration > 0 {
		logf("raw loopback reference: vegeta against a trivial 200 handler for %s", cfg.RawDuration)
		before := sampleCPU(nil)
		raw, err := rawReference(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("raw loopback reference: %w", err)
		}
		rep.Raw, rep.RawOtherLoad = &raw, otherLoad(before, sampleCPU(nil))
		logf("  %s req/s, p50 %s, p99 %s", num(raw.Throughput), ms(raw.P50), ms(raw.P99))
	}
	if cfg.RiverJobs > 0 {
		logf("River no-op reference: %d jobs on %s, %d workers", cfg.RiverJobs, rep.Store, cfg.ServerWorkers)
		dir, dsn := filepath.Join(tmp, "river"), ""
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		var drop func() error
		if cfg.DatabaseURL != "" {
			if dsn, drop, err = freshSchema(ctx, cfg.DatabaseURL, "hookline_bench_river"); err != nil {
				return nil, err
			}
		}
		before := sampleCPU(nil)
		rr, err := measureRiver(ctx, dir, dsn, cfg.RiverJobs, cfg.ServerWorkers)
		rep.RiverOtherLoad = otherLoad(before, sampleCPU(nil))
		if drop != nil {
			drop()
		}
		if err != nil {
			return nil, err
		}
		rep.River = &rr
		logf("  %s jobs/s", num(rr.PerSec))
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// The receiver and the secrets the generated rules read with env().
	secret := "whsec_" + base64.StdEncoding.EncodeToString(randomBytes(32))
	twilioToken := hex.EncodeToString(randomBytes(16))
	recv, err := startReceiver(secret, twilioToken, cfg.FailRate)
	if err != nil {
		return nil, err
	}
	defer recv.close()
	rulesDir := filepath.Join(tmp, "rules")
	if rep.Rules, err = writeRules(rulesDir, cfg.Triggers, recv.baseURL, recv.smtp); err != nil {
		return nil, err
	}

	dsn := ""
	if cfg.DatabaseURL != "" {
		var drop func() error
		if dsn, drop, err = freshSchema(ctx, cfg.DatabaseURL, "hookline_bench"); err != nil {
			return nil, err
		}
		if !cfg.Keep {
			defer drop()
		}
	}
	nodes, err := makeNodes(cfg, bin, tmp, rulesDir, dsn, secret, twilioToken)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, n := range nodes {
			if !n.running() {
				continue
			}
			// On success each node is stopped gracefully below; here only
			// what an error or Ctrl-C left running.
			n.stop(5 * time.Second)
		}
	}()
	logf("starting %d hookline serve (%s, %s)", len(nodes), rep.Store, rep.Rules)
	for _, n := range nodes {
		if err := n.start(ctx, cfg.StartTimeout); err != nil {
			return nil, err
		}
	}

	// The load, with chaos beside it.
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url()
	}
	gen := newEventGen(cfg.Seed, urls)
	led := newLedger()
	var (
		unknownMu sync.Mutex
		unknown   []uint64 // events whose answer was lost after they may have been stored
	)
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	var chaosWG sync.WaitGroup
	var chaosErr error
	chaosStop := make(chan struct{})
	if cfg.Chaos {
		chaosWG.Add(1)
		go func() {
			defer chaosWG.Done()
			rep.Kills, rep.Restart, chaosErr = runChaos(loadCtx, nodes, cfg, chaosStop)
			if chaosErr != nil {
				cancelLoad()
			}
		}()
	}
	mode := "as fast as possible with " + strconv.Itoa(cfg.Workers) + " requests in flight"
	if cfg.Rate > 0 {
		mode = strconv.Itoa(cfg.Rate) + " events/s"
	}
	logf("sending events for %s, %s%s", cfg.Duration, mode, map[bool]string{true: ", chaos on", false: ""}[cfg.Chaos])
	pids := func() []int {
		var ps []int
		for _, n := range nodes {
			ps = append(ps, n.pid())
		}
		return ps
	}
	mallocStart, mallocErr := mallocs(ctx, urls)
	cpuStart := sampleCPU(pids())
	loadStart := time.Now()
	var sampled sync.WaitGroup
	var sizesMu sync.Mutex
	if cfg.Soak > 0 {
		logf("store size every %s (retention %s):", cfg.SizeEvery, cfg.Retention)
		sampled.Go(func() {
			sampleSizes(loadCtx, nodes[0].url(), cfg.SizeEvery, loadStart, func(s sizeSample) {
				logf("  %8s  %10s  %d events removed", s.At.Round(time.Second), mib(s.Bytes), s.Removed)
				sizesMu.Lock()
				rep.Sizes = append(rep.Sizes, s)
				sizesMu.Unlock()
			})
		})
	}
	rep.Load = attack(loadCtx, gen.targeter(), cfg.Rate, cfg.Workers, cfg.Duration, func(res *vegeta.Result) {
		seq, ok := seqOfURL(res.URL)
		if !ok {
			return
		}
		if !led.add(seq, int(res.Code), res.Body, res.Error) && res.Code == 0 && !strings.Contains(res.Error, "connection refused") {
			unknownMu.Lock()
			unknown = append(unknown, seq)
			unknownMu.Unlock()
		}
	})
	loadEnd := time.Now()
	if cfg.Soak > 0 {
		cancelLoad() // the load is over: stop sampling, take the last reading
		sampled.Wait()
		if s, err := readSize(ctx, nodes[0].url(), loadStart); err == nil {
			logf("  %8s  %10s  %d events removed (end of the load)", s.At.Round(time.Second), mib(s.Bytes), s.Removed)
			rep.Sizes = append(rep.Sizes, s)
		}
		rep.SoakGrowth, rep.SoakLevelled, rep.SoakJudged = soakVerdict(rep.Sizes, cfg.Soak, cfg.Retention)
	}
	close(chaosStop)
	chaosWG.Wait()
	cpuEnd := sampleCPU(pids())
	rep.OtherLoad = otherLoad(cpuStart, cpuEnd)
	rep.CPU = coresUsed(cpuStart, cpuEnd, runtime.NumCPU())
	if chaosErr != nil {
		return nil, chaosErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.Sent = gen.count()
	for _, n := range nodes {
		if !n.running() {
			if err := n.start(ctx, cfg.StartTimeout); err != nil {
				return nil, err
			}
		}
	}

	if len(unknown) > 0 {
		logf("sending again %d events whose answer was lost (same id)", len(unknown))
		rep.Resent, rep.Resent200 = resend(ctx, gen, led, unknown)
	}
	led.mu.Lock()
	rep.Accepted = len(led.accepted)
	rep.IntakeErrors = led.errs
	rep.TriggerErrors = led.trigErrs
	want := map[string]uint64{} // receiver key -> event seq
	for seq, exp := range led.accepted {
		id := ceid(seq, gen.sentAt(seq))
		for _, e := range exp {
			want[receiverKey(e, id)] = seq
		}
	}
	led.mu.Unlock()
	rep.Expected = len(want)

	logf("waiting up to %s for %d deliveries", cfg.Drain, rep.Expected)
	drainStart := time.Now()
	if rep.Drained, err = waitDrained(ctx, recv, want, cfg.Drain, logf); err != nil {
		return nil, err
	}
	rep.DrainWait = time.Since(drainStart)
	cpuDrained := sampleCPU(pids())
	rep.Cost.ServerCPU, rep.Cost.DatabaseCPU = cpuCost(cpuStart, cpuDrained)
	if cfg.DatabaseURL == "" {
		// The machine's PostgreSQL runs beside a SQLite run too, and its
		// background work is not this run's cost.
		rep.Cost.DatabaseCPU = 0
	}
	if mallocEnd, err := mallocs(ctx, urls); err == nil && mallocErr == nil && rep.Kills == 0 && mallocEnd >= mallocStart {
		rep.Cost.Mallocs, rep.Cost.MallocsCounted = mallocEnd-mallocStart, true
	}
	if cfg.Chaos || cfg.FailRate > 0 {
		// Late duplicates: attempts re-run after a crash arrive within
		// moments of the restart, but give them a second.
		time.Sleep(time.Second)
	}

	for _, n := range nodes {
		if err := n.stop(35 * time.Second); err != nil {
			rep.StopErrs = append(rep.StopErrs, err.Error())
		}
		rep.PeakRSS = max(rep.PeakRSS, n.peakRSS())
	}

	reconcile(rep, want, recv.snapshot(), gen, loadStart, loadEnd)
	rep.Cost.Events, rep.Cost.Deliv = rep.Accepted, rep.Delivered
	rep.Injected, rep.BadSignature, rep.BadRequest, rep.PeerRequests = recv.injected.Load(), recv.badSignature.Load(), recv.badRequest.Load(), recv.requests.Load()
	rep.print(out)
	if !rep.Pass() {
		for _, n := range nodes {
			fmt.Fprintf(out, "\nlast lines of node %d's log (%s):\n%s\n", n.id, n.logPath, tail(n.logPath, 20))
		}
	}
	return rep, nil
}

// waitDrained polls the receiver until every promised delivery arrived, or
// limit passes.
func waitDrained(ctx context.Context, recv *receiver, want map[string]uint64, limit time.Duration, logf func(string, ...any)) (bool, error) {
	start := time.Now()
	lastProgress := start
	for {
		got := recv.snapshot()
		missing := 0
		for k := range want {
			if _, ok := got[k]; !ok {
				missing++
			}
		}
		if missing == 0 {
			return true, nil
		}
		if time.Since(start) > limit {
			return false, nil
		}
		if time.Since(lastProgress) > 5*time.Second {
			logf("  %d of %d deliveries still to come", missing, len(want))
			lastProgress = time.Now()
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// receiverKey is the key the receiver files a delivery under (see
// receiver).
func receiverKey(e expected, ceid string) string {
	if strings.Contains(e.address, ".sms.") {
		return ceid + " " + e.address
	}
	return e.id
}

func reconcile(rep *Report, want map[string]uint64, got map[string]receipt, gen *eventGen, loadStart, loadEnd time.Time) {
	rep.ByKind = map[string]int{}
	var e2e []time.Duration
	var last int64
	inLoad := 0
	for k, seq := range want {
		rc, ok := got[k]
		if !ok {
			rep.Lost++
			continue
		}
		rep.Delivered++
		rep.ByKind[rc.kind]++
		rep.Duplicates += rc.ok - 1
		e2e = append(e2e, time.Duration(rc.first-gen.sentAt(seq)))
		last = max(last, rc.first)
		if rc.first <= loadEnd.UnixNano() {
			inLoad++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			rep.Unexpected++
		}
	}
	if d := loadEnd.Sub(loadStart); d > 0 {
		rep.DeliveriesPerSecLoad = float64(inLoad) / d.Seconds()
	}
	if d := time.Duration(last - loadStart.UnixNano()); last > 0 && d > 0 {
		rep.DeliveriesPerSec = float64(rep.Delivered) / d.Seconds()
	}
	if d := time.Duration(last - loadEnd.UnixNano()); d > 2*time.Second && rep.Delivered-inLoad >= 1000 {
		rep.DeliveriesPerSecAfter = float64(rep.Delivered-inLoad) / d.Seconds()
	}
	rep.E2EP50, rep.E2EP99 = quantile(e2e, 0.5), quantile(e2e, 0.99)
}

func makeNodes(cfg Config, bin, tmp, rulesDir, dsn, secret, twilioToken string) ([]*node, error) {
	// The server gets the harness's environment minus Hookline's own
	// authentication variables (a token in the caller's shell would make
	// every event a 401), plus the secrets the rules read.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKLINE_") {
			env = append(env, kv)
		}
	}
	env = append(env, envSigningSecret+"="+secret, envTwilioToken+"="+twilioToken)
	var nodes []*node
	for i := range cfg.Nodes {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		data := filepath.Join(tmp, fmt.Sprintf("data-%d", i))
		args := []string{"serve", rulesDir,
			"--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--allow-cidr", "127.0.0.0/8",
			"--workers", strconv.Itoa(cfg.ServerWorkers),
			"--watch", "off",
			"--log-level", cfg.LogLevel,
		}
		if dsn != "" {
			args = append(args, "--database-url", dsn)
		} else {
			args = append(args, "--data", data)
		}
		if cfg.AttemptTimeout > 0 {
			args = append(args, "--attempt-timeout", cfg.AttemptTimeout.String())
		}
		if cfg.Retention > 0 {
			args = append(args, "--retention", cfg.Retention.String())
		}
		nodes = append(nodes, &node{id: i, bin: bin, args: args, env: env, port: port,
			logPath: filepath.Join(tmp, fmt.Sprintf("node-%d.log", i))})
	}
	return nodes, nil
}

// runChaos kills a node with SIGKILL every KillEvery (±25 %), round robin,
// and restarts it at once on the same port and data, until stop is closed.
func runChaos(ctx context.Context, nodes []*node, cfg Config, stop <-chan struct{}) (kills int, meanRestart time.Duration, err error) {
	var total time.Duration
	for i := 0; ; i++ {
		jitter := time.Duration((randFloat() - 0.5) * 0.5 * float64(cfg.KillEvery))
		select {
		case <-stop:
			if kills > 0 {
				meanRestart = total / time.Duration(kills)
			}
			return kills, meanRestart, nil
		case <-ctx.Done():
			return kills, 0, nil
		case <-time.After(cfg.KillEvery + jitter):
		}
		n := nodes[i%len(nodes)]
		t0 := time.Now()
		n.kill()
		kills++
		if err := n.start(ctx, cfg.StartTimeout); err != nil {
			if ctx.Err() != nil {
				return kills, 0, nil
			}
			return kills, 0, fmt.Errorf("chaos: restart after kill %d: %w", kills, err)
		}
		total += time.Since(t0)
	}
}

// resend posts events again, with their original id, until each gets an
// answer (at most 5 tries, 30 s in all): a 200 means the first request
// had been stored before its answer was lost.
func resend(ctx context.Context, gen *eventGen, led *ledger, seqs []uint64) (sent, already int) {
	client := &http.Client{Timeout: 15 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		if led.isAccepted(seq) {
			continue // answered after all (a duplicate in the list)
		}
		sent++
		body := gen.body(seq, gen.sentAt(seq))
		for try := 0; try < 5 && time.Now().Before(deadline) && ctx.Err() == nil; try++ {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gen.url(seq), strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/cloudevents+json")
			resp, err := client.Do(req)
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if led.add(seq, resp.StatusCode, b, "") {
				if resp.StatusCode == http.StatusOK {
					already++
				}
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return sent, already
}

// rawReference runs the load tool, with the same settings and the same
// events, against a trivial handler in a child process.
func rawReference(ctx context.Context, cfg Config) (attackResult, error) {
	c, err := startChild("raw")
	if err != nil {
		return attackResult{}, err
	}
	defer c.stop()
	addr, err := c.line(ctx, 10*time.Second)
	if err != nil {
		return attackResult{}, err
	}
	gen := newEventGen(cfg.Seed, []string{"http://" + addr})
	r := attack(ctx, gen.targeter(), 0, cfg.Workers, cfg.RawDuration, nil)
	if r.OK == 0 {
		return r, errors.New("no request succeeded")
	}
	return r, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// machine describes this machine for the report.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d cores (%s), %s %s/%s", runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
