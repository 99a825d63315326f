package delivery

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pragma reads an integer pragma on the store's writer.
func pragma(t *testing.T, s *Store, name string) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA `+name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// openPool opens dsn (a database of the sqlite driver) as a pool of one
// connection, closed when the test ends.
func openPool(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	return db
}

// A database from before incremental vacuum is converted when opened, its
// data kept; a new one is created so.
func TestSQLiteConvertsToIncrementalVacuum(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, err := sql.Open("sqlite", filepath.Join(dir, sqliteFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`PRAGMA journal_mode = WAL; CREATE TABLE kept (x TEXT); INSERT INTO kept VALUES ('still here')`); err != nil {
		t.Fatal(err)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, testDB{kind: "sqlite", dir: dir}, nil)
	if mode := pragma(t, s, "auto_vacuum"); mode != autoVacuumIncremental {
		t.Errorf("auto_vacuum = %d after opening an old database, want %d (incremental)", mode, autoVacuumIncremental)
	}
	var x string
	if err := s.db.QueryRow(`SELECT x FROM kept`).Scan(&x); err != nil || x != "still here" {
		t.Errorf("data after converting: %q, %v", x, err)
	}
	fresh := openStore(t, newTestDB(t, "sqlite"), nil)
	if mode := pragma(t, fresh, "auto_vacuum"); mode != autoVacuumIncremental {
		t.Errorf("auto_vacuum = %d in a new database, want %d (incremental)", mode, autoVacuumIncremental)
	}
}

// After a purge the file gives its free pages back, and filling it again
// to the same point takes it back to about the same size, no more: it
// stops growing.
func TestSQLitePurgeShrinksTheFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Now = clk.Now })
	fill := func(round int) { // 600 events, 8 at a time (group commit)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 75 {
					if _, err := s.Accept(ctx, bigEvent(fmt.Sprintf("r%d-%d-%d", round, g, i))); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	fill(1)
	full := pragma(t, s, "page_count")
	clk.Set(t0.Add(time.Hour))
	if res, err := s.Purge(ctx, clk.Now()); err != nil || res.Events != 600 {
		t.Fatalf("Purge = %+v, %v", res, err)
	}
	if free := pragma(t, s, "freelist_count"); free != 0 {
		t.Errorf("%d free pages left after a purge, want none", free)
	}
	if empty := pragma(t, s, "page_count"); empty > full/4 {
		t.Errorf("%d pages after removing everything, %d before: the file did not shrink", empty, full)
	}

	fill(2)
	if again := pragma(t, s, "page_count"); again > full+full/10 {
		t.Errorf("%d pages after filling again, %d the first time: the file keeps growing", again, full)
	}
}

// The writer does not write the log back itself (wal_autocheckpoint is 0):
// the background checkpointer must, or the log grows with every commit.
func TestSQLiteLogIsWrittenBackInTheBackground(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openStore(t, testDB{kind: "sqlite", dir: dir}, nil)
	if n := pragma(t, s, "wal_autocheckpoint"); n != 0 {
		t.Fatalf("the writer's wal_autocheckpoint is %d, want 0", n)
	}
	body := strings.Repeat("x", 8<<10)
	const events = 4000 // 32 MiB of raw events, as much again in content
	for i := range events {
		ev := newEvent(fmt.Sprint("wal-", i), NewDelivery{Delivery: httpAction("http://127.0.0.1:9/", body)})
		accept(t, s, ev)
	}
	wal := filepath.Join(dir, sqliteFile+"-wal")
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		// Without the checkpointer the log holds every page written, about
		// 270 MiB; with it, the file is cut back to walSizeLimit once the
		// log has been written back and starts again.
		if st.Size() <= walSizeLimit {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log is %d MiB after %d events of 8 KiB: it is not being written back", st.Size()>>20, events)
		}
		// The file is cut at a commit after the log starts again.
		time.Sleep(50 * time.Millisecond)
		accept(t, s, newEvent(fmt.Sprint("wal-small-", time.Now().UnixNano()), NewDelivery{Delivery: httpAction("http://127.0.0.1:9/", "x")}))
	}
}

// The checkpointer's reading of the WAL index agrees with SQLite's own
// count of the log's frames, before and after they are written back.
func TestWALIndexPending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	db := openPool(t, "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (randomblob(10000))`); err != nil {
			t.Fatal(err)
		}
	}
	index := walIndex{path: path + "-shm"}
	defer index.close()
	before, ok := index.pending()
	_, logPages, written, err := walCheckpoint(ctx, db, "PASSIVE")
	if err != nil {
		t.Fatal(err)
	}
	if !ok || before != logPages || logPages < 100 {
		t.Fatalf("pending = %d, %v before a checkpoint; SQLite counts %d frames in the log", before, ok, logPages)
	}
	if after, ok := index.pending(); !ok || after != logPages-written {
		t.Fatalf("pending = %d, %v after a checkpoint that wrote %d of %d frames back", after, ok, written, logPages)
	}
	missing := walIndex{path: path + "-nothing"}
	if _, ok := missing.pending(); ok {
		t.Fatal("pending read an index that does not exist")
	}
}

// Under writes without a pause the log still starts again from its
// beginning, so the file stays small, and it does so without a RESTART
// checkpoint, which holds the writer back through SQLite's busy handler:
// the checkpointer finishes on the writer's own connection.
func TestSQLiteLogStartsAgainUnderSteadyWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "steady.db")
	uri := "file:" + path + "?_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	write := openPool(t, uri+"&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if _, err := write.ExecContext(ctx, `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	ckpt := openPool(t, uri)

	c := newCheckpointer(ckpt, write, path+"-shm", slog.New(slog.DiscardHandler))
	c.every, c.poll = 5*time.Millisecond, time.Millisecond
	c.pages, c.restart, c.finish, c.force = 64, 64, 16, 1<<30
	stop := c.start()
	// Three frames each: 48 MiB of log if it never started again, which is
	// what a checkpointer that only works beside the writer gives.
	const txs = 4000
	var largest int64
	for i := range txs {
		if _, err := write.ExecContext(ctx, `INSERT INTO t VALUES (randomblob(4000))`); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if st, err := os.Stat(path + "-wal"); err == nil {
				largest = max(largest, st.Size())
			}
		}
	}
	stop()
	if c.forced.Load() != 0 {
		t.Errorf("the checkpointer held the writer back with %d RESTART checkpoints", c.forced.Load())
	}
	if c.finished.Load() == 0 {
		t.Error("the writer's connection never finished a checkpoint")
	}
	if largest > 12<<20 {
		t.Errorf("the log file reached %d KiB over %d transactions of 4 KiB: it did not start again", largest>>10, txs)
	}
}

// A reader that stays inside the log keeps it from starting again; once
// the log passes forcePages the checkpointer holds the writer back with a
// RESTART, which starts it again as soon as the reader has left.
func TestSQLiteLogIsForcedToStartAgainPastItsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "held.db")
	// The RESTART gives up on the reader after 10 ms here (its
	// busy_timeout; restartWait, 20 ms, in the server); the writer waits
	// for the RESTART.
	uri := "file:" + path + "?_pragma=synchronous(NORMAL)"
	write := openPool(t, uri+"&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)&_txlock=immediate")
	if _, err := write.ExecContext(ctx, `CREATE TABLE t (v BLOB); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	ckpt, reader := openPool(t, uri+"&_pragma=busy_timeout(10)"), openPool(t, uri)
	held, err := reader.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := held.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		t.Fatal(err)
	}

	c := newCheckpointer(ckpt, write, path+"-shm", slog.New(slog.DiscardHandler))
	c.every, c.poll = 20*time.Millisecond, 20*time.Millisecond
	c.pages, c.restart, c.finish, c.force = 16, 16, 4, 256
	stop := c.start()
	defer stop()
	insert := func(rows int) {
		for range rows {
			if _, err := write.ExecContext(ctx, `INSERT INTO t VALUES (randomblob(4000))`); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert(300) // past forcePages while the reader is inside
	if c.forced.Load() != 0 || c.finished.Load() != 0 {
		t.Fatalf("the log started again (%d forced, %d finished) with a reader inside it", c.forced.Load(), c.finished.Load())
	}
	if err := held.Rollback(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.forced.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no RESTART after the reader left a log past forcePages")
		}
		insert(1)
		time.Sleep(time.Millisecond)
	}
}
