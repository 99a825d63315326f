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

// insertJob queues the attempt of delivery id due at (on our clock) and
// returns the job's ID.
func (s *Store) insertJob(ctx context.Context, tx *sql.Tx, id string, at, now time.Time) (int64, error) {
	ids, err := s.insertJobs(ctx, tx, []string{id}, at, now)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, ids []string, at, now time.Time) ([]int64, error) {
	opts := &river.InsertOpts{MaxAttempts: riverMaxAttempts, Queue: queueName}
	if wait := at.Sub(now); wait > 0 {
		// River keeps time on the wall clock; ours may be a test's.
		opts.ScheduledAt = time.Now().Add(wait)
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: jobArgs{DeliveryID: id}, InsertOpts: opts}
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

// availableSoon makes a job due within the scheduler's interval available
// straight away (see schedulerInterval).
func availableSoon(_ context.Context, p *rivertype.JobInsertParams) error {
	if p.State == rivertype.JobStateScheduled && p.ScheduledAt != nil && time.Until(*p.ScheduledAt) <= schedulerInterval {
		p.State = rivertype.JobStateAvailable
	}
	return nil
}
