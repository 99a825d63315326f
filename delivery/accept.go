package delivery

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/internal/tracing"
)

// NewEvent is an event to accept together with the deliveries it fired.
type NewEvent struct {
	Source, CEID, Type string // CloudEvents source, id, type; (Source, CEID) is the idempotency key
	Raw                []byte // the event as structured JSON, stored as is
	Deliveries         []NewDelivery
	// Identifiers are the personal identifiers the event carries, as the
	// keys Erase is asked for (internal/pii: "email:ann@example.com",
	// "phone:+15550100123"). They are stored as keyed hashes, never as
	// given (identifiers.go).
	Identifiers []string
	// Cancels names waiting deliveries this event cancels (schedules'
	// cancel_on), canceled in the transaction that accepts it.
	Cancels []Cancel
	// Trace is the span context of the span that accepted the event, if
	// any: stored with each delivery, it is the parent of every attempt's
	// span (trace.go).
	Trace trace.SpanContext
}

// NewDelivery is one fired action.
type NewDelivery struct {
	// Delivery is the rendered content. The store gives its copy a fresh ID
	// (the caller's value is not modified) before storing it, so every
	// attempt signs with the same webhook-id.
	Delivery *actions.Delivery
	Retry    RetryPolicy
	// Schedule, when set, holds the delivery until its due time.
	Schedule *Schedule
}

// Ref names one delivery in a Receipt.
type Ref struct {
	ID      string `json:"id"`
	Address string `json:"address"`
}

// Receipt is the answer to an accepted event.
type Receipt struct {
	EventID    string `json:"id"`
	Deliveries []Ref  `json:"deliveries"`
	Duplicate  bool   `json:"-"` // the same (Source, CEID) was accepted before: this is the original receipt, nothing new stored
	// Canceled is how many waiting deliveries the event canceled.
	Canceled int64 `json:"canceled,omitempty"`
}

// Accept stores the event, one delivery per NewDelivery and one queued job
// per delivery (on SQLite, a first attempt held in memory or spilled
// instead: see direct.go), and returns once they have committed: an
// accepted event is never half-scheduled. Concurrent calls share
// transactions (group commit, see committer); an event that fails its
// batch is retried alone, so it fails alone. If (Source, CEID) was accepted before, or by a concurrent
// call, it returns that receipt with Duplicate set and stores nothing.
func (s *Store) Accept(ctx context.Context, ev NewEvent) (Receipt, error) {
	if ev.Source == "" || ev.CEID == "" {
		return Receipt{}, fmt.Errorf("delivery: %w: it needs a source and an id", ErrInvalidEvent)
	}
	if !json.Valid(ev.Raw) {
		return Receipt{}, fmt.Errorf("delivery: %w: it is not valid JSON", ErrInvalidEvent)
	}
	// PostgreSQL's text rejects these and SQLite's takes them: refuse them
	// on both, so that an event is accepted or not whatever the store.
	// The body is checked as bytes, without a copy of it per event.
	invalid := !utf8.Valid(ev.Raw) || bytes.IndexByte(ev.Raw, 0) >= 0
	for _, v := range []string{ev.Source, ev.CEID, ev.Type} {
		invalid = invalid || !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0
	}
	if invalid {
		return Receipt{}, fmt.Errorf("delivery: %w: it holds invalid UTF-8 or a NUL character", ErrInvalidEvent)
	}
	c := s.commits
	c.untaken.Add(1) // from here a filling batch may wait for us
	now := s.cfg.Now()
	r := &acceptReq{ev: ev, now: now, rows: make([]deliveryRow, len(ev.Deliveries)), trace: encodeTrace(ev.Trace), done: make(chan struct{})}
	r.fresh = Receipt{EventID: newID("evt_", now), Deliveries: make([]Ref, len(ev.Deliveries))}
	r.hashes = s.identifierHashes(ev.Identifiers)
	for i, nd := range ev.Deliveries {
		row, err := newDeliveryRow(nd, now)
		if err != nil {
			c.untaken.Add(-1)
			return Receipt{}, fmt.Errorf("delivery: action %d: %w", i, err)
		}
		r.rows[i] = row
		r.fresh.Deliveries[i] = Ref{ID: row.id, Address: row.d.Address}
	}
	// Room in memory for the first attempts is claimed before the commit,
	// so that handing them over after it cannot block. Scheduled
	// deliveries wait in River instead, never in memory.
	inMemory := immediate(r.rows)
	r.direct = s.direct.reserve(inMemory)
	if r.direct {
		r.mark = s.direct.mark()
	}
	erasures := s.direct.erasureCount() // before the commit: see direct.erased
	if err := c.submit(ctx, r); err != nil {
		if r.direct {
			s.direct.release(inMemory)
		}
		return Receipt{}, fmt.Errorf("delivery: accept event: %w", err)
	}
	switch {
	case r.direct && r.out.Duplicate:
		s.direct.release(inMemory)
	case r.direct:
		for _, row := range r.rows {
			if row.sched == nil {
				s.direct.push(directJob{id: row.id, eventID: r.out.EventID, d: row.d, job: r.mark, retry: row.retry, erasures: erasures, trace: r.trace})
			}
		}
	case s.direct.spills() && !r.out.Duplicate && inMemory > 0:
		s.direct.spilled.Add(int64(inMemory))
		s.direct.signal()
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		tracing.WithTraceID(ctx, s.log).LogAttrs(ctx, slog.LevelDebug, "event accepted", slog.String("event_id", r.out.EventID),
			slog.Int("deliveries", len(r.out.Deliveries)), slog.Bool("duplicate", r.out.Duplicate))
	}
	return r.out, nil
}

// writeEvents writes the events of reqs (distinct idempotency keys), their
// deliveries and jobs in tx, and sets outs[i] to reqs[i]'s receipt.
func (s *Store) writeEvents(ctx context.Context, tx *sql.Tx, reqs []*acceptReq, outs []Receipt) error {
	// One order, (source, id): concurrent batches on PostgreSQL then wait
	// for each other's unique-index entries in the same order and cannot
	// deadlock.
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(reqs[a].ev.Source, reqs[b].ev.Source), strings.Compare(reqs[a].ev.CEID, reqs[b].ev.CEID))
	})
	inserted, err := s.insertEvents(ctx, tx, reqs, order)
	if err != nil {
		return err
	}
	var jobs []jobAt // deliveries queued in River
	var jobRow []int // their rows' positions in dels
	var dels []any   // delivery rows' values, deliveryCols each; job_id last
	var idents []any // erasure index rows' values, identifierCols each
	var waits []scheduledRow
	now := s.cfg.Now()
	for _, i := range order {
		r := reqs[i]
		if !inserted[r.fresh.EventID] {
			// On PostgreSQL the conflicting insert has committed by now (ON
			// CONFLICT waits for it), so this statement sees it.
			rc, err := s.receipt(ctx, tx, r.ev.Source, r.ev.CEID)
			if err != nil {
				return err
			}
			// Our own ID: a previous try of this very event committed
			// though its commit reported an error. Not a duplicate.
			rc.Duplicate = rc.EventID != r.fresh.EventID
			outs[i] = rc
			continue
		}
		outs[i] = r.fresh
		for _, h := range r.hashes {
			idents = append(idents, h, r.fresh.EventID)
		}
		spilled := !r.direct && s.direct.spills()
		for seq, row := range r.rows {
			status, rowJob, spillSeq := StatusPending, int64(0), int64(0)
			switch {
			case row.sched != nil:
				// Its job is due when it is, on SQLite too.
				status = StatusScheduled
				waits = append(waits, scheduledRow{id: row.id, sched: row.sched})
				jobs = append(jobs, jobAt{id: row.id, at: row.sched.Due})
				jobRow = append(jobRow, len(dels)/deliveryCols)
			case r.direct:
				rowJob = r.mark
			case spilled:
				// Taken inside the transaction: with one writer, numbers
				// become visible in increasing order (spill.go).
				rowJob, spillSeq = jobSpilled, s.direct.seq.Add(1)
			default:
				jobs = append(jobs, jobAt{id: row.id, at: now})
				jobRow = append(jobRow, len(dels)/deliveryCols)
			}
			dels = append(dels, row.id, r.fresh.EventID, seq, row.d.Address, row.d.Trigger, row.d.Type, row.d.Name,
				status, nanos(r.now), nanos(r.now), nanos(r.now), row.content,
				encodeSchedule(row.retry.Schedule), row.retry.MaxAttempts, spillSeq, r.trace.parent, r.trace.state, rowJob)
		}
	}
	if len(jobs) > 0 {
		// All the batch's jobs in one River insert: one statement however many.
		jobIDs, err := s.insertJobs(ctx, tx, jobs, now)
		if err != nil {
			return err
		}
		for i, id := range jobIDs {
			dels[jobRow[i]*deliveryCols+deliveryCols-1] = id
		}
	}
	if len(idents) > 0 {
		if err := s.identifierInsert.run(ctx, tx, idents, nil); err != nil {
			return err
		}
	}
	if len(dels) > 0 {
		if err := s.deliveryInsert.run(ctx, tx, dels, nil); err != nil {
			return err
		}
	}
	for _, w := range waits {
		if err := s.setScheduled(ctx, tx, w.id, w.sched); err != nil {
			return err
		}
	}
	// After the inserts: an event cancels what was accepted before it,
	// in this batch too.
	for _, i := range order {
		r := reqs[i]
		if len(r.ev.Cancels) == 0 || !inserted[r.fresh.EventID] {
			continue
		}
		n, err := s.cancelWaiting(ctx, tx, r.fresh.EventID, r.ev.Cancels, r.now)
		if err != nil {
			return err
		}
		outs[i].Canceled = n
	}
	return nil
}

// scheduledRow is a delivery of a batch that waits: its schedule columns
// are written after the insert.
type scheduledRow struct {
	id    string
	sched *Schedule
}

// immediate counts the rows that run now, not on a schedule.
func immediate(rows []deliveryRow) int {
	n := 0
	for _, r := range rows {
		if r.sched == nil {
			n++
		}
	}
	return n
}

// insertEvents inserts the event rows of reqs, in order, skipping those
// whose (source, id) is already stored, and returns the IDs it inserted.
func (s *Store) insertEvents(ctx context.Context, tx *sql.Tx, reqs []*acceptReq, order []int) (map[string]bool, error) {
	args := make([]any, 0, len(reqs)*eventCols)
	for _, i := range order {
		r := reqs[i]
		args = append(args, r.fresh.EventID, r.ev.Source, r.ev.CEID, r.ev.Type, nanos(r.now), string(r.ev.Raw))
	}
	inserted := make(map[string]bool, len(reqs))
	err := s.eventInsert.run(ctx, tx, args, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		inserted[id] = true
		return nil
	})
	return inserted, err
}

// deliveryRow is a NewDelivery prepared outside the transaction, so that
// the write lock is held only for the writes.
type deliveryRow struct {
	id      string
	d       *actions.Delivery
	content string
	retry   RetryPolicy
	sched   *Schedule
}

func newDeliveryRow(nd NewDelivery, now time.Time) (deliveryRow, error) {
	if nd.Delivery == nil {
		return deliveryRow{}, errors.New("no content")
	}
	retry, err := nd.Retry.resolved()
	if err != nil {
		return deliveryRow{}, err
	}
	d := *nd.Delivery
	d.ID = newID("dlv_", now)
	d.Attempt = 0 // set per attempt
	// Text marshals as its parts, so secrets are stored as the names of
	// their variables, never as values.
	content := d.AppendJSON(make([]byte, 0, 1024))
	return deliveryRow{id: d.ID, d: &d, content: string(content), retry: retry, sched: nd.Schedule}, nil
}

// receipt rebuilds the receipt of an event accepted earlier.
func (s *Store) receipt(ctx context.Context, tx *sql.Tx, source, ceID string) (Receipt, error) {
	rc := Receipt{Deliveries: []Ref{}}
	if err := tx.QueryRowContext(ctx, s.sql(`SELECT id FROM hookline_event WHERE source = ? AND ce_id = ?`), source, ceID).
		Scan(&rc.EventID); err != nil {
		return Receipt{}, err
	}
	rows, err := tx.QueryContext(ctx, s.sql(`SELECT id, address FROM hookline_delivery WHERE event_id = ? ORDER BY seq`), rc.EventID)
	if err != nil {
		return Receipt{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Ref
		if err := rows.Scan(&r.ID, &r.Address); err != nil {
			return Receipt{}, err
		}
		rc.Deliveries = append(rc.Deliveries, r)
	}
	return rc, rows.Err()
}
