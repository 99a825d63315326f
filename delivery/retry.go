package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Retry schedules a delivery again now, whatever its status: a delivered one
// is delivered again, a dead letter is attempted again. Either way it
// starts a fresh run of its retry policy, as Svix's resend does: the
// attempt Retry causes is the run's first, and the schedule and
// MaxAttempts apply again from it. Earlier attempts stay in the log and
// numbering continues. If an attempt is in flight, another follows it
// straight away, and the new run starts with that one.
func (s *Store) Retry(ctx context.Context, id string) error {
	var found bool
	err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
		found, err = s.requeue(ctx, tx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delivery: retry %s: %w", id, err)
	}
	if !found {
		return fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	return nil
}

// errErasedDelivery is requeue's answer for an erased delivery.
var errErasedDelivery = fmt.Errorf("its content was %w", ErrErased)

// retryBatch bounds how many deliveries one RetryMatching transaction
// requeues, so that the write lock is released regularly.
const retryBatch = 200

// RetryMatching retries every delivery matching f's Status, Trigger,
// EventID, Address, Since and Until (Limit and Cursor are ignored) and returns how
// many. An empty filter matches every delivery. Deliveries accepted while it
// runs are not included.
func (s *Store) RetryMatching(ctx context.Context, f Filter) (int, error) {
	page := Filter{Status: f.Status, Trigger: f.Trigger, EventID: f.EventID, Address: f.Address, Since: f.Since, Until: f.Until, Limit: retryBatch}
	total := 0
	for {
		// Each page is read outside the write transaction, which then
		// stays short. Requeued rows leave a status filter, but the cursor
		// is a position in (created_at, id), so no row is skipped.
		list, next, err := s.Deliveries(ctx, page)
		if err != nil {
			return total, err
		}
		retried := 0
		err = s.inTx(ctx, func(tx *sql.Tx) error {
			retried = 0
			for _, d := range list {
				if d.ErasedAt != nil {
					continue // nothing to send
				}
				if _, err := s.requeue(ctx, tx, d.ID); err != nil && !errors.Is(err, ErrErased) {
					return fmt.Errorf("%s: %w", d.ID, err)
				} else if err == nil {
					retried++
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("delivery: retry matching: %w", err)
		}
		total += retried
		if next == "" {
			return total, nil
		}
		page.Cursor = next
	}
}

// requeue marks delivery id pending and makes sure an attempt runs now. It
// reports false if there is no such delivery.
func (s *Store) requeue(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	now := s.cfg.Now()
	// Update first: on PostgreSQL the row lock serialises us with a worker
	// recording an attempt (see Store.finish).
	res, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery SET updated_at = ? WHERE id = ?`), nanos(now), id)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	var status Status
	var jobID, erasedAt int64
	if err := tx.QueryRowContext(ctx, s.sql(`SELECT status, job_id, erased_at FROM hookline_delivery WHERE id = ?`), id).
		Scan(&status, &jobID, &erasedAt); err != nil {
		return false, err
	}
	if erasedAt != 0 {
		return true, errErasedDelivery
	}
	requested := 0 // an INTEGER column: no bool binding across databases
	if jobID <= 0 && !status.Final() && s.direct != nil {
		// Its first attempt is held in memory or spilled (direct.go) and
		// will run: as for a running job, the worker sees the flag when it
		// records the attempt, and queues another.
		_, err = tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery
			SET status = ?, next_attempt_at = ?, retry_requested = 1 WHERE id = ?`), StatusPending, nanos(now), id)
		return true, err
	}
	job, err := s.client.JobGetTx(ctx, tx, jobID)
	switch {
	case errors.Is(err, river.ErrNotFound):
		// River deletes finished jobs after a retention period.
		jobID = 0
	case err != nil:
		return false, err
	case job.State == rivertype.JobStateRunning && !status.Final():
		// An attempt is in flight and has not been recorded: the worker
		// will see the flag when it records it, and queue another.
		requested = 1
	case job.State == rivertype.JobStateRunning, job.FinalizedAt != nil:
		// Finished, or recorded as finished while River has yet to mark
		// its job so. Such a job is never revived: River is perhaps still
		// about to write its own completion of the run that finished it,
		// which would then land on the revived run. A new job has no such
		// history.
		jobID = 0
	default:
		// Waiting (scheduled, retryable, available): bring it forward.
		if _, err := s.client.JobRetryTx(ctx, tx, jobID); err != nil {
			return false, err
		}
	}
	if jobID == 0 {
		if jobID, err = s.insertJob(ctx, tx, id, now, now); err != nil {
			return false, err
		}
	}
	// A new run starts with the next attempt; when one is in flight,
	// finish moves the start past it (decide).
	_, err = tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery
		SET status = ?, next_attempt_at = ?, retry_requested = ?, job_id = ?, run_base = attempts WHERE id = ?`),
		StatusPending, nanos(now), requested, jobID, id)
	return true, err
}
