package delivery

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"strings"
)

// bulkInsert is a multi-row INSERT prepared once per row count, for
// power-of-two counts only: a batch of n rows runs as at most log2(n)+1
// statements, none of which is parsed again (SQLite's parser was a fifth of
// Accept's time before). On PostgreSQL pgx caches statements per
// connection anyway; database/sql prepares these on each connection that
// uses them.
type bulkInsert struct {
	cols  int
	stmts []*sql.Stmt // stmts[k] inserts 1<<k rows
}

// Bulk inserts of Accept. deliveryCols values per delivery row: job_id
// last; attempts, last_error and retry_requested start as constants.
const (
	eventCols    = 6
	deliveryCols = 18
	// maxBulkRows is the largest statement's row count; it keeps every
	// statement far under SQLite's (32766) and PostgreSQL's (65535) limits
	// on placeholders.
	maxBulkRows = 256
)

func (s *Store) prepareInserts(ctx context.Context) error {
	var err error
	s.eventInsert, err = s.prepareBulk(ctx, `INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw) VALUES `,
		eventCols, ``, ` ON CONFLICT (source, ce_id) DO NOTHING RETURNING id`)
	if err != nil {
		return err
	}
	s.deliveryInsert, err = s.prepareBulk(ctx, `INSERT INTO hookline_delivery
		(id, event_id, seq, address, trigger_name, type, name, status, created_at, updated_at,
		 next_attempt_at, content, retry_schedule, max_attempts, spill_seq, traceparent, tracestate, job_id,
		 attempts, last_error, retry_requested) VALUES `,
		deliveryCols, `, 0, '', 0`, ``)
	if err != nil {
		return err
	}
	s.identifierInsert, err = s.prepareBulk(ctx, `INSERT INTO hookline_identifier (hash, event_id) VALUES `,
		identifierCols, ``, ``)
	return err
}

// prepareBulk prepares head + "(?, ..., ?" + extra + "), ..." + tail for
// 1, 2, 4, ... maxBulkRows rows of cols placeholders.
func (s *Store) prepareBulk(ctx context.Context, head string, cols int, extra, tail string) (*bulkInsert, error) {
	b := &bulkInsert{cols: cols}
	row := "(?" + strings.Repeat(", ?", cols-1) + extra + ")"
	for n := 1; n <= maxBulkRows; n *= 2 {
		q := head + row + strings.Repeat(", "+row, n-1) + tail
		st, err := s.db.PrepareContext(ctx, s.sql(q))
		if err != nil {
			return nil, errors.Join(err, b.close())
		}
		b.stmts = append(b.stmts, st)
	}
	return b, nil
}

func (b *bulkInsert) close() error {
	if b == nil {
		return nil
	}
	var errs []error
	for _, st := range b.stmts {
		errs = append(errs, st.Close())
	}
	return errors.Join(errs...)
}

// run inserts args (cols values per row) in tx. With scan, every returned
// row is passed to it.
func (b *bulkInsert) run(ctx context.Context, tx *sql.Tx, args []any, scan func(*sql.Rows) error) error {
	for len(args) > 0 {
		k := min(bits.Len(uint(len(args)/b.cols))-1, len(b.stmts)-1) // the largest count that fits
		chunk := args[:b.cols<<k]
		args = args[len(chunk):]
		st := tx.StmtContext(ctx, b.stmts[k])
		if scan == nil {
			if _, err := st.ExecContext(ctx, chunk...); err != nil {
				return err
			}
			continue
		}
		rows, err := st.QueryContext(ctx, chunk...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
	}
	return nil
}
