package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Schedule holds a delivery until Due: an action's schedule block, worked
// out by the engine when the event arrived. It is stored with the
// delivery, whose first attempt is a River job due then, on SQLite too, so
// a restart loses nothing and runs what came due while it was down.
type Schedule struct {
	Due time.Time
	// LateAfter, when positive, expires the delivery instead of sending
	// it if it could not start within this long of Due.
	LateAfter time.Duration
	// Note says how Due was worked out, for the run log.
	Note string
	// Correlation is the value a cancel_on event must give to cancel the
	// delivery while it waits; "" means nothing cancels it.
	Correlation string
}

// Cancel asks Accept to cancel the waiting deliveries of the action at
// Address whose Correlation is the same, in the transaction that accepts
// the event.
type Cancel struct {
	Address, Correlation string
}

// Gate says whether a scheduled delivery may still run when it falls due:
// "" lets it run, any other text cancels it with that reason ("the action
// was removed by a reload"). It is given the delivery's action address.
// The server asks its live rule set; nil lets everything run.
type Gate func(address string) string

const cancelWaitingSQL = `UPDATE hookline_delivery
	SET status = '` + string(StatusCanceled) + `', canceled_by = ?, updated_at = ?, next_attempt_at = NULL
	WHERE address = ? AND correlation = ? AND created_at <= ? AND status = '` + string(StatusScheduled) + `' AND correlation <> ''`

// cancelWaiting cancels the waiting deliveries that ev's Cancels name,
// accepted at or before at, on behalf of event eventID, and returns how
// many. status = 'scheduled' is a literal so that SQLite uses the partial
// index hookline_delivery_waiting (a parameter would not prove its WHERE).
func (s *Store) cancelWaiting(ctx context.Context, tx *sql.Tx, eventID string, cancels []Cancel, at time.Time) (int64, error) {
	var total int64
	for _, c := range cancels {
		if c.Correlation == "" {
			continue
		}
		res, err := tx.ExecContext(ctx, s.sql(cancelWaitingSQL), eventID, nanos(at), c.Address, c.Correlation, nanos(at))
		if err != nil {
			return total, fmt.Errorf("cancel waiting deliveries of %s: %w", c.Address, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// setScheduled writes the schedule columns of a delivery inserted in tx.
func (s *Store) setScheduled(ctx context.Context, tx *sql.Tx, id string, sc *Schedule) error {
	_, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery
		SET due_at = ?, late_after = ?, schedule_note = ?, correlation = ?, next_attempt_at = ? WHERE id = ?`),
		nanos(sc.Due), int64(sc.LateAfter), sc.Note, sc.Correlation, nanos(sc.Due), id)
	return err
}

// startScheduled is the first thing a worker does with a delivery still
// scheduled when its job runs: cancel it if the rules no longer have its
// action enabled, expire it if it is later than its late_after allows. It
// reports whether the attempt may go ahead. A delivery that goes ahead is
// not written here: the attempt's record moves it out of "scheduled"
// (finish), which saves a write transaction per delivery where the
// database has one writer. A cancelling event that arrives while its
// attempt is in flight finds it still scheduled and marks it canceled; the
// record then says what really happened (delivered, retrying, failed) and
// clears canceled_by, so nobody is told a sent message was not sent.
func (s *Store) startScheduled(ctx context.Context, id string, p *deliveryState) (bool, error) {
	now := s.cfg.Now()
	address := p.content.Address
	var status Status
	var canceledBy, lastError string // what the row says of its end
	reason := ""
	if s.cfg.Gate != nil {
		reason = s.cfg.Gate(address)
	}
	late := now.Sub(fromNanos(p.dueAt))
	switch {
	case reason != "":
		status, canceledBy = StatusCanceled, reason
	case p.lateAfter > 0 && late > time.Duration(p.lateAfter):
		reason = fmt.Sprintf("due at %s, it could not start within its late_after of %s", fromNanos(p.dueAt).Format(time.RFC3339), time.Duration(p.lateAfter))
		status, lastError = StatusExpired, reason
	default:
		if s.cfg.DueLag != nil {
			s.cfg.DueLag(max(late, 0))
		}
		return true, nil
	}
	var changed bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Only from scheduled: an event, a hand or an erasure may have
		// canceled it since the job was fetched.
		res, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery SET status = ?, canceled_by = ?, last_error = ?, updated_at = ?, next_attempt_at = NULL
			WHERE id = ? AND status = '`+string(StatusScheduled)+`'`),
			status, canceledBy, lastError, nanos(now), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("end scheduled delivery %s: %w", id, err)
	}
	if changed {
		log := s.log.With(slog.String("event_id", p.eventID), slog.String("delivery_id", id), slog.String("action", address))
		if status == StatusCanceled {
			log.LogAttrs(ctx, slog.LevelInfo, "scheduled delivery canceled when due", slog.String("reason", reason))
		} else {
			log.LogAttrs(ctx, slog.LevelWarn, "scheduled delivery expired", slog.String("reason", reason))
		}
	}
	return false, nil
}

// ErrNotWaiting is wrapped by Cancel's error for a delivery that is not
// waiting: it has run, is running, or is about to. A *NotWaitingError
// says its status.
var ErrNotWaiting = errors.New("not waiting")

// NotWaitingError is Cancel's error for a delivery that is not waiting.
type NotWaitingError struct{ Status Status }

func (e *NotWaitingError) Error() string { return "it is " + string(e.Status) }

func (e *NotWaitingError) Unwrap() error { return ErrNotWaiting }

// Cancel cancels a delivery that is waiting, for its due time (scheduled)
// or for its next retry (retrying), by hand. Its job, when it comes, finds
// it canceled and does nothing. A canceled delivery can be run again with
// Retry.
func (s *Store) Cancel(ctx context.Context, id string) error {
	now := s.cfg.Now()
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery
			SET status = ?, canceled_by = 'by hand', updated_at = ?, next_attempt_at = NULL
			WHERE id = ? AND status IN (?, ?) AND retry_requested = 0`),
			StatusCanceled, nanos(now), id, StatusScheduled, StatusRetrying)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var st Status
		err = tx.QueryRowContext(ctx, s.sql(`SELECT status FROM hookline_delivery WHERE id = ?`), id).Scan(&st)
		if err == sql.ErrNoRows {
			return fmt.Errorf("delivery %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return &NotWaitingError{Status: st}
	})
	if err != nil {
		return fmt.Errorf("delivery: cancel: %w", err)
	}
	return nil
}
