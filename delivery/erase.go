package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// Erasure of one person's data. Erase finds the events that carry an
// identifier through the erasure index (identifiers.go), or takes one
// event by its ID, and in each of them replaces what may hold personal
// data with a marker, keeping IDs, times and statuses: the event's body
// (hookline_event.raw), its deliveries' rendered content and last error,
// and their attempts' error and response excerpts. Deliveries that have
// not run yet (pending, retrying) become canceled, and nothing sends them:
// River's worker reads the status before each attempt (worker.go), a
// first attempt held in memory checks it once an erasure has happened
// (direct.go), and an attempt in flight meanwhile is recorded with its
// excerpts erased and leads nowhere (finish). The erased events' index
// rows are deleted with them. Each erasure leaves an audit row: what was
// erased and when, by IDs and statuses, never the data nor the identifier
// asked for.
//
// An erasure covers the events stored when it runs. The same event sent
// again afterwards is a duplicate (its source and id are kept) and is not
// stored again; a new event about the person is.

// Markers that replace erased data. The event and the content stay JSON,
// which readers of those columns expect.
const (
	erasedText    = "(erased)"
	erasedEvent   = `{"erased":true}`
	erasedContent = `{"erased":true,"fields":{}}`
)

// eraseBatch bounds the events one erasure transaction handles, so that
// the write lock is released regularly however many events a person has.
const eraseBatch = 100

// checkpointTimeout bounds the checkpoint after an erasure, which holds
// the writer (SQLite): the log is at most a few megabytes between
// automatic checkpoints, written back in milliseconds, but readers of
// older snapshots make it wait (busy_timeout).
const checkpointTimeout = 30 * time.Second

// ErrErased is wrapped by Retry's error for a delivery whose content was
// erased: nothing is left to send.
var ErrErased = errors.New("erased")

// EraseRequest says whose data to erase: the events carrying Identifier
// (a key as NewEvent.Identifiers holds them), or the event EventID.
type EraseRequest struct {
	Kind       string // recorded in the audit row: "email", "phone" or "event"
	Identifier string
	EventID    string // the ID the store gave the event ("evt_...")
}

// Erasure is the audit row of one erasure.
type Erasure struct {
	ID          string
	Kind        string
	RequestedAt time.Time
	// FinishedAt is zero while it runs, or when it was interrupted: the
	// events it lists were erased, others may remain (ask again).
	FinishedAt time.Time
	// What it touched: events erased, their deliveries, those canceled
	// among them, and their attempts.
	Events, Deliveries, Canceled, Attempts int
	// Erased lists the events, oldest ID first (ErasureDetail only).
	Erased []ErasedEvent
}

// ErasedEvent is an event an erasure erased.
type ErasedEvent struct {
	EventID    string           `json:"event_id"`
	ReceivedAt time.Time        `json:"received_at"`
	Deliveries []ErasedDelivery `json:"deliveries"`
}

// canceledByErasure is the canceled_by of a delivery an erasure canceled
// before it ran.
const canceledByErasure = "erased before it ran"

// ErasedDelivery is a delivery of an erased event, with its status after
// the erasure.
type ErasedDelivery struct {
	ID       string `json:"id"`
	Status   Status `json:"status"`
	Canceled bool   `json:"canceled,omitempty"` // it had not run yet, and will not
}

// Erase erases the data of the events req names and returns the audit row
// it left. An unknown EventID is ErrNotFound; an event erased before is
// not counted again. Concurrent erasures and intake are safe.
func (s *Store) Erase(ctx context.Context, req EraseRequest) (Erasure, error) {
	if (req.Identifier == "") == (req.EventID == "") {
		return Erasure{}, errors.New("delivery: erase: name an identifier or an event")
	}
	now := s.cfg.Now()
	e := Erasure{ID: newID("ers_", now), Kind: req.Kind, RequestedAt: now}
	var hash []byte
	if req.Identifier != "" {
		hash = s.identifierHash(req.Identifier)
	}
	after := "" // the index is read in event ID order, from after here
	for first := true; ; first = false {
		done := false
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			ids, err := s.erasureTargets(ctx, tx, hash, req.EventID, after)
			if err != nil {
				return err
			}
			if req.EventID != "" {
				if err := s.eventExists(ctx, tx, req.EventID); err != nil {
					return err
				}
			}
			done = req.EventID != "" || len(ids) < eraseBatch
			if len(ids) > 0 {
				after = ids[len(ids)-1]
			}
			if err := s.eraseEvents(ctx, tx, &e, ids); err != nil {
				return err
			}
			if done {
				e.FinishedAt = s.cfg.Now()
			}
			return s.writeAudit(ctx, tx, &e, first)
		})
		if err != nil {
			return Erasure{}, fmt.Errorf("delivery: erase: %w", err)
		}
		// Committed: first attempts held in memory check their delivery
		// again before they run (direct.go).
		s.direct.noteErasure()
		if done {
			break
		}
	}
	s.afterErasure(ctx)
	s.log.LogAttrs(ctx, slog.LevelInfo, "personal data erased", slog.String("erasure_id", e.ID), slog.String("kind", e.Kind),
		slog.Int("events", e.Events), slog.Int("deliveries", e.Deliveries), slog.Int("canceled", e.Canceled), slog.Int("attempts", e.Attempts))
	return e, nil
}

// afterErasure makes what the erasure overwrote leave the database's files
// where the backend can (SQLite: the WAL written back and truncated; with
// secure_delete the freed space is zeroed already). The data is erased
// whatever happens here, so a failure is only logged.
func (s *Store) afterErasure(ctx context.Context) {
	if s.be.checkpoint == nil {
		return
	}
	// The erasure has committed: a caller that gives up now must not
	// leave its pages in the log.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), checkpointTimeout)
	defer cancel()
	if err := s.be.checkpoint(ctx, s.db); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "after an erasure the write-ahead log could not be truncated; its old pages are overwritten as it is reused",
			slog.String("error", err.Error()))
	}
}

// erasureTargets returns the next batch of events to erase: those the
// index lists under hash after event ID after, or the event eventID.
func (s *Store) erasureTargets(ctx context.Context, tx *sql.Tx, hash []byte, eventID, after string) ([]string, error) {
	if eventID != "" {
		return []string{eventID}, nil
	}
	return column[string](ctx, tx, s.sql(`SELECT event_id FROM hookline_identifier WHERE hash = ? AND event_id > ?
		ORDER BY event_id LIMIT ?`), hash, after, eraseBatch)
}

func (s *Store) eventExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, s.sql(`SELECT 1 FROM hookline_event WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	return err
}

// eraseEvents erases the events ids (at most maxInList) not erased yet,
// with their deliveries and attempts, and adds them to e.
func (s *Store) eraseEvents(ctx context.Context, tx *sql.Tx, e *Erasure, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	now := nanos(s.cfg.Now())
	// Events first, with their delivery rows after them: PostgreSQL then
	// takes the delivery row locks in the statement that changes them,
	// after which a worker recording an attempt of one (finish) waits for
	// this transaction and sees it erased, or has committed and its
	// attempt is erased by the statement below, which reads anew.
	rows, err := tx.QueryContext(ctx, s.sql(`UPDATE hookline_event SET raw = ?, erased_at = ?
		WHERE id IN (`+placeholders(len(ids))+`) AND erased_at = 0 RETURNING id, received_at`),
		append([]any{erasedEvent, now}, anySlice(ids)...)...)
	if err != nil {
		return fmt.Errorf("erase events: %w", err)
	}
	var events []ErasedEvent
	byID := map[string]int{}
	for rows.Next() {
		var ev ErasedEvent
		var received int64
		if err := rows.Scan(&ev.EventID, &received); err != nil {
			rows.Close()
			return fmt.Errorf("erase events: %w", err)
		}
		ev.ReceivedAt, ev.Deliveries = fromNanos(received), []ErasedDelivery{}
		byID[ev.EventID] = len(events)
		events = append(events, ev)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("erase events: %w", err)
	}
	if len(events) == 0 {
		return s.deleteIdentifiers(ctx, tx, ids) // erased before; the rows are stale
	}
	erased := make([]any, len(events))
	for i, ev := range events {
		erased[i] = ev.EventID
	}
	in := `(` + placeholders(len(erased)) + `)`

	// Every SET expression reads the row as it was, so canceled_by says
	// which deliveries this erasure canceled (others may have been
	// canceled before, by an event or by hand).
	rows, err = tx.QueryContext(ctx, s.sql(`UPDATE hookline_delivery SET
			status = CASE WHEN status IN (?, ?, ?) THEN ? ELSE status END,
			canceled_by = CASE WHEN status IN (?, ?, ?) THEN ? ELSE canceled_by END,
			next_attempt_at = CASE WHEN status IN (?, ?, ?) THEN NULL ELSE next_attempt_at END,
			content = ?, last_error = CASE WHEN last_error = '' THEN '' ELSE ? END,
			retry_requested = 0, erased_at = ?, updated_at = ?
		WHERE event_id IN `+in+` RETURNING id, event_id, status, job_id, canceled_by`),
		append([]any{StatusPending, StatusRetrying, StatusScheduled, StatusCanceled,
			StatusPending, StatusRetrying, StatusScheduled, canceledByErasure,
			StatusPending, StatusRetrying, StatusScheduled,
			erasedContent, erasedText, now, now}, erased...)...)
	if err != nil {
		return fmt.Errorf("erase deliveries: %w", err)
	}
	var jobs []int64
	for rows.Next() {
		var d ErasedDelivery
		var eventID string
		var job int64
		var canceledBy string
		if err := rows.Scan(&d.ID, &eventID, &d.Status, &job, &canceledBy); err != nil {
			rows.Close()
			return fmt.Errorf("erase deliveries: %w", err)
		}
		// An event is erased once, so this erasure canceled it.
		d.Canceled = d.Status == StatusCanceled && canceledBy == canceledByErasure
		if d.Canceled {
			e.Canceled++
		}
		if job > 0 {
			jobs = append(jobs, job)
		}
		ev := &events[byID[eventID]]
		ev.Deliveries = append(ev.Deliveries, d)
		e.Deliveries++
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("erase deliveries: %w", err)
	}

	res, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_attempt SET
			error = CASE WHEN error = '' THEN '' ELSE ? END,
			response = CASE WHEN response = '' THEN '' ELSE ? END
		WHERE delivery_id IN (SELECT id FROM hookline_delivery WHERE event_id IN `+in+`)`),
		append([]any{erasedText, erasedText}, erased...)...)
	if err != nil {
		return fmt.Errorf("erase attempts: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("erase attempts: %w", err)
	}
	e.Attempts += int(n)

	if len(jobs) > 0 {
		// Waiting jobs would find their delivery canceled and do nothing;
		// deleting them spares the queue. Running ones are left to finish
		// (and locked ones on PostgreSQL skipped): their record is erased.
		if _, err := s.client.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().IDs(jobs...).First(len(jobs))); err != nil {
			return fmt.Errorf("erase deliveries: delete their jobs: %w", err)
		}
	}
	if err := s.deleteIdentifiers(ctx, tx, ids); err != nil {
		return err
	}
	e.Events += len(events)
	for _, ev := range events {
		ds, err := json.Marshal(ev.Deliveries)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_erased_event (erasure_id, event_id, received_at, deliveries)
			VALUES (?, ?, ?, ?)`), e.ID, ev.EventID, nanos(ev.ReceivedAt), string(ds)); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// writeAudit inserts e's audit row (first) or updates its counts.
func (s *Store) writeAudit(ctx context.Context, tx *sql.Tx, e *Erasure, first bool) error {
	var finished int64
	if !e.FinishedAt.IsZero() {
		finished = nanos(e.FinishedAt)
	}
	var err error
	if first {
		_, err = tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_erasure
			(id, kind, requested_at, finished_at, events, deliveries, attempts, canceled) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
			e.ID, e.Kind, nanos(e.RequestedAt), finished, e.Events, e.Deliveries, e.Attempts, e.Canceled)
	} else {
		_, err = tx.ExecContext(ctx, s.sql(`UPDATE hookline_erasure
			SET finished_at = ?, events = ?, deliveries = ?, attempts = ?, canceled = ? WHERE id = ?`),
			finished, e.Events, e.Deliveries, e.Attempts, e.Canceled, e.ID)
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

const erasureColumns = `id, kind, requested_at, finished_at, events, deliveries, attempts, canceled`

func scanErasure(r scanner) (Erasure, error) {
	var e Erasure
	var requested, finished int64
	if err := r.Scan(&e.ID, &e.Kind, &requested, &finished, &e.Events, &e.Deliveries, &e.Attempts, &e.Canceled); err != nil {
		return Erasure{}, err
	}
	e.RequestedAt = fromNanos(requested)
	if finished != 0 {
		e.FinishedAt = fromNanos(finished)
	}
	return e, nil
}

// Erasures lists the audit rows, newest first, at most limit (DefaultLimit
// when 0, MaxLimit at most).
func (s *Store) Erasures(ctx context.Context, limit int) ([]Erasure, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	rows, err := s.rdb.QueryContext(ctx, s.sql(`SELECT `+erasureColumns+` FROM hookline_erasure
		ORDER BY requested_at DESC, id DESC LIMIT ?`), min(limit, MaxLimit))
	if err != nil {
		return nil, fmt.Errorf("delivery: erasures: %w", err)
	}
	defer rows.Close()
	out := []Erasure{}
	for rows.Next() {
		e, err := scanErasure(rows)
		if err != nil {
			return nil, fmt.Errorf("delivery: erasures: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: erasures: %w", err)
	}
	return out, nil
}

// ErasureDetail returns one audit row with the events it erased.
func (s *Store) ErasureDetail(ctx context.Context, id string) (*Erasure, error) {
	tx, err := s.rdb.BeginTx(ctx, snapshot())
	if err != nil {
		return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
	}
	defer tx.Rollback()
	e, err := scanErasure(tx.QueryRowContext(ctx, s.sql(`SELECT `+erasureColumns+` FROM hookline_erasure WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("erasure %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, s.sql(`SELECT event_id, received_at, deliveries FROM hookline_erased_event
		WHERE erasure_id = ? ORDER BY event_id`), id)
	if err != nil {
		return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
	}
	defer rows.Close()
	e.Erased = []ErasedEvent{}
	for rows.Next() {
		var ev ErasedEvent
		var received int64
		var ds string
		if err := rows.Scan(&ev.EventID, &received, &ds); err != nil {
			return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
		}
		ev.ReceivedAt = fromNanos(received)
		if err := json.Unmarshal([]byte(ds), &ev.Deliveries); err != nil {
			return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
		}
		e.Erased = append(e.Erased, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: erasure %s: %w", id, err)
	}
	return &e, nil
}
