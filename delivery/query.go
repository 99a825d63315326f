package delivery

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
)

// Status is where a delivery stands.
type Status string

const (
	StatusPending   Status = "pending"   // waiting for its first attempt, or for a retry asked by hand
	StatusRetrying  Status = "retrying"  // an attempt failed; another is scheduled
	StatusDelivered Status = "delivered" // the peer accepted it
	StatusFailed    Status = "failed"    // dead letter: permanent failure or attempts exhausted
	StatusScheduled Status = "scheduled" // waiting for its due time (an action's schedule)
	StatusCanceled  Status = "canceled"  // canceled before it ran: by an event, by hand, by a reload, or erased (Erase)
	StatusExpired   Status = "expired"   // could not start within its schedule's late_after
)

// Final says nothing more happens to a delivery in this status unless it
// is retried by hand.
func (s Status) Final() bool {
	return s == StatusDelivered || s == StatusFailed || s == StatusCanceled || s == StatusExpired
}

func (s Status) valid() bool {
	switch s {
	case StatusPending, StatusRetrying, StatusDelivered, StatusFailed, StatusScheduled, StatusCanceled, StatusExpired:
		return true
	}
	return false
}

// Summary is a stored delivery without its content: its row in a list.
type Summary struct {
	ID, EventID, Address, Trigger, Type, Name string
	Status                                    Status
	Attempts                                  int
	CreatedAt                                 time.Time
	UpdatedAt                                 time.Time
	NextAttemptAt                             *time.Time // when pending/retrying
	LastError                                 string
	ErasedAt                                  *time.Time // when its content was erased (Erase)
	// DueAt is set for a delivery that waited (an action's schedule), with
	// ScheduleNote saying how it was worked out; CanceledBy says what
	// canceled one: an event id, "by hand", or a sentence from a reload.
	DueAt        *time.Time
	ScheduleNote string
	CanceledBy   string
}

// Attempt is one recorded attempt.
type Attempt struct {
	Number     int
	StartedAt  time.Time
	Outcome    string // "delivered", "retry", "permanent", or OutcomeFailed ("failed")
	StatusCode int
	Duration   time.Duration
	Error      string
	Response   string
	ProviderID string
}

// Detail is a delivery with its content, policy and attempts.
type Detail struct {
	Summary
	Content  *actions.Delivery // as stored (secrets are references only)
	Retry    RetryPolicy       // as resolved when accepted
	Attempts []Attempt         // oldest first
}

// Filter selects deliveries. Zero fields do not filter.
type Filter struct {
	Status, Trigger, EventID string
	// Address and Correlation select one action's deliveries, and those
	// whose schedule's correlate value is this one (the waiting
	// deliveries a cancel_on event would cancel).
	Address, Correlation string
	Since, Until         time.Time // on CreatedAt: Since <= CreatedAt < Until
	Limit                int       // default 50, max 500
	Cursor               string    // opaque, from the previous page
}

// Page sizes for Deliveries.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Event is an accepted event and its deliveries.
type Event struct {
	ID, Source, CEID, Type string
	ReceivedAt             time.Time
	Raw                    json.RawMessage // a marker once erased
	ErasedAt               *time.Time      // when its data was erased (Erase)
	Deliveries             []Summary
}

const summaryColumns = `id, event_id, address, trigger_name, type, name, status, attempts,
	created_at, updated_at, next_attempt_at, last_error, erased_at, due_at, schedule_note, canceled_by`

type scanner interface{ Scan(...any) error }

func scanSummary(r scanner, extra ...any) (Summary, error) {
	var d Summary
	var created, updated, erased, due int64
	var next sql.NullInt64
	err := r.Scan(append([]any{&d.ID, &d.EventID, &d.Address, &d.Trigger, &d.Type, &d.Name, &d.Status,
		&d.Attempts, &created, &updated, &next, &d.LastError, &erased, &due, &d.ScheduleNote, &d.CanceledBy}, extra...)...)
	if err != nil {
		return Summary{}, err
	}
	d.CreatedAt, d.UpdatedAt = fromNanos(created), fromNanos(updated)
	d.ErasedAt, d.DueAt = optNanos(erased), optNanos(due)
	if next.Valid {
		t := fromNanos(next.Int64)
		d.NextAttemptAt = &t
	}
	return d, nil
}

// Deliveries lists deliveries matching f, newest first, and returns the
// cursor of the next page ("" after the last one). Pages are cut on
// (CreatedAt, ID), so deliveries accepted while paging cannot shift them.
func (s *Store) Deliveries(ctx context.Context, f Filter) ([]Summary, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	fs, err := s.filterSQL(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if fs.noMatch {
		return []Summary{}, "", nil
	}
	where, args := fs.where, fs.args
	q := `SELECT ` + summaryColumns + ` FROM hookline_delivery` + where + ` ORDER BY created_at DESC, id DESC LIMIT ?`
	switch {
	case len(fs.addrs) > 0:
		// A trigger's, each of its actions' (in each status when none is
		// asked for), merged.
		q, args = merged(where, args, fs.addrs, f.Status == "", false, limit+1)
	case f.Status == "" && f.EventID == "":
		// An action's in every status (the address index), or every
		// delivery (the status index): no index holds them in the order
		// of creation alone (migration 12).
		q, args = byStatuses(where, args, f.Address != "", limit+1)
	default:
		// In one status (the status or address index), or one event's,
		// a few rows the event index finds and the database sorts.
		args = append(args, limit+1)
	}
	rows, err := s.rdb.QueryContext(ctx, s.sql(q), args...)
	if err != nil {
		return nil, "", fmt.Errorf("delivery: list: %w", err)
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		d, err := scanSummary(rows)
		if err != nil {
			return nil, "", fmt.Errorf("delivery: list: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("delivery: list: %w", err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	last := out[limit-1]
	return out, encodeCursor(last.CreatedAt, last.ID), nil
}

// byStatuses is the page of the deliveries where selects in every status,
// an action's when addressed (where names the address): the address index
// (address, status, created_at, id), or else the status index (status,
// created_at, id, address), holds them in order within each status, so
// each status's newest n are an ordered range, and the page is the newest
// n of those. Read as one range with the statuses together, the rows
// would come out of order, and the planner would sort every delivery the
// action ever had, or walk the whole table looking for them: no index is
// in the order of creation alone (migration 12).
func byStatuses(where string, args []any, addressed bool, n int) (string, []any) {
	return merged(where, args, []string{""}, true, addressed, n)
}

// merged is the newest n of the ranges of an index for each of addrs (""
// for the deliveries where selects, an action's when addressed) and, if
// eachStatus, each status: every range an ordered read of at most n
// entries, only the page's rows read from the table.
func merged(where string, args []any, addrs []string, eachStatus, addressed bool, n int) (string, []any) {
	statuses := []Status{""}
	if eachStatus {
		statuses = allStatuses
	}
	parts := make([]string, 0, len(addrs)*len(statuses))
	all := make([]any, 0, (len(args)+2)*cap(parts)+1)
	for _, a := range addrs {
		for _, st := range statuses {
			cond := ""
			if a != "" {
				cond += " AND address = ?"
			}
			if st != "" {
				cond += statusIs(st, a != "" || addressed)
			}
			parts = append(parts, fmt.Sprintf(`SELECT * FROM (SELECT created_at, id FROM hookline_delivery%s%s
				ORDER BY created_at DESC, id DESC LIMIT ?) AS r%d`, where, cond, len(parts)))
			all = append(all, args...)
			if a != "" {
				all = append(all, a)
			}
			all = append(all, n)
		}
	}
	// The ranges give keys only (the index holds them); the page's rows
	// are read by ID.
	return `SELECT ` + summaryColumns + ` FROM hookline_delivery WHERE id IN (SELECT id FROM (` +
		strings.Join(parts, " UNION ALL ") + `) AS k ORDER BY created_at DESC, id DESC LIMIT ?)
		ORDER BY created_at DESC, id DESC`, append(all, n)
}

// notPending is the condition of the address index (migration 11), which
// a query must state in these words for SQLite to use the index: it
// does not infer it from "status = 'delivered'".
const notPending = ` AND status <> '` + string(StatusPending) + `'`

// statusIs is the condition "status = st", st a valid status, written
// as a literal so that the planner knows which it is, with notPending
// when the address is given too and st is not pending: then the address
// index serves, else the status index, which holds the address.
func statusIs(st Status, addressed bool) string {
	c := " AND status = '" + string(st) + "'"
	if addressed && st != StatusPending {
		c += notPending
	}
	return c
}

// triggerAddresses lists the actions of trigger that have deliveries (an
// action's address is TRIGGER.TYPE.NAME: rules.Load makes it so), from
// the address index (one seek per action of every trigger; see
// actionAddresses), compared in Go rather than as a range of the index,
// whose order on PostgreSQL follows the database's collation.
func (s *Store) triggerAddresses(ctx context.Context, trigger string) ([]string, error) {
	all, err := column[string](ctx, s.rdb, actionAddresses)
	return slices.DeleteFunc(all, func(a string) bool {
		t, _, ok := strings.Cut(a, ".")
		return !ok || t != trigger
	}), err
}

// addressScan names a(address) every address with deliveries other than
// pending ones (and a last row of NULL), one seek of the address index
// each: a loose index scan, which neither database does by itself for
// DISTINCT.
const addressScan = `WITH RECURSIVE a(address) AS (
		SELECT MIN(address) FROM hookline_delivery WHERE TRUE` + notPending + `
		UNION ALL
		SELECT (SELECT MIN(address) FROM hookline_delivery WHERE address > a.address` + notPending + `) FROM a WHERE a.address IS NOT NULL)
	`

// actionAddresses is every address with deliveries: those of the address
// index, and those of the pending ones, which the status index holds.
const actionAddresses = addressScan + `SELECT address FROM a WHERE address IS NOT NULL
	UNION SELECT address FROM hookline_delivery WHERE status = '` + string(StatusPending) + `'`

// filterSQL is a filter as the indexes read it.
type filterSQL struct {
	where string // " WHERE ...", never empty
	args  []any
	// addrs, for a trigger's deliveries (no address given), are its
	// actions' addresses, which select them through the address index (an
	// address is TRIGGER.TYPE.NAME: rules.Load makes it so): no index
	// holds the trigger, whose condition is then left out of where.
	// noMatch: the trigger has no deliveries.
	addrs   []string
	noMatch bool
}

// filterSQL builds f's condition, f checked before anything is read.
func (s *Store) filterSQL(ctx context.Context, f Filter) (filterSQL, error) {
	byTrigger := f.Trigger != "" && f.Address == ""
	trigger := f.Trigger
	if byTrigger {
		f.Trigger = ""
	}
	where, args, err := whereFilter(f, byTrigger)
	if err != nil || !byTrigger {
		return filterSQL{where: where, args: args}, err
	}
	addrs, err := s.triggerAddresses(ctx, trigger)
	if err != nil {
		return filterSQL{}, fmt.Errorf("delivery: actions of trigger %q: %w", trigger, err)
	}
	return filterSQL{where: where, args: args, addrs: addrs, noMatch: len(addrs) == 0}, nil
}

// whereFilter builds the WHERE clause for f, cursor included; addressed
// says the query names the addresses itself (a trigger's actions').
func whereFilter(f Filter, addressed bool) (string, []any, error) {
	var conds []string
	var args []any
	if f.Status != "" {
		if !Status(f.Status).valid() {
			return "", nil, fmt.Errorf("%w: unknown status %q", ErrInvalidFilter, f.Status)
		}
		// A literal, checked above: see statusIs.
		conds = append(conds, strings.TrimPrefix(statusIs(Status(f.Status), addressed || f.Address != ""), " AND "))
	}
	if f.Trigger != "" {
		conds, args = append(conds, "trigger_name = ?"), append(args, f.Trigger)
	}
	if f.EventID != "" {
		conds, args = append(conds, "event_id = ?"), append(args, f.EventID)
	}
	if f.Address != "" {
		conds, args = append(conds, "address = ?"), append(args, f.Address)
	}
	if f.Correlation != "" {
		conds, args = append(conds, "correlation = ?"), append(args, f.Correlation)
	}
	if !f.Since.IsZero() {
		conds, args = append(conds, "created_at >= ?"), append(args, nanos(f.Since))
	}
	if !f.Until.IsZero() {
		conds, args = append(conds, "created_at < ?"), append(args, nanos(f.Until))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		conds = append(conds, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, at, at, id)
	}
	if len(conds) == 0 {
		conds = []string{"TRUE"}
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// A cursor is the sort key of the last row of a page. It is opaque to
// callers so that its form can change.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(nanos(at), 10) + "/" + id))
}

func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		at, id, ok := strings.Cut(string(b), "/")
		if n, perr := strconv.ParseInt(at, 10, 64); ok && perr == nil && id != "" {
			return n, id, nil
		}
	}
	return 0, "", fmt.Errorf("%w: malformed cursor", ErrInvalidFilter)
}

// Delivery returns one delivery with its content and attempts.
func (s *Store) Delivery(ctx context.Context, id string) (*Detail, error) {
	tx, err := s.rdb.BeginTx(ctx, snapshot()) // one snapshot for both queries
	if err != nil {
		return nil, fmt.Errorf("delivery: get %s: %w", id, err)
	}
	defer tx.Rollback()
	var det Detail
	var content, sched string
	det.Summary, err = scanSummary(tx.QueryRowContext(ctx, s.sql(`SELECT `+summaryColumns+`, content, retry_schedule, max_attempts
		FROM hookline_delivery WHERE id = ?`), id), &content, &sched, &det.Retry.MaxAttempts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("delivery %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: get %s: %w", id, err)
	}
	if det.Retry.Schedule, err = decodeSchedule(sched); err != nil {
		return nil, fmt.Errorf("delivery: get %s: %w", id, err)
	}
	det.Content = new(actions.Delivery)
	if err := det.Content.UnmarshalString(content); err != nil {
		return nil, fmt.Errorf("delivery: get %s: content: %w", id, err)
	}
	rows, err := tx.QueryContext(ctx, s.sql(`SELECT number, started_at, outcome, status_code, duration, error, response, provider_id
		FROM hookline_attempt WHERE delivery_id = ? ORDER BY number`), id)
	if err != nil {
		return nil, fmt.Errorf("delivery: get %s: attempts: %w", id, err)
	}
	defer rows.Close()
	det.Attempts = []Attempt{}
	for rows.Next() {
		var a Attempt
		var started, dur int64
		if err := rows.Scan(&a.Number, &started, &a.Outcome, &a.StatusCode, &dur, &a.Error, &a.Response, &a.ProviderID); err != nil {
			return nil, fmt.Errorf("delivery: get %s: attempts: %w", id, err)
		}
		a.StartedAt, a.Duration = fromNanos(started), time.Duration(dur)
		det.Attempts = append(det.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: get %s: attempts: %w", id, err)
	}
	return &det, nil
}

// Event returns an event by the ID the store gave it, with its deliveries
// in the order they fired.
func (s *Store) Event(ctx context.Context, id string) (*Event, error) {
	tx, err := s.rdb.BeginTx(ctx, snapshot())
	if err != nil {
		return nil, fmt.Errorf("delivery: event %s: %w", id, err)
	}
	defer tx.Rollback()
	var ev Event
	var received, erased int64
	var raw string
	err = tx.QueryRowContext(ctx, s.sql(`SELECT id, source, ce_id, type, received_at, raw, erased_at FROM hookline_event WHERE id = ?`), id).
		Scan(&ev.ID, &ev.Source, &ev.CEID, &ev.Type, &received, &raw, &erased)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("event %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: event %s: %w", id, err)
	}
	ev.ReceivedAt, ev.Raw, ev.ErasedAt = fromNanos(received), json.RawMessage(raw), optNanos(erased)
	rows, err := tx.QueryContext(ctx, s.sql(`SELECT `+summaryColumns+` FROM hookline_delivery WHERE event_id = ? ORDER BY seq`), id)
	if err != nil {
		return nil, fmt.Errorf("delivery: event %s: %w", id, err)
	}
	defer rows.Close()
	ev.Deliveries = []Summary{}
	for rows.Next() {
		d, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("delivery: event %s: %w", id, err)
		}
		ev.Deliveries = append(ev.Deliveries, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: event %s: %w", id, err)
	}
	return &ev, nil
}

// Counts returns how many deliveries are in each status, every status
// present (zero included) but canceled, present when some are.
func (s *Store) Counts(ctx context.Context) (map[Status]int, error) {
	out := map[Status]int{StatusPending: 0, StatusRetrying: 0, StatusDelivered: 0, StatusFailed: 0,
		StatusScheduled: 0, StatusCanceled: 0, StatusExpired: 0}
	rows, err := s.rdb.QueryContext(ctx, `SELECT status, COUNT(*) FROM hookline_delivery GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("delivery: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("delivery: counts: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: counts: %w", err)
	}
	return out, nil
}

// undeliveredCounts counts each status but delivered in its own range of
// the status index (status, created_at, id), which holds the status, so
// no table row is read. The statuses are literals rather than parameters:
// PostgreSQL may settle on a generic plan for a repeated prepared
// statement, and for "status = $1" that plan expects a quarter of the
// table and scans all of it.
var undeliveredCounts = fmt.Sprintf(`SELECT
	(SELECT COUNT(*) FROM hookline_delivery WHERE status = '%s'),
	(SELECT COUNT(*) FROM hookline_delivery WHERE status = '%s'),
	(SELECT COUNT(*) FROM hookline_delivery WHERE status = '%s'),
	(SELECT COUNT(*) FROM hookline_delivery WHERE status = '%s')`,
	StatusPending, StatusRetrying, StatusFailed, StatusScheduled)

// UndeliveredCounts is how many deliveries are pending, retrying, failed
// and scheduled, each present (zero included), read in
// one query at one moment. Its cost follows those deliveries alone, while
// Counts reads every row, and delivered ones make up most of a store that
// has run for a while.
func (s *Store) UndeliveredCounts(ctx context.Context) (map[Status]int, error) {
	var pending, retrying, failed, scheduled int
	if err := s.rdb.QueryRowContext(ctx, undeliveredCounts).Scan(&pending, &retrying, &failed, &scheduled); err != nil {
		return nil, fmt.Errorf("delivery: undelivered counts: %w", err)
	}
	return map[Status]int{StatusPending: pending, StatusRetrying: retrying, StatusFailed: failed, StatusScheduled: scheduled}, nil
}

// snapshot makes a transaction's queries read one moment. PostgreSQL's
// default, READ COMMITTED, takes a snapshot per statement, which let a
// delivery's status and its attempt log disagree when an attempt was
// recorded between the two; a SQLite read transaction is one snapshot
// already (the driver ignores the level).
func snapshot() *sql.TxOptions {
	return &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}
}
