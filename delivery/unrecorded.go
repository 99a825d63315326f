package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/actions"
)

// Attempts made but not recorded.
//
// When the database refuses the record of an attempt (a full disk, a
// read-only file), the attempt has already reached the peer: running it
// again would send it twice. A first attempt from memory (direct.go)
// therefore keeps its outcome and tries again to record only that, on the
// delivery's retry schedule and at most as often as its policy allows
// attempts. Meanwhile the delivery keeps its room in memory, so a database
// that stays broken cannot make memory grow: unrecorded attempts fill the
// bound and new deliveries are spilled (or refused, if the database
// refuses those writes too). Once
// the tries run out the outcome is dropped and the row left as it is,
// pending: the next start runs it again (at least once, as after a crash)
// rather than this process sending it every second. Every failure is
// counted for /metrics and /readyz (RecordHealth, Degraded) and logged at
// most once a second.
//
// River's attempts (retries, and every attempt on PostgreSQL) are not
// kept: their job must finish within River's job timeout, so a failed
// record fails the job and River runs it again on its own backoff.

// notRecorded is the error of an attempt that was made but whose record
// failed: what it takes to record it again.
type notRecorded struct {
	out     actions.Outcome
	started time.Time
	err     error
}

func (e *notRecorded) Error() string { return e.err.Error() }
func (e *notRecorded) Unwrap() error { return e.err }

// unrecorded is a first attempt from memory whose record failed: its
// outcome, waiting for another try to record it.
type unrecorded struct {
	out     actions.Outcome
	started time.Time
	tries   int // tries to record it that failed
}

// recordHealth counts failures to record attempts. Only failures write to
// it: a record that succeeds reads one flag.
type recordHealth struct {
	failures  atomic.Int64 // tries to record an attempt that failed, since Open
	failing   atomic.Bool  // the latest try failed
	lastErr   atomic.Pointer[string]
	waiting   atomic.Int64 // first attempts made, their record waiting for another try
	abandoned atomic.Int64 // first attempts made, their record given up: pending until the next Open
	loggedAt  atomic.Int64 // Config.Now in unix nanoseconds of the last line logged, 0 before any
	notLogged atomic.Int64 // failures since that line
}

func (h *recordHealth) failed(err error) {
	h.failures.Add(1)
	msg := err.Error()
	h.lastErr.Store(&msg)
	h.failing.Store(true)
}

func (h *recordHealth) recorded() {
	if h.failing.Load() {
		h.failing.Store(false)
	}
}

// RecordHealth is how recording attempts fares.
type RecordHealth struct {
	// Failures counts tries to record an attempt that failed since the
	// store opened (a counter).
	Failures int64
	// Unrecorded counts attempts made and not recorded (SQLite's first
	// attempts from memory): waiting for another try to record them, or
	// given up, in which case their delivery stays pending and runs
	// again, a second send, when the store next opens.
	Unrecorded int64
	// Failing is true when the latest try to record an attempt failed.
	Failing bool
	// LastError is the latest failure, "" before any.
	LastError string
}

// RecordHealth reports failures to record attempts, for metrics.
func (s *Store) RecordHealth() RecordHealth {
	h := &s.health
	out := RecordHealth{
		Failures:   h.failures.Load(),
		Unrecorded: h.waiting.Load() + h.abandoned.Load(),
		Failing:    h.failing.Load(),
	}
	if msg := h.lastErr.Load(); msg != nil {
		out.LastError = *msg
	}
	return out
}

// Degraded says why deliveries are not being recorded, or nil when they
// are: an attempt made and not recorded, or a latest record that failed.
// The store still takes events (Ping and Accept say whether it can), so
// this is for readiness reports and alerts, not for refusing work.
func (s *Store) Degraded() error {
	h := s.RecordHealth()
	switch {
	case h.Unrecorded > 0:
		return fmt.Errorf("%d attempts were made but could not be recorded (latest failure: %s)", h.Unrecorded, h.LastError)
	case h.Failing:
		return fmt.Errorf("recording an attempt failed: %s", h.LastError)
	}
	return nil
}

// recordLogInterval is the least time between two log lines about failed
// records: a broken database fails every record, and the log must stay
// readable. The lines in between are counted in the next one.
const recordLogInterval = time.Second

// recordFailed logs a failure to record an attempt, unless one was logged
// less than recordLogInterval ago (on the store's clock).
func (s *Store) recordFailed(ctx context.Context, log *slog.Logger, err error, msg string, attrs ...slog.Attr) {
	h := &s.health
	now := s.cfg.Now().UnixNano()
	last := h.loggedAt.Load()
	if (last != 0 && now-last < int64(recordLogInterval)) || !h.loggedAt.CompareAndSwap(last, now) {
		h.notLogged.Add(1)
		return
	}
	attrs = append(attrs, slog.String("error", err.Error()), slog.Int64("failures_not_logged", h.notLogged.Swap(0)))
	log.LogAttrs(ctx, slog.LevelError, msg, attrs...)
}

// recordPolicy is the schedule of tries to record an attempt: the
// delivery's own retry policy, or, for a delivery without retries, the
// default one. A second try to record is not a second send, and giving up
// early would make the next start send it again.
func recordPolicy(p RetryPolicy) RetryPolicy {
	if len(p.Schedule) == 0 {
		return RetryPolicy{Schedule: DefaultSchedule, MaxAttempts: len(DefaultSchedule) + 1}
	}
	return p
}

// notRecorded handles first attempt j, made but not recorded (nr): its
// record is tried again after the policy's next delay, or given up once
// the policy's attempts are spent.
func (q *direct) notRecorded(ctx context.Context, j directJob, log *slog.Logger, nr *notRecorded) {
	s := q.s
	if j.rec == nil {
		j.rec = &unrecorded{out: nr.out, started: nr.started}
		s.health.waiting.Add(1)
	}
	j.rec.tries++
	p := recordPolicy(j.retry)
	if j.rec.tries >= p.MaxAttempts {
		s.health.waiting.Add(-1)
		s.health.abandoned.Add(1)
		q.release(1)
		s.recordFailed(ctx, log, nr.err, "an attempt was made but could not be recorded; giving up until the next start, which runs it again",
			slog.Int("tries", j.rec.tries))
		return
	}
	wait := p.wait(j.rec.tries, s.cfg.Rand)
	s.recordFailed(ctx, log, nr.err, "recording an attempt failed; recording it again later",
		slog.Int("tries", j.rec.tries), slog.Duration("retry_in", wait))
	q.recordLater(j, wait)
}

// recordLater queues j again after wait, with its room still reserved.
func (q *direct) recordLater(j directJob, wait time.Duration) {
	q.recMu.Lock()
	defer q.recMu.Unlock()
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		q.recMu.Lock() // t is set once recordLater lets go
		delete(q.recording, t)
		q.recMu.Unlock()
		q.queue <- j
	})
	q.recording[t] = j
}

// queueRecords queues at once the records waiting for a try, so that a
// stopping store does not leave timers behind: a later Start records them,
// and if the process ends first their deliveries run again on the next
// Open.
func (q *direct) queueRecords() {
	q.recMu.Lock()
	defer q.recMu.Unlock()
	for t, j := range q.recording {
		if t.Stop() { // else it fired and queues j itself
			q.queue <- j
		}
		delete(q.recording, t)
	}
}
