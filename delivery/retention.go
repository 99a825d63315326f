package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// Retention: removing old events with their deliveries and attempts, by
// hand (Purge) or on a schedule (purgejob.go). An event goes only whole,
// and only once nothing can happen to it any more: it was received before
// the cutoff, and every delivery of it is final (finalStatuses) and last
// changed before the cutoff. A delivery still pending, retrying or
// scheduled keeps its event and the event's other deliveries, and so does
// one that was retried by hand after the cutoff.
//
// Intake must never wait long for a purge: events go a batch at a time,
// each batch in a transaction of its own, followed by a pause twice as
// long as the batch took, so that a purge holds the writer at most about a
// third of the time. A batch's size follows how long the last one took (nextBatch):
// about purgeTarget, short on SQLite, where intake waits for the one
// writer meanwhile, longer on PostgreSQL, where it does not (the rows are
// not intake's) and each transaction costs round trips.

// Batch sizes, in events.
const (
	// purgeBatchSize is the largest batch.
	purgeBatchSize = 500
	// purgeFirstBatch is where a purge starts, growing from there as
	// batches prove quick: a purge never starts with a long transaction.
	purgeFirstBatch = 16
)

// Batch duration targets (see nextBatch).
const (
	purgeTargetSingleWriter = time.Millisecond
	purgeTargetShared       = 20 * time.Millisecond
)

// purgeTarget is how long a purge batch should take on this database.
func (s *Store) purgeTarget() time.Duration {
	if s.be.singleWriter {
		return purgeTargetSingleWriter
	}
	return purgeTargetShared
}

// nextBatch is the size of the batch after one of n events that took
// took: half when it took longer than target, twice when it took less than
// half of it, between 1 and largest.
func nextBatch(n int, took, target time.Duration, largest int) int {
	switch {
	case took > target:
		return max(n/2, 1)
	case took < target/2:
		return min(n*2, largest)
	}
	return n
}

// PurgeResult counts the rows a purge removed.
type PurgeResult struct {
	Events, Deliveries, Attempts int64
}

func (r *PurgeResult) add(o PurgeResult) {
	r.Events += o.Events
	r.Deliveries += o.Deliveries
	r.Attempts += o.Attempts
}

// removedCounts are the rows this store removed since it opened.
type removedCounts struct{ events, deliveries, attempts atomic.Int64 }

func (c *removedCounts) add(r PurgeResult) {
	c.events.Add(r.Events)
	c.deliveries.Add(r.Deliveries)
	c.attempts.Add(r.Attempts)
}

// Removed counts the events, deliveries and attempts this store removed
// since it opened, by retention and by Purge, for metrics.
func (s *Store) Removed() PurgeResult {
	return PurgeResult{s.removed.events.Load(), s.removed.deliveries.Load(), s.removed.attempts.Load()}
}

// Size is the database's size on disk in bytes: on SQLite the file and its
// WAL, on PostgreSQL the tables of the store's schema with their indexes.
func (s *Store) Size(ctx context.Context) (int64, error) { return s.be.size(ctx) }

// finalStatuses are the statuses of a delivery nothing more will happen to
// unless it is retried by hand: what retention may remove. Status.final
// says the same (TestFinalStatuses).
var finalStatuses = []Status{StatusDelivered, StatusFailed, StatusCanceled, StatusExpired}

// Purge removes the events received before before whose deliveries are all
// final and last changed before it, with those deliveries and their
// attempts, a batch of events per transaction, and returns what it
// removed. When ctx ends it stops after the batch in progress; what it
// removed until then stays removed, and is counted.
func (s *Store) Purge(ctx context.Context, before time.Time) (PurgeResult, error) {
	res, _, err := s.purge(ctx, before, time.Time{})
	if err != nil {
		return res, fmt.Errorf("delivery: purge: %w", err)
	}
	return res, nil
}

// purge is Purge that also stops once deadline has passed (unless zero) or
// the store is stopping, reporting done = false then.
func (s *Store) purge(ctx context.Context, before, deadline time.Time) (total PurgeResult, done bool, err error) {
	cutoff := nanos(before)
	after := purgeCursor{at: math.MinInt64}
	n, target := min(purgeFirstBatch, s.purgeBatch), s.purgeTarget()
	for {
		ids, last, err := s.purgeCandidates(ctx, cutoff, after, n)
		if err != nil {
			return total, false, err
		}
		if len(ids) == 0 {
			return total, true, s.reclaimRest(ctx, total)
		}
		started := time.Now()
		res, err := s.purgeEvents(ctx, ids, n, cutoff)
		s.removed.add(res)
		total.add(res)
		if err != nil {
			return total, false, err
		}
		took := time.Since(started)
		if len(ids) < n {
			return total, true, s.reclaimRest(ctx, total)
		}
		after = last
		if s.stopping.Load() || (!deadline.IsZero() && time.Now().After(deadline)) {
			return total, false, nil
		}
		n = nextBatch(n, took, target, s.purgeBatch)
		if err := sleep(ctx, purgePause(took)); err != nil {
			return total, false, err
		}
	}
}

// reclaimRest gives the pages a purge freed back to the file system
// (SQLite), once the purge is done, a step at a time with pauses after
// the steps, as batches have. Not after each batch: intake reuses pages
// freed meanwhile, which would be moved for nothing. The steps are bounded
// by the pages free at the start, since other writes free pages too.
func (s *Store) reclaimRest(ctx context.Context, removed PurgeResult) error {
	if s.be.reclaim == nil || removed.Events == 0 {
		return nil
	}
	started := time.Now()
	left, err := s.be.reclaim(ctx)
	for steps := left/reclaimPages + 1; err == nil && left > 0 && steps > 0 && !s.stopping.Load(); steps-- {
		if err = sleep(ctx, purgePause(time.Since(started))); err == nil {
			started = time.Now()
			left, err = s.be.reclaim(ctx)
		}
	}
	return err
}

// purgePause is the pause after a batch that took took: twice as long, so
// that a purge holds the writer at most a third of the time, intake and
// attempts taking it in between. As long again (half the time) let intake
// p99 rise by 1.8x under a purge on SQLite; twice, by 1.3x, the purge
// taking half as long again (bench/README.md).
func purgePause(took time.Duration) time.Duration { return 2 * took }

// purgeCursor is a position in the events' (received_at, id) order.
type purgeCursor struct {
	at int64
	id string
}

// purgeCandidates reads the next batch of events received before cutoff,
// after the cursor, in the (received_at, id) index alone (a row value
// comparison, which both databases search the index with, where the
// equivalent OR only bounds it on one side). Which of them may
// go is decided in the write transaction (purgeEvents). Those that may not
// are passed for the rest of this purge, so each is read once per purge.
func (s *Store) purgeCandidates(ctx context.Context, cutoff int64, after purgeCursor, n int) ([]any, purgeCursor, error) {
	rows, err := s.rdb.QueryContext(ctx, s.sql(`SELECT id, received_at FROM hookline_event
		WHERE received_at < ? AND (received_at, id) > (?, ?)
		ORDER BY received_at, id LIMIT ?`), cutoff, after.at, after.id, n)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		if err := rows.Scan(&after.id, &after.at); err != nil {
			return nil, after, err
		}
		ids = append(ids, after.id)
	}
	return ids, after, rows.Err()
}

// purgeEvents removes, in one transaction, the events of ids (a batch of
// at most n) that may go (see the top of this file) with their deliveries
// and attempts.
func (s *Store) purgeEvents(ctx context.Context, ids []any, n int, cutoff int64) (PurgeResult, error) {
	var res PurgeResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res = PurgeResult{}
		in, args := inList(ids, n)
		if s.be.lockRows != "" {
			// PostgreSQL: lock the events, then their deliveries, before
			// deciding, so that a retry, an attempt's record, a cancel or
			// an erasure cannot change one between the decision and the
			// deletes (each takes its row locks first). Events before
			// deliveries, as Erase takes them; deliveries in
			// RetryMatching's order, whose transactions lock several too:
			// lockers taking rows in one order cannot deadlock.
			for _, q := range []string{
				`SELECT id FROM hookline_event WHERE id IN (` + in + `) ORDER BY id`,
				`SELECT id FROM hookline_delivery WHERE event_id IN (` + in + `) ORDER BY created_at DESC, id DESC`,
			} {
				if err := drain(tx.QueryContext(ctx, s.sql(q+s.be.lockRows), args...)); err != nil {
					return err
				}
			}
		}
		gone, err := s.purgeable(ctx, tx, in, args, cutoff)
		if err != nil || len(gone) == 0 {
			return err
		}
		// The erasure index's rows of these events (identifiers.go) go
		// too: nothing else refers to them.
		if err := s.deleteIdentifiers(ctx, tx, stringsOf(gone)); err != nil {
			return err
		}
		in, args = inList(gone, n)
		for _, step := range []struct {
			q string
			n *int64
		}{
			{`DELETE FROM hookline_attempt WHERE delivery_id IN (SELECT id FROM hookline_delivery WHERE event_id IN (` + in + `))`, &res.Attempts},
			{`DELETE FROM hookline_delivery WHERE event_id IN (` + in + `)`, &res.Deliveries},
			{`DELETE FROM hookline_event WHERE id IN (` + in + `)`, &res.Events},
		} {
			r, err := tx.ExecContext(ctx, s.sql(step.q), args...)
			if err != nil {
				return err
			}
			if *step.n, err = r.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return PurgeResult{}, err
	}
	return res, nil
}

// purgeable returns the events of an IN list (placeholders in, values
// args) that may go: no delivery of theirs is unfinished, or changed at or
// after cutoff.
func (s *Store) purgeable(ctx context.Context, tx *sql.Tx, in string, args []any, cutoff int64) ([]any, error) {
	final := make([]string, len(finalStatuses))
	for i, st := range finalStatuses {
		final[i] = "'" + string(st) + "'"
	}
	// The statuses are literals, as in undeliveredCounts.
	gone, err := column[string](ctx, tx, s.sql(`SELECT id FROM hookline_event e WHERE id IN (`+in+`)
		AND NOT EXISTS (SELECT 1 FROM hookline_delivery d WHERE d.event_id = e.id
			AND (d.status NOT IN (`+strings.Join(final, ", ")+`) OR d.updated_at >= ?))`),
		append(args[:len(args):len(args)], cutoff)...)
	if err != nil {
		return nil, err
	}
	return anySlice(gone), nil
}

// inList returns the placeholders and values of an IN list of ids, padded
// with copies of the last id up to the batch size n: batches of one size
// then run the same statement texts, which SQLite's statement cache (and
// PostgreSQL's) keeps prepared, instead of one per count. Repeating a
// member leaves a set unchanged.
func inList(ids []any, n int) (string, []any) {
	n = max(n, len(ids))
	args := make([]any, n)
	copy(args, ids)
	for i := len(ids); i < n; i++ {
		args[i] = ids[len(ids)-1]
	}
	return "?" + strings.Repeat(", ?", n-1), args
}

// stringsOf returns the strings vs holds.
func stringsOf(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.(string)
	}
	return out
}

// drain reads a query's rows to the end and closes them.
func drain(rows *sql.Rows, err error) error {
	if err != nil {
		return err
	}
	for rows.Next() {
	}
	return errors.Join(rows.Err(), rows.Close())
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
