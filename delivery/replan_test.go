package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// The statement's text, which pgx prepares once per connection, changes
// exactly when the rows it has handled double, and only then.
func TestReplannedAsRowsDouble(t *testing.T) {
	var g growth
	const q = "SELECT 1"
	var changes []int64
	last := ""
	for range 100 {
		got := g.replanned(q, 3)
		if got != last {
			changes = append(changes, g.rows.Load())
			last = got
		}
	}
	// Rows after each call: 3, 6, 9, ...; a new text at the first total
	// of each power of two's range: 3 (2-3), 6 (4-7), 9 (8-15), 18, 33,
	// 66, 129, 258.
	want := []int64{3, 6, 9, 18, 33, 66, 129, 258}
	if len(changes) != len(want) {
		t.Fatalf("the text changed at %v rows, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("the text changed at %v rows, want %v", changes, want)
		}
	}
	if got := g.replanned(q, 0); got != q+" /* plan 9 */" {
		t.Errorf("replanned = %q", got)
	}
}

// On PostgreSQL the ID-array statements run on their generic plan from the
// first run: planned for each array's length, as the server's default
// chose, they were planned again at every run, a tenth of PostgreSQL's CPU
// under load.
func TestIDArrayStatementsArePlannedOnce(t *testing.T) {
	s := openStore(t, newTestDB(t, "postgres"), nil)
	ctx := context.Background()
	c := newChecks(s)
	defer c.close()
	const runs = 12
	for n := 1; n <= runs; n++ {
		var checked []*checkReq
		var recorded []*deliveredReq
		for i := range n {
			id := fmt.Sprint("missing-", n, "-", i)
			checked = append(checked, &checkReq{id: id, job: 1})
			recorded = append(recorded, &deliveredReq{id: id, job: 1, started: time.Now()})
		}
		c.read(checked)
		for _, r := range checked {
			if r.err != nil || !r.stale {
				t.Fatalf("check of a missing delivery: stale %v, %v", r.stale, r.err)
			}
		}
		if err := s.delivered.writeMany(ctx, recorded); err != nil {
			t.Fatal(err)
		}
	}
	// Prepared statements and their plans are per session: read every
	// session of the pool, holding each so that the next is another.
	var generic, custom int64
	for range pgGenericConns {
		conn, err := s.be.generic.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var g, c int64
		if err := conn.QueryRowContext(ctx, `SELECT COALESCE(SUM(generic_plans), 0), COALESCE(SUM(custom_plans), 0)
			FROM pg_prepared_statements WHERE statement LIKE '%hookline_delivery%'`).Scan(&g, &c); err != nil {
			t.Fatal(err)
		}
		generic, custom = generic+g, custom+c
	}
	if custom != 0 || generic < 2*runs {
		t.Errorf("%d runs of the two statements: %d generic plans used, %d custom plans made; want every run on a generic plan", 2*runs, generic, custom)
	}
}

// Records of delivered attempts, and only they, commit without waiting
// for PostgreSQL's WAL flush: one lost in a crash of PostgreSQL makes its
// delivery run again, while an accepted event must be on disk before its
// 202.
func TestOnlyAttemptRecordsSkipTheWALFlush(t *testing.T) {
	s := openStore(t, newTestDB(t, "postgres"), nil)
	ctx := context.Background()
	setting := func(t *testing.T, conn interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) string {
		var v string
		if err := conn.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for range pgGenericConns {
		conn, err := s.be.generic.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := setting(t, conn); got != "off" {
			t.Errorf("records' session: synchronous_commit = %s, want off", got)
		}
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error {
		if got := setting(t, tx); got != "on" {
			t.Errorf("the store's write transactions: synchronous_commit = %s, want on", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
