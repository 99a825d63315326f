package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildHookline compiles cmd/hookline into dir. It builds by import path so
// that it works from any directory of the module (go run ./bench from the
// root, go test from bench/).
func buildHookline(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build hookline: the go command is not on PATH: %w", err)
	}
	out := dir + "/hookline"
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/hookline/hookline/cmd/hookline")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hookline: %v\n%s", err, msg)
	}
	return out, nil
}

// sourceRevision says what buildHookline built: the commit, and whether
// files outside bench/ differed from it (figures from uncommitted code are
// not reproducible). Empty outside a git work tree.
func sourceRevision(ctx context.Context) string {
	rev, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	s := "commit " + strings.TrimSpace(string(rev))
	root, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return s
	}
	dirty, err := exec.CommandContext(ctx, "git", "-C", strings.TrimSpace(string(root)), "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench").Output()
	if err == nil && len(bytes.TrimSpace(dirty)) > 0 {
		s += " plus uncommitted changes"
	}
	return s
}

// freePort finds a free loopback port for a server that keeps its address
// across restarts. It is chosen below the kernel's ephemeral range: while a
// killed server is down, the load's and the deliveries' outgoing
// connections take ephemeral ports, and one of them once took the server's
// port and failed its restart with "address already in use".
func freePort() (int, error) {
	lo := ephemeralLow()
	for range 200 {
		port := 10000 + rand.IntN(max(lo-10000, 1))
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port between 10000 and %d", lo)
}

// ephemeralLow is the first port of Linux's ephemeral range (32768 by
// default, and where the setting cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= 10000 {
		return 32768
	}
	return lo
}

// node is one `hookline serve` process, restarted on the same port and
// data directory as often as chaos mode kills it.
type node struct {
	id      int
	bin     string
	args    []string
	env     []string
	port    int
	logPath string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has been reaped
	waitErr error
	peakKB  int64 // highest VmHWM of any of its processes
	starts  int
}

func (n *node) url() string { return "http://127.0.0.1:" + strconv.Itoa(n.port) }

// start launches the process and waits until /readyz answers 200, the
// process dies (its log's tail is in the error) or timeout passes.
func (n *node) start(ctx context.Context, timeout time.Duration) error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "\n==== bench: start %d of node %d at %s ====\n", n.starts+1, n.id, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.bin, n.args...)
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("node %d: start %s: %w", n.id, n.bin, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited, n.waitErr = cmd, exited, nil
	n.starts++
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(exited)
	}()
	go n.sampleRSS(cmd.Process.Pid, exited)

	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-exited:
			n.mu.Lock()
			werr := n.waitErr
			n.mu.Unlock()
			return fmt.Errorf("node %d: hookline serve exited while starting (%v); its log:\n%s", n.id, werr, tail(n.logPath, 40))
		case <-ctx.Done():
			n.kill()
			return ctx.Err()
		default:
		}
		if resp, err := client.Get(n.url() + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("node %d: not ready after %s; its log:\n%s", n.id, timeout, tail(n.logPath, 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sampleRSS keeps the highest VmHWM (the kernel's own peak resident set
// size) of the process. It is read periodically because the figure is gone
// once the process has been reaped, which after a kill -9 is immediate.
func (n *node) sampleRSS(pid int, exited <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if kb := vmHWM(pid); kb > 0 {
			n.mu.Lock()
			n.peakKB = max(n.peakKB, kb)
			n.mu.Unlock()
		}
		select {
		case <-exited:
			return
		case <-t.C:
		}
	}
}

// vmHWM reads the peak RSS of pid in KiB from /proc (Linux), or 0.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// snapshotRSS records the current process's VmHWM now, before it is
// stopped or killed.
func (n *node) snapshotRSS() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil && n.cmd.Process != nil {
		n.peakKB = max(n.peakKB, vmHWM(n.cmd.Process.Pid))
	}
}

// running reports whether the current process is alive.
func (n *node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits until the process is reaped.
func (n *node) kill() {
	n.snapshotRSS()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || exited == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop asks for a graceful shutdown (SIGTERM), and kills after grace.
func (n *node) stop(grace time.Duration) error {
	n.snapshotRSS()
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil || exited == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		n.mu.Lock()
		defer n.mu.Unlock()
		var ee *exec.ExitError
		if n.waitErr != nil && !errors.As(n.waitErr, &ee) {
			return n.waitErr
		}
		if n.waitErr != nil {
			return fmt.Errorf("node %d: hookline serve exited with %v on SIGTERM; log: %s", n.id, n.waitErr, n.logPath)
		}
		return nil
	case <-time.After(grace):
		n.kill()
		return fmt.Errorf("node %d: did not stop within %s of SIGTERM; killed", n.id, grace)
	}
}

// pid is the current process's id, or 0.
func (n *node) pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *node) peakRSS() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peakKB
}

// tail returns the last lines of a file, for error messages.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return "  " + strings.Join(all, "\n  ")
}
