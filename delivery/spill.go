package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookline/hookline/actions"
)

// Reading spilled first attempts back into memory (see direct.go).
//
// Spilled rows are found by spill_seq, a number taken from a counter that
// only grows (direct.seq) inside the transaction that stores the row: one
// writer connection commits transactions one after another, so numbers
// become visible in increasing order, and a cursor (the highest number
// read so far) marks everything before it as taken. SQLite's rowid would
// not do: once rows are deleted it may give a new row a rowid at or below
// the cursor. The read runs on a reader connection, beside the writer, and
// needs no write: a row read back keeps job_id -1, which its attempt's
// record expects.

const (
	// feedBatch is the most rows one read takes; the feeder waits for this
	// much room (or for the whole backlog to fit) so reads stay few.
	feedBatch = 256
	// feedPoll bounds how long spilled rows wait if a wake-up was missed.
	feedPoll = 100 * time.Millisecond
	// feedRetryPause follows a failed read.
	feedRetryPause = time.Second
)

// signal wakes the feeder without blocking.
func (q *direct) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// feed reads spilled rows into memory as room frees up, until take ends.
func (q *direct) feed(take context.Context) {
	poll := time.NewTicker(feedPoll)
	defer poll.Stop()
	for {
		select {
		case <-take.Done():
			return
		case <-q.wake:
		case <-poll.C:
		}
		for {
			backlog := q.spilled.Load()
			room := int64(cap(q.queue)) - q.held.Load()
			if backlog <= 0 || room < min(feedBatch, backlog) {
				break
			}
			limit := int(min(room, feedBatch))
			if !q.reserve(limit) {
				break // Accept took the room meanwhile
			}
			n, err := q.load(take, limit)
			q.release(limit - n)
			if err != nil {
				if take.Err() != nil {
					return
				}
				q.s.log.LogAttrs(take, slog.LevelWarn, "reading spilled deliveries failed; trying again shortly",
					slog.String("error", err.Error()))
				// A failing database fails every read: one warning a
				// second, not one per poll.
				select {
				case <-take.Done():
					return
				case <-time.After(feedRetryPause):
				}
				break
			}
			if n == 0 {
				break // the rows counted are not committed yet
			}
		}
	}
}

// load reads up to limit spilled rows after the cursor into memory, for
// which room is reserved, and returns how many.
func (q *direct) load(ctx context.Context, limit int) (int, error) {
	s := q.s
	erasures := q.erasureCount() // before the read: see direct.erased
	tx, err := s.rdb.BeginTx(ctx, snapshot())
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	// status: rows spilled by an earlier process and run since keep job_id
	// -1; the cursor starts after them unless recover found older ones.
	// The spill index, named: left to itself SQLite prefers the status
	// index, which makes each read scan and sort every pending row. Its
	// condition, "spill_seq > 0", must be in the query for SQLite to use
	// it: the planner cannot tell that the cursor is never negative.
	rows, err := tx.QueryContext(ctx, `SELECT spill_seq, id, event_id, content, retry_schedule, max_attempts, traceparent, tracestate
		FROM hookline_delivery INDEXED BY hookline_delivery_spill
		WHERE spill_seq > ? AND spill_seq > 0 AND job_id = ? AND status = ? ORDER BY spill_seq LIMIT ?`,
		q.cursor, jobSpilled, StatusPending, limit)
	if err != nil {
		return 0, err
	}
	var jobs []directJob
	last := q.cursor
	for rows.Next() {
		var content, sched string
		j := directJob{d: new(actions.Delivery), job: jobSpilled, erasures: erasures}
		if err := rows.Scan(&last, &j.id, &j.eventID, &content, &sched, &j.retry.MaxAttempts, &j.trace.parent, &j.trace.state); err != nil {
			rows.Close()
			return 0, err
		}
		if err := j.d.UnmarshalString(content); err != nil {
			rows.Close()
			return 0, fmt.Errorf("delivery %s: content: %w", j.id, err)
		}
		if j.retry.Schedule, err = decodeSchedule(sched); err != nil {
			rows.Close()
			return 0, fmt.Errorf("delivery %s: %w", j.id, err)
		}
		jobs = append(jobs, j)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	if len(jobs) < limit {
		// Every spilled row of this snapshot was read: skip the rest of
		// it, so the next read starts after it.
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(spill_seq), 0) FROM hookline_delivery WHERE spill_seq > 0`).Scan(&last); err != nil {
			return 0, err
		}
	}
	q.cursor = last
	q.spilled.Add(-int64(len(jobs)))
	q.push(jobs...)
	return len(jobs), nil
}
