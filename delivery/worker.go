package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/hookline/hookline/actions"
)

// deliveryState is what a worker reads of a delivery before an attempt.
type deliveryState struct {
	eventID        string
	content        actions.Delivery
	status         Status
	attempts       int
	jobID          int64
	retryRequested bool
	dueAt          int64 // unix nanoseconds; 0 unless it waited (a schedule)
	lateAfter      int64
	trace          traceParent
}

func (s *Store) work(ctx context.Context, job *river.Job[jobArgs]) error {
	id := job.Args.DeliveryID
	p, err := s.loadDeliveryState(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return river.JobCancel(fmt.Errorf("delivery %s: %w", id, err))
	}
	if err != nil {
		return err // River retries the job with its own backoff
	}
	// Every attempt has its own job and the delivery names the current one.
	// An older job can still turn up after River rescued it from a worker
	// that looked stuck but then finished; it has nothing left to do.
	if p.jobID != job.ID || (p.status.Final() && !p.retryRequested) {
		return nil
	}
	if p.status == StatusScheduled {
		if ok, err := s.startScheduled(ctx, id, p); !ok || err != nil {
			return err
		}
	}

	p.content.Attempt = p.attempts + 1
	ctx, span := s.startAttempt(s.withParent(ctx, p.trace), p.eventID, id, &p.content)
	log := s.attemptLog(ctx, p.eventID, id, &p.content)
	// An interrupted attempt returns ctx's error: River puts the job back
	// as it was and the next start tries again. So does one made but not
	// recorded, which River runs again (a second send) on its own backoff:
	// the job must finish within River's timeout, so it cannot wait for the
	// database as a first attempt from memory does (unrecorded.go).
	out, next, err := s.attempt(ctx, log, id, &p.content, job.ID)
	endAttempt(span, out, next, err)
	if nr := (*notRecorded)(nil); errors.As(err, &nr) {
		s.recordFailed(ctx, log, nr.err, "recording an attempt failed; it will run again")
	}
	if err != nil {
		return err
	}
	if next.status == StatusFailed {
		// Not the attempt's error, which the attempt log holds: River
		// keeps this text in its job row, out of reach of an erasure.
		return river.JobCancel(errors.New("the delivery failed; its attempt log says why"))
	}
	return nil
}

// attempt makes attempt d.Attempt of delivery id, logging to log (its
// attemptLog), on behalf of River job jobID (jobHeld or jobSpilled for a
// first attempt from memory), and records it. When ctx
// ends before the attempt delivered (stopping, or River's job timeout) it
// is not an attempt: nothing is recorded and ctx's error is returned, for
// the caller to run it again. An attempt made but not recorded returns a
// *notRecorded error holding what is needed to record it later.
func (s *Store) attempt(ctx context.Context, log *slog.Logger, id string, d *actions.Delivery, jobID int64) (actions.Outcome, nextStep, error) {
	started := s.cfg.Now()
	out := s.execute(ctx, d, log)
	if ctx.Err() != nil && out.Status != actions.Delivered {
		log.LogAttrs(ctx, slog.LevelInfo, "attempt interrupted; it will run again")
		return out, nextStep{}, ctx.Err()
	}
	next, err := s.finish(ctx, id, jobID, started, out, log)
	return out, next, err
}

func (s *Store) loadDeliveryState(ctx context.Context, id string) (*deliveryState, error) {
	var p deliveryState
	var content string
	err := s.rdb.QueryRowContext(ctx, s.sql(`SELECT event_id, content, status, attempts, job_id, retry_requested, due_at, late_after, traceparent, tracestate
		FROM hookline_delivery WHERE id = ?`), id).
		Scan(&p.eventID, &content, &p.status, &p.attempts, &p.jobID, &p.retryRequested, &p.dueAt, &p.lateAfter, &p.trace.parent, &p.trace.state)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load delivery %s: %w", id, err)
	}
	if err := p.content.UnmarshalString(content); err != nil {
		return nil, fmt.Errorf("load delivery %s: content: %w", id, err)
	}
	return &p, nil
}

// execute runs one attempt. A missing executor or a panicking one is a
// permanent failure: retrying the same content through the same code
// cannot help, and the delivery stays retriable by hand.
func (s *Store) execute(ctx context.Context, d *actions.Delivery, log *slog.Logger) (out actions.Outcome) {
	ex := s.cfg.Executors[d.Type]
	if ex == nil {
		return actions.Outcome{Status: actions.Permanent, Error: fmt.Sprintf("no executor for action type %q", d.Type)}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			// The panic value is not logged: it could hold resolved secrets.
			log.LogAttrs(ctx, slog.LevelError, "executor panicked", slog.String("type", d.Type))
			out = actions.Outcome{Status: actions.Permanent, Error: "executor panicked"}
		}
	}()
	out = ex.Execute(ctx, d)
	switch out.Status {
	case actions.Delivered, actions.Retry, actions.Permanent:
	default:
		out.Status = actions.Permanent
		if out.Error == "" {
			out.Error = "executor returned no outcome"
		}
	}
	return out
}

// finish records an attempt of delivery id, made by River job attemptJob
// (jobHeld, jobSpilled or a node's mark for a first attempt from memory),
// and decides what happens next, in one transaction that also inserts the
// job of the next attempt, if any. The job of this attempt is left for
// River to finish when Work returns: nil completes it, JobCancel marks a
// dead letter. Jobs are never revived after that, so River finishing one
// late cannot clash with a later attempt (see requeue).
func (s *Store) finish(ctx context.Context, id string, attemptJob int64, started time.Time, out actions.Outcome, log *slog.Logger) (nextStep, error) {
	// The attempt happened; record it even if the worker is being
	// cancelled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.recordTimeout())
	defer cancel()
	var next nextStep
	var done bool
	var err error
	if out.Status == actions.Delivered && s.delivered != nil {
		// The common case in one statement, without a transaction, shared
		// with other workers' (delivered.go): one round trip instead of
		// five, and a commit shared.
		done, err = s.delivered.record(ctx, id, attemptJob, started, out)
	}
	switch {
	case done:
		next.status = StatusDelivered
	case err == nil:
		err = s.recordTx(ctx, func(tx *sql.Tx) error {
			next = nextStep{} // this may run twice (see txBatcher)
			if out.Status == actions.Delivered && !s.be.modifyingWith {
				// The common case's two statements, in the transaction
				// (shared on SQLite, whose single writer runs statements
				// one after another anyway).
				if ok, err := s.recordDelivered(ctx, tx, id, attemptJob, started, out); err != nil || ok {
					next.status = StatusDelivered
					return err
				}
			}
			return s.record(ctx, tx, id, attemptJob, started, out, &next)
		})
	}
	if err != nil {
		// Logged by the caller, which knows what happens next.
		s.health.failed(err)
		return nextStep{}, &notRecorded{out: out, started: started, err: fmt.Errorf("record attempt of %s: %w", id, err)}
	}
	s.health.recorded()
	s.logAttempt(ctx, log, out, next)
	return next, nil
}

// execer is a transaction or the database: where a record is written.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// recordDelivered records attempt out, which delivered, of delivery id in
// the common case: the attempt's job is still the delivery's, which was
// neither erased nor asked to be retried meanwhile. Then the delivery is
// delivered, whatever its retry policy, and nothing else need be read. It
// reports false, having written nothing, in any other case, which record
// decides. Where a WITH may modify rows it is one statement, else two, in
// the caller's transaction.
func (s *Store) recordDelivered(ctx context.Context, db execer, id string, attemptJob int64, started time.Time, out actions.Outcome) (bool, error) {
	now := nanos(s.cfg.Now())
	const update = `UPDATE hookline_delivery SET attempts = attempts + 1, updated_at = ?, status = ?, last_error = '',
		next_attempt_at = NULL, canceled_by = ''
		WHERE id = ? AND job_id = ? AND erased_at = 0 AND retry_requested = 0 RETURNING attempts`
	const insert = `INSERT INTO hookline_attempt
		(delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id)`
	args := []any{now, StatusDelivered, id, attemptJob}
	if s.be.modifyingWith {
		res, err := db.ExecContext(ctx, s.sql(`WITH d AS (`+update+`) `+insert+`
			SELECT ?, attempts, ?, ?, ?, ?, ?, ?, ? FROM d`),
			append(args, id, nanos(started), actions.Delivered.String(), out.StatusCode, int64(out.Duration),
				out.Error, out.Response, out.ProviderID)...)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	var n int
	if err := db.QueryRowContext(ctx, s.sql(update), args...).Scan(&n); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	_, err := db.ExecContext(ctx, s.sql(insert+` VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, n, nanos(started), actions.Delivered.String(), out.StatusCode, int64(out.Duration), out.Error, out.Response, out.ProviderID)
	return err == nil, err
}

// record records attempt out of delivery id in tx, whatever it led to, and
// sets *next to what follows.
func (s *Store) record(ctx context.Context, tx *sql.Tx, id string, attemptJob int64, started time.Time, out actions.Outcome, next *nextStep) error {
	now := s.cfg.Now()
	// Update first: on PostgreSQL that takes the row lock that
	// serialises us with Retry before we read retry_requested.
	var n, maxAttempts, runBase int
	var sched string
	var jobID, erasedAt int64
	var requested bool
	if err := tx.QueryRowContext(ctx, s.sql(`UPDATE hookline_delivery SET attempts = attempts + 1, updated_at = ? WHERE id = ?
		RETURNING attempts, max_attempts, retry_schedule, job_id, retry_requested, run_base, erased_at`), nanos(now), id).
		Scan(&n, &maxAttempts, &sched, &jobID, &requested, &runBase, &erasedAt); err != nil {
		return err
	}
	// Superseded while in flight (jobID differs), or erased meanwhile
	// (erase.go): keep the record, decide nothing. An erased one's
	// excerpts are erased too: the peer's answer may quote the data.
	next.erased = erasedAt != 0
	current := jobID == attemptJob && !next.erased
	errText, response := out.Error, out.Response
	if next.erased {
		errText, response = erasedUnlessEmpty(errText), erasedUnlessEmpty(response)
	}
	if current {
		schedule, err := decodeSchedule(sched)
		if err != nil {
			return err
		}
		*next = s.decide(RetryPolicy{Schedule: schedule, MaxAttempts: maxAttempts}, n-runBase, out, requested, now)
		if next.fresh {
			runBase = n // the attempt asked for is the first of a new run
		}
	}
	if _, err := tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_attempt
		(delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		id, n, nanos(started), recordedOutcome(out, *next), out.StatusCode, int64(out.Duration),
		errText, response, out.ProviderID); err != nil {
		return err
	}
	if !current {
		return nil
	}
	return s.advance(ctx, tx, id, *next, out, runBase, now)
}

// OutcomeFailed is the outcome an attempt is recorded with when the peer
// asked for a retry but the run of the retry policy had no attempt left:
// the attempt failed the delivery, and "retry" would promise another.
// The others are actions.Status's: "delivered", "retry", "permanent".
const OutcomeFailed = "failed"

// recordedOutcome is the outcome attempt out is recorded with, next being
// what it led to.
func recordedOutcome(out actions.Outcome, next nextStep) string {
	if out.Status == actions.Retry && next.status == StatusFailed {
		return OutcomeFailed
	}
	return out.Status.String()
}

// recordTx runs f, which records an attempt, in a write transaction:
// shared with other records where one writer serialises them anyway.
func (s *Store) recordTx(ctx context.Context, f func(*sql.Tx) error) error {
	if s.records == nil {
		return s.inTx(ctx, f)
	}
	return s.records.do(ctx, f)
}

// nextStep is what follows an attempt.
type nextStep struct {
	status Status
	at     time.Time // next attempt, zero when none
	fresh  bool      // the next attempt starts a new run of the retry policy
	erased bool      // the delivery was erased while the attempt was in flight: nothing follows
}

// erasedUnlessEmpty is the marker for an erased text that held something.
func erasedUnlessEmpty(s string) string {
	if s == "" {
		return ""
	}
	return erasedText
}

// decide what follows an attempt, the k-th of its run of policy p (the
// attempts since the delivery was accepted or last retried by hand).
func (s *Store) decide(p RetryPolicy, k int, out actions.Outcome, requested bool, now time.Time) nextStep {
	switch {
	case requested:
		// Retry was asked for while this attempt was in flight: it began
		// before the request, so honour the request with another one,
		// which starts a new run as any retry by hand does (requeue).
		return nextStep{status: StatusPending, at: now, fresh: true}
	case out.Status == actions.Delivered:
		return nextStep{status: StatusDelivered}
	case out.Status == actions.Retry && k < p.MaxAttempts:
		return nextStep{status: StatusRetrying, at: p.nextAttempt(k, now, out.RetryAfter, s.cfg.Rand)}
	}
	return nextStep{status: StatusFailed}
}

// advance writes the delivery's new state (runBase: the attempts before
// its current run) and, when there is a next attempt, inserts its job.
func (s *Store) advance(ctx context.Context, tx *sql.Tx, id string, next nextStep, out actions.Outcome, runBase int, now time.Time) error {
	lastError := out.Error
	if out.Status == actions.Delivered {
		lastError = ""
	}
	var nextAt sql.NullInt64
	if !next.at.IsZero() {
		jobID, err := s.insertJob(ctx, tx, id, next.at, now)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery SET job_id = ? WHERE id = ?`), jobID, id); err != nil {
			return err
		}
		nextAt = sql.NullInt64{Int64: nanos(next.at), Valid: true}
	}
	// canceled_by is cleared: an attempt was made, so whatever canceled
	// the delivery while it was in flight did not stop it (startScheduled).
	_, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery
		SET status = ?, last_error = ?, next_attempt_at = ?, retry_requested = 0, run_base = ?, updated_at = ?, canceled_by = ''
		WHERE id = ?`), next.status, lastError, nextAt, runBase, nanos(now), id)
	return err
}

// logAttempt writes the one log line of an attempt: executors do not log,
// so that an attempt reads as one line with what it led to.
func (s *Store) logAttempt(ctx context.Context, log *slog.Logger, out actions.Outcome, next nextStep) {
	level := slog.LevelInfo
	msg := "attempt failed; retrying"
	switch next.status {
	case StatusDelivered:
		level, msg = slog.LevelDebug, "delivered"
	case StatusFailed:
		level, msg = slog.LevelWarn, "delivery failed for good"
	case StatusPending:
		msg = "attempt finished; retrying now as requested"
	case "":
		msg = "attempt of a superseded job recorded"
		if next.erased {
			msg = "attempt of a delivery erased meanwhile recorded; nothing follows"
		}
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("outcome", recordedOutcome(out, next)),
		slog.Int("status_code", out.StatusCode),
		slog.String("provider_id", out.ProviderID),
		slog.Duration("duration", out.Duration),
		slog.String("error", out.Error), // executors redact secrets from it
	}
	if next.erased {
		attrs[len(attrs)-1] = slog.String("error", erasedUnlessEmpty(out.Error))
	}
	if !next.at.IsZero() {
		attrs = append(attrs, slog.Time("next_attempt_at", next.at))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
}
