package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/hookline/hookline/delivery"
)

// The harness runs its two reference measurements in child processes of
// its own binary, so that neither shares a heap, a GC or a scheduler with
// the harness that drives the load:
//
//   - "raw": a trivial HTTP server answering 200, the loopback ceiling the
//     load tool can reach on this machine;
//   - "river": River working no-op jobs on the server's store with the
//     server's settings, the ceiling of the delivery queue.
//
// The role is chosen by an environment variable; main and TestMain check it
// before anything else.
const roleEnv = "HOOKLINE_BENCH_ROLE"

// runRole runs a child role and returns its exit code.
func runRole(role string) int {
	var err error
	switch role {
	case "raw":
		err = serveRaw()
	case "river":
		err = riverNoop()
	default:
		err = fmt.Errorf("unknown %s %q", roleEnv, role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench child:", err)
		return 1
	}
	return 0
}

// child is a running child role.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	errb  *strings.Builder
}

// startChild starts this binary in a role with extra environment.
func startChild(role string, env ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	// The test binary needs the flag that keeps it from running tests; the
	// harness binary ignores it.
	if strings.HasSuffix(self, ".test") {
		cmd.Args = append(cmd.Args, "-test.run=^$")
	}
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	cmd.SysProcAttr = childAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errb := &strings.Builder{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), errb: errb}, nil
}

// line reads the child's next line of output, within timeout; the child is
// stopped if ctx is done first (Ctrl-C).
func (c *child) line(ctx context.Context, timeout time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.stop()
			return "", fmt.Errorf("%v; its stderr:\n%s", r.err, c.errb.String())
		}
		return r.s, nil
	case <-time.After(timeout):
		c.stop()
		return "", fmt.Errorf("no answer within %s; its stderr:\n%s", timeout, c.errb.String())
	case <-ctx.Done():
		c.stop()
		return "", ctx.Err()
	}
}

// stop closes the child's stdin (its signal to exit) and kills it if it
// does not exit promptly.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// exitOnStdinEOF ends a child when its parent closes the pipe (or dies).
func exitOnStdinEOF() {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

func serveRaw() error {
	exitOnStdinEOF()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	// Reads the body, as any real handler must, and answers 200.
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
}

// riverResult is the river child's answer.
type riverResult struct {
	Jobs    int     `json:"jobs"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_sec"`
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// These mirror delivery's River client settings (store.go: queueName,
// fetchCooldown, fetchPollInterval). They are copied, not imported,
// because delivery keeps them unexported; keep them in step. The database
// itself is opened by delivery.OpenDatabase.
const (
	riverFetchCooldown     = 5 * time.Millisecond
	riverFetchPollInterval = 50 * time.Millisecond
	riverQueue             = "hookline_delivery"
)

// riverNoop inserts N no-op jobs into an empty store, then starts a River
// client with the server's settings and times how long it takes to
// complete them all: the most the queue can do on this store, before any
// work of ours. The store is SQLite in BENCH_RIVER_DIR, or the PostgreSQL
// database (schema) of BENCH_RIVER_DSN, opened as the server opens it.
func riverNoop() error {
	exitOnStdinEOF()
	jobs, _ := strconv.Atoi(os.Getenv("BENCH_RIVER_JOBS"))
	workers, _ := strconv.Atoi(os.Getenv("BENCH_RIVER_WORKERS"))
	dir, dsn := os.Getenv("BENCH_RIVER_DIR"), os.Getenv("BENCH_RIVER_DSN")
	if jobs <= 0 || workers <= 0 || (dir == "") == (dsn == "") {
		return errors.New("BENCH_RIVER_JOBS, BENCH_RIVER_WORKERS and one of BENCH_RIVER_DIR or BENCH_RIVER_DSN are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Opened by the server's own code: the same pragmas, pools and
	// statement cache on SQLite, the same pools and listener on PostgreSQL.
	db, err := delivery.OpenDatabase(ctx, delivery.Config{DataDir: dir, DatabaseURL: dsn})
	if err != nil {
		return err
	}
	defer db.Close()

	migrator, err := rivermigrate.New(db.River, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{})
	client, err := river.NewClient(db.River, &river.Config{
		Queues:            map[string]river.QueueConfig{riverQueue: {MaxWorkers: workers}},
		Workers:           ws,
		FetchCooldown:     riverFetchCooldown,
		FetchPollInterval: riverFetchPollInterval,
	})
	if err != nil {
		return err
	}
	const batch = 1000
	for i := 0; i < jobs; i += batch {
		params := make([]river.InsertManyParams, min(batch, jobs-i))
		for j := range params {
			params[j] = river.InsertManyParams{Args: noopArgs{}, InsertOpts: &river.InsertOpts{Queue: riverQueue}}
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
	}

	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return err
	}
	// Polling the count from a reader connection (WAL) does not take the
	// writer River needs; a subscription could drop events when full.
	var done int
	for done < jobs {
		if ctx.Err() != nil {
			return fmt.Errorf("%d of %d jobs completed before the time limit", done, jobs)
		}
		time.Sleep(10 * time.Millisecond)
		if err := db.Read.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE state = 'completed'").Scan(&done); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	client.Stop(stopCtx)
	return json.NewEncoder(os.Stdout).Encode(riverResult{Jobs: jobs, Seconds: elapsed.Seconds(), PerSec: float64(jobs) / elapsed.Seconds()})
}

// measureRiver runs the river child on SQLite in dir, or on PostgreSQL at
// dsn, and returns its result.
func measureRiver(ctx context.Context, dir, dsn string, jobs, workers int) (riverResult, error) {
	env := []string{"BENCH_RIVER_JOBS=" + strconv.Itoa(jobs), "BENCH_RIVER_WORKERS=" + strconv.Itoa(workers)}
	if dsn != "" {
		env = append(env, "BENCH_RIVER_DSN="+dsn)
	} else {
		env = append(env, "BENCH_RIVER_DIR="+dir)
	}
	c, err := startChild("river", env...)
	if err != nil {
		return riverResult{}, err
	}
	defer c.stop()
	line, err := c.line(ctx, 5*time.Minute)
	if err != nil {
		return riverResult{}, fmt.Errorf("river no-op child: %w", err)
	}
	var r riverResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return r, fmt.Errorf("river no-op child said %q: %w", line, err)
	}
	return r, nil
}
