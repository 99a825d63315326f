package stmtcache

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// open returns a one-connection database on a real SQLite file, cached
// with size statements, and that connection's cache.
func open(t testing.TB, size int) (*sql.DB, func() *conn) {
	t.Helper()
	c, err := sqlite.NewConnector("file:" + filepath.Join(t.TempDir(), "t.db") + "?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(New(c, size))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
		INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three')`); err != nil {
		t.Fatal(err)
	}
	cache := func() *conn {
		var got *conn
		sc, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if err := sc.Raw(func(dc any) error { got = dc.(*conn); return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	return db, cache
}

func value(t *testing.T, db interface {
	QueryRow(string, ...any) *sql.Row
}, k int) string {
	t.Helper()
	var v string
	if err := db.QueryRow(`SELECT v FROM kv WHERE k = ?`, k).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestReusesOneStatementPerQuery(t *testing.T) {
	db, cache := open(t, 0)
	before := len(cache().stmts)
	for i := range 30 {
		k := i%3 + 1
		if got, want := value(t, db, k), []string{"one", "two", "three"}[k-1]; got != want {
			t.Fatalf("k=%d: got %q, want %q: a reused statement kept old bindings", k, got, want)
		}
	}
	c := cache()
	if n := len(c.stmts) - before; n != 1 {
		t.Fatalf("30 runs of one query left %d new statements, want 1", n)
	}
	s := c.stmts[`SELECT v FROM kv WHERE k = ?`]
	if s == nil || s.busy {
		t.Fatalf("statement %+v: want cached and free once its rows are closed", s)
	}
}

// The same query run while its own result set is open, as code reading
// rows and querying per row does, must not disturb the open one.
func TestSameQueryWhileItsRowsAreOpen(t *testing.T) {
	db, _ := open(t, 0)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = `SELECT k, v FROM kv WHERE k >= ? ORDER BY k`
	outer, err := tx.Query(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for outer.Next() {
		var k int
		var v string
		if err := outer.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		var n int
		inner, err := tx.Query(q, 3)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			n++
		}
		if err := errors.Join(inner.Err(), inner.Close()); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%d", v, n))
	}
	if err := errors.Join(outer.Err(), outer.Close()); err != nil {
		t.Fatal(err)
	}
	if want := "one/1 two/1 three/1"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	db, cache := open(t, 2)
	queries := []string{
		`SELECT v FROM kv WHERE k = ?`,
		`SELECT v FROM kv WHERE k = ? AND 1`,
		`SELECT v FROM kv WHERE k = ? AND 2`,
	}
	run := func(q string) {
		var v string
		if err := db.QueryRow(q, 2).Scan(&v); err != nil || v != "two" {
			t.Fatalf("%s: %q, %v", q, v, err)
		}
	}
	run(queries[0])
	run(queries[1])
	run(queries[0]) // now queries[1] is the oldest
	run(queries[2])
	c := cache()
	if len(c.stmts) != 2 || c.stmts[queries[0]] == nil || c.stmts[queries[2]] == nil {
		var have []string
		for q := range c.stmts {
			have = append(have, q)
		}
		t.Fatalf("cache holds %q, want the first and the last query", have)
	}
}

func TestErrorsPassThroughAndTheStatementStaysUsable(t *testing.T) {
	db, cache := open(t, 0)
	if _, err := db.Exec(`SELEC nonsense`); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("got %v, want SQLite's syntax error", err)
	}
	if _, ok := cache().stmts[`SELEC nonsense`]; ok {
		t.Fatal("a query that failed to prepare was cached")
	}
	const ins = `INSERT INTO kv (k, v) VALUES (?, ?)`
	if _, err := db.Exec(ins, 1, "again"); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("got %v, want a constraint error", err)
	}
	res, err := db.Exec(ins, 4, "four")
	if err != nil {
		t.Fatalf("the statement after its failed run: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rows affected %d, want 1", n)
	}
	if got := value(t, db, 4); got != "four" {
		t.Fatalf("got %q", got)
	}
}

func TestCancelledQueryLeavesTheStatementUsable(t *testing.T) {
	db, _ := open(t, 0)
	const q = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT count(*) FROM n`
	// count(*) runs inside the first step, so the query is under way
	// when the deadline passes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, q, 1_000_000_000).Scan(&n); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %d, %v: want the deadline's error", n, err)
	}
	if err := db.QueryRow(q, 10).Scan(&n); err != nil || n != 10 {
		t.Fatalf("after a cancelled run: %d, %v", n, err)
	}
}

func TestScriptsRunWhole(t *testing.T) {
	db, _ := open(t, 0)
	if _, err := db.Exec(`INSERT INTO kv VALUES (10, 'ten'); INSERT INTO kv VALUES (11, 'eleven')`); err != nil {
		t.Fatal(err)
	}
	if got := value(t, db, 11); got != "eleven" {
		t.Fatalf("the second statement of a script did not run: %q", got)
	}
}

// BenchmarkQuery compares a River-sized query run as text, with and without
// the cache.
func BenchmarkQuery(b *testing.B) {
	const q = `SELECT k, v FROM kv WHERE k IN (SELECT k FROM kv WHERE v <> ? ORDER BY k LIMIT 2)
		AND v NOT LIKE ? AND coalesce(nullif(v, ''), 'x') <> ? ORDER BY k`
	for _, cached := range []bool{false, true} {
		b.Run(map[bool]string{false: "uncached", true: "cached"}[cached], func(b *testing.B) {
			var db *sql.DB
			if cached {
				db, _ = open(b, 0)
			} else {
				var err error
				db, err = sql.Open("sqlite", "file:"+filepath.Join(b.TempDir(), "t.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(`CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO kv VALUES (1, 'one'), (2, 'two')`); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				rows, err := db.Query(q, "zzz", "%q%", "y")
				if err != nil {
					b.Fatal(err)
				}
				for rows.Next() {
				}
				rows.Close()
			}
		})
	}
}
