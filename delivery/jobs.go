package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// jobArgs is a River job: "make the next attempt of this delivery". The
// content lives in the delivery row, not in the job, so that there is one
// copy of it and the job table stays small.
type jobArgs struct {
	DeliveryID string `json:"delivery_id"`
}

func (jobArgs) Kind() string { return "hookline.delivery" }

type worker struct {
	river.WorkerDefaults[jobArgs]
	s *Store
}

func (w *worker) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	return w.s.work(ctx, job)
}

// jobAt is a delivery's attempt to queue, due at (on our clock).
type jobAt struct {
	id string
	at time.Time
}

// insertJob queues the attempt of delivery id due at (on our clock) and
// returns the job's ID.
func (s *Store) insertJob(ctx context.Context, tx *sql.Tx, id string, at, now time.Time) (int64, error) {
	ids, err := s.insertJobs(ctx, tx, []jobAt{{id: id, at: at}}, now)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// insertJobs queues jobs in one River insert and returns their job IDs,
// in order.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, jobs []jobAt, now time.Time) ([]int64, error) {
	due := &river.InsertOpts{MaxAttempts: riverMaxAttempts, Queue: queueName}
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		opts := due
		if j.at.After(now) {
			// River keeps time on our clock (riverClock) or on the wall
			// clock, which is then ours too.
			opts = &river.InsertOpts{MaxAttempts: riverMaxAttempts, Queue: queueName, ScheduledAt: j.at}
		}
		params[i] = river.InsertManyParams{Args: jobArgs{DeliveryID: j.id}, InsertOpts: opts}
	}
	res, err := s.client.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("queue delivery: %w", err)
	}
	out := make([]int64, len(res))
	for i, r := range res {
		out[i] = r.Job.ID
	}
	return out, nil
}

// Recording an attempt runs even when the attempt's own context was
// cancelled, so that a delivery that did reach its peer is recorded as
// delivered. It normally takes milliseconds; its bound follows
// AttemptTimeout between these limits, so that a short AttemptTimeout also
// shortens how long a crashed node's attempts wait for rescue.
const (
	minRecordTimeout = 5 * time.Second
	maxRecordTimeout = 30 * time.Second
	// rescueMargin separates the longest a live worker can hold a job
	// (River's job timeout) from the moment another node may take it
	// back: River's completer may still be writing a finished job's
	// state, and River compares attempted_at, written with the database's
	// clock, against the rescuing node's clock.
	rescueMargin = 10 * time.Second
)

func (s *Store) recordTimeout() time.Duration {
	return min(max(s.cfg.AttemptTimeout, minRecordTimeout), maxRecordTimeout)
}

// timeouts derives River's job timeout and rescue delay from
// AttemptTimeout. River cancels a job's context after the job timeout;
// ours bounds the attempt itself, so River's leaves room to record it. A
// job still running after the rescue delay belongs to a dead process and
// is run again (at least once). River's rescuer checks every 30 s (not
// configurable in v0.51) and the rescued job waits River's first retry
// backoff (about 1 s) plus up to one scheduler pass (5 s): with an
// AttemptTimeout of 2 s, a crashed node's attempts run again on another
// node 17 to 55 s after they started.
func (s *Store) timeouts() (job, rescue time.Duration) {
	job = s.cfg.AttemptTimeout + s.recordTimeout()
	return job, job + rescueMargin
}

// rescueOrphans makes jobs that a crashed process left running available
// again now, rather than after River's rescue delay (RescueStuckJobsAfter,
// minutes). Only valid when this process owns the database.
func (s *Store) rescueOrphans(ctx context.Context) error {
	exec := s.be.driver.GetExecutor()
	now := time.Now()
	horizon := now.Add(time.Millisecond) // everything attempted before now
	var after int64
	for {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 100, StuckHorizon: horizon})
		if err != nil {
			return fmt.Errorf("delivery: find orphaned jobs: %w", err)
		}
		if len(stuck) == 0 {
			return nil
		}
		p := &riverdriver.JobRescueManyParams{StuckHorizon: horizon}
		for _, j := range stuck {
			errData, err := json.Marshal(rivertype.AttemptError{
				At: now, Attempt: j.Attempt, Error: "orphaned by a process that stopped without finishing it",
			})
			if err != nil {
				return err
			}
			p.ID = append(p.ID, j.ID)
			p.Error = append(p.Error, errData)
			p.FinalizedAt = append(p.FinalizedAt, nil)
			p.ScheduledAt = append(p.ScheduledAt, now)
			p.State = append(p.State, string(rivertype.JobStateAvailable))
			after = j.ID
		}
		if _, err := exec.JobRescueMany(ctx, p); err != nil {
			return fmt.Errorf("delivery: rescue orphaned jobs: %w", err)
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "requeued attempts interrupted by a crash", slog.Int("jobs", len(stuck)))
	}
}

// availableNow inserts every job available, with its scheduled_at, which
// the fetch query respects: a retry or a scheduled delivery is then
// picked up within fetchPollInterval of its due time. River itself moves
// a "scheduled" job to "available" only in a maintenance pass every 5s
// (maintenance.JobSchedulerIntervalDefault, not settable), and does what
// we do for its own short retries and snoozes.
func availableNow(_ context.Context, p *rivertype.JobInsertParams) error {
	if p.State == rivertype.JobStateScheduled {
		p.State = rivertype.JobStateAvailable
	}
	return nil
}

// riverClock gives River the store's clock (Config.Now).
type riverClock struct{ now func() time.Time }

func (c riverClock) Now() time.Time { return c.now() }

func (c riverClock) NowOrNil() *time.Time {
	t := c.now()
	return &t
}
