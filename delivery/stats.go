package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The queries here serve the console's overview and triggers pages. Each
// reads one status at a time in its range of the status index (status,
// created_at, id), or of one action's in the address index (address,
// status, created_at, id), so its cost follows the deliveries of the
// period asked about, never the whole table; statuses are literals for the
// reason given at undeliveredCounts.

// countsSince counts each status among deliveries created since a time.
var countsSince = func() string {
	q := "SELECT "
	for i, st := range allStatuses {
		if i > 0 {
			q += ", "
		}
		q += fmt.Sprintf("(SELECT COUNT(*) FROM hookline_delivery WHERE status = '%s' AND created_at >= ?)", st)
	}
	return q
}()

// Statuses returns every status in the order a person reads them:
// waiting, then done.
func Statuses() []Status { return slices.Clone(allStatuses) }

var allStatuses = []Status{StatusScheduled, StatusPending, StatusRetrying, StatusDelivered, StatusFailed, StatusCanceled, StatusExpired}

// CountsSince is how many deliveries created at or after since are in
// each status now, every status present.
func (s *Store) CountsSince(ctx context.Context, since time.Time) (map[Status]int, error) {
	args := make([]any, len(allStatuses))
	dst := make([]any, len(allStatuses))
	n := make([]int, len(allStatuses))
	for i := range allStatuses {
		args[i], dst[i] = nanos(since), &n[i]
	}
	if err := s.rdb.QueryRowContext(ctx, s.sql(countsSince), args...).Scan(dst...); err != nil {
		return nil, fmt.Errorf("delivery: counts since %s: %w", since.Format(time.RFC3339), err)
	}
	out := make(map[Status]int, len(allStatuses))
	for i, st := range allStatuses {
		out[st] = n[i]
	}
	return out, nil
}

// Bucket is one step of Activity: the deliveries created in it that were
// delivered and that failed for good, by their status now.
type Bucket struct {
	Start             time.Time
	Delivered, Failed int
}

// Activity splits [since, until) into steps and counts, in each, the
// deliveries created then that are now delivered and failed.
func (s *Store) Activity(ctx context.Context, since, until time.Time, step time.Duration) ([]Bucket, error) {
	if step <= 0 || !until.After(since) {
		return nil, fmt.Errorf("delivery: activity: an empty period")
	}
	n := int((until.Sub(since) + step - 1) / step)
	out := make([]Bucket, n)
	for i := range out {
		out[i].Start = since.Add(time.Duration(i) * step)
	}
	for _, st := range []Status{StatusDelivered, StatusFailed} {
		rows, err := s.rdb.QueryContext(ctx, s.sql(fmt.Sprintf(`SELECT (created_at - ?) / ?, COUNT(*) FROM hookline_delivery
			WHERE status = '%s' AND created_at >= ? AND created_at < ? GROUP BY 1`, st)),
			nanos(since), int64(step), nanos(since), nanos(until))
		if err != nil {
			return nil, fmt.Errorf("delivery: activity: %w", err)
		}
		for rows.Next() {
			var i int64
			var c int
			if err := rows.Scan(&i, &c); err != nil {
				rows.Close()
				return nil, fmt.Errorf("delivery: activity: %w", err)
			}
			if i < 0 || i >= int64(n) {
				continue
			}
			if st == StatusDelivered {
				out[i].Delivered = c
			} else {
				out[i].Failed = c
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("delivery: activity: %w", err)
		}
	}
	return out, nil
}

// actionCounts counts, per address, the deliveries delivered and failed
// since a time, each an ordered range of the address index (address,
// status, created_at, id), so that neither the table nor another status is
// read. The addresses come from the same index (addressScan); the whole
// statement is one snapshot.
var actionCounts = addressScan + `SELECT address,
		(SELECT COUNT(*) FROM hookline_delivery WHERE address = a.address` + statusIs(StatusDelivered, true) + ` AND created_at >= ?),
		(SELECT COUNT(*) FROM hookline_delivery WHERE address = a.address` + statusIs(StatusFailed, true) + ` AND created_at >= ?)
	FROM a WHERE address IS NOT NULL`

// ActionCounts is, per action address, how many deliveries created at or
// after since are now delivered and failed; an address with neither is
// left out.
func (s *Store) ActionCounts(ctx context.Context, since time.Time) (map[string]map[Status]int, error) {
	out := map[string]map[Status]int{}
	rows, err := s.rdb.QueryContext(ctx, s.sql(actionCounts), nanos(since), nanos(since))
	if err != nil {
		return nil, fmt.Errorf("delivery: counts by action: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var addr string
		var delivered, failed int
		if err := rows.Scan(&addr, &delivered, &failed); err != nil {
			return nil, fmt.Errorf("delivery: counts by action: %w", err)
		}
		if delivered+failed == 0 {
			continue
		}
		out[addr] = map[Status]int{}
		if delivered > 0 {
			out[addr][StatusDelivered] = delivered
		}
		if failed > 0 {
			out[addr][StatusFailed] = failed
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery: counts by action: %w", err)
	}
	return out, nil
}

// CountMatching counts the deliveries Filter f selects (Limit and Cursor
// ignored), up to max: it stops there rather than count a large table, and
// reports whether there are more.
func (s *Store) CountMatching(ctx context.Context, f Filter, max int) (n int, more bool, err error) {
	f.Cursor, f.Limit = "", 0
	fs, err := s.filterSQL(ctx, f)
	if err != nil || fs.noMatch {
		return 0, false, err
	}
	q, args := countQuery(fs, f, max+1)
	err = s.rdb.QueryRowContext(ctx, s.sql(q), args...).Scan(&n)
	if err != nil {
		return 0, false, fmt.Errorf("delivery: count: %w", err)
	}
	if n > max {
		return max, true, nil
	}
	return n, false, nil
}

// countQuery counts what fs selects (f's filter, built by filterSQL), up to
// limit, each part of it a range of an index.
func countQuery(fs filterSQL, f Filter, limit int) (string, []any) {
	where, args := fs.where, fs.args
	if len(fs.addrs) > 0 {
		where += " AND address IN (?" + strings.Repeat(", ?", len(fs.addrs)-1) + ")"
		for _, a := range fs.addrs {
			args = append(args, a)
		}
	}
	var parts []string
	switch {
	case (f.Address != "" || len(fs.addrs) > 0) && f.Status == "":
		// An action's in every status: the address index holds all but
		// the pending ones, the status index those.
		parts = []string{where + notPending, where + statusIs(StatusPending, true)}
	case f.Status == "" && f.EventID == "":
		// Every delivery (since a time, say): a range of the status index
		// per status. The table is in no order a time bound could start a
		// scan at, and no index is in the order of creation alone
		// (migration 12).
		for _, st := range allStatuses {
			parts = append(parts, where+statusIs(st, false))
		}
	default:
		parts = []string{where}
	}
	all := make([]any, 0, (len(args)+1)*len(parts))
	for i, w := range parts {
		parts[i] = fmt.Sprintf(`(SELECT COUNT(*) FROM (SELECT 1 FROM hookline_delivery%s LIMIT ?) AS p%d)`, w, i)
		all = append(append(all, args...), limit)
	}
	return `SELECT ` + strings.Join(parts, " + "), all
}
