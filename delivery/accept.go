package delivery

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookline/hookline/actions"
)

// NewEvent is an event to accept together with the deliveries it fired.
type NewEvent struct {
	Source, CEID, Type string // CloudEvents source, id, type; (Source, CEID) is the idempotency key
	Raw                []byte // the event as structured JSON, stored as is
	Deliveries         []NewDelivery
}

// NewDelivery is one fired action.
type NewDelivery struct {
	// Delivery is the rendered content. The store gives its copy a fresh ID
	// (the caller's value is not modified) before storing it, so every
	// attempt signs with the same webhook-id.
	Delivery *actions.Delivery
	Retry    RetryPolicy
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
}

// Accept stores the event, one delivery per NewDelivery and one queued job
// per delivery in one transaction, and returns once it has committed: an
// accepted event is never half-scheduled. If (Source, CEID) was accepted
// before, it returns that receipt with Duplicate set and stores nothing;
// concurrent duplicates are settled by a unique index.
func (s *Store) Accept(ctx context.Context, ev NewEvent) (Receipt, error) {
	if ev.Source == "" || ev.CEID == "" {
		return Receipt{}, errors.New("delivery: event needs a source and an id")
	}
	if !json.Valid(ev.Raw) {
		return Receipt{}, errors.New("delivery: event is not valid JSON")
	}
	now := s.cfg.Now()
	rows := make([]deliveryRow, len(ev.Deliveries))
	for i, nd := range ev.Deliveries {
		r, err := newDeliveryRow(nd, now)
		if err != nil {
			return Receipt{}, fmt.Errorf("delivery: action %d: %w", i, err)
		}
		rows[i] = r
	}

	rc := Receipt{EventID: newID("evt_", now), Deliveries: make([]Ref, len(rows))}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, ce_id) DO NOTHING`),
			rc.EventID, ev.Source, ev.CEID, ev.Type, nanos(now), string(ev.Raw))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			// On PostgreSQL the conflicting insert has committed by now (ON
			// CONFLICT waits for it), so this statement sees it.
			rc, err = s.receipt(ctx, tx, ev.Source, ev.CEID)
			rc.Duplicate = true
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		ids := make([]string, len(rows))
		for i, r := range rows {
			ids[i] = r.id
		}
		jobIDs, err := s.insertJobs(ctx, tx, ids, now, now)
		if err != nil {
			return err
		}
		for i, r := range rows {
			if _, err := tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_delivery
				(id, event_id, seq, address, trigger_name, type, name, status, attempts, created_at, updated_at,
				 next_attempt_at, last_error, content, retry_schedule, max_attempts, job_id, retry_requested)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, '', ?, ?, ?, ?, 0)`),
				r.id, rc.EventID, i, r.d.Address, r.d.Trigger, r.d.Type, r.d.Name, StatusPending, nanos(now), nanos(now),
				nanos(now), r.content, encodeSchedule(r.retry.Schedule), r.retry.MaxAttempts, jobIDs[i]); err != nil {
				return err
			}
			rc.Deliveries[i] = Ref{ID: r.id, Address: r.d.Address}
		}
		return nil
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("delivery: accept event: %w", err)
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "event accepted", slog.String("event_id", rc.EventID),
		slog.Int("deliveries", len(rc.Deliveries)), slog.Bool("duplicate", rc.Duplicate))
	return rc, nil
}

// deliveryRow is a NewDelivery prepared outside the transaction, so that
// the write lock is held only for the writes.
type deliveryRow struct {
	id      string
	d       *actions.Delivery
	content string
	retry   RetryPolicy
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
	content, err := json.Marshal(&d)
	if err != nil {
		return deliveryRow{}, err
	}
	return deliveryRow{id: d.ID, d: &d, content: string(content), retry: retry}, nil
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
