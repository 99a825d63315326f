package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/riverqueue/river/riverdriver/riversqlite"
	"modernc.org/sqlite"

	"github.com/hookline/hookline/internal/stmtcache"
)

// This file is everything that knows the embedded database is SQLite.

// readConns bounds concurrent API queries; WAL lets them run beside the
// writer without blocking it.
const readConns = 4

// sqliteFile is the database inside Config.DataDir.
const sqliteFile = "hookline.db"

// openSQLite opens DIR/hookline.db, creating both, locks DIR against
// other processes and makes sure the file gives freed space back
// (sqlitespace.go), converting a database created before that once.
func openSQLite(ctx context.Context, dir string, log *slog.Logger) (*backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("delivery: data directory: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("delivery: data directory: %w", err)
	}
	// SQLite has no way to share one database between processes safely at
	// our write rate, and the orphan rescue in singleProcess relies on being
	// alone: a second server on the same directory is refused.
	unlock, err := lockDir(filepath.Join(abs, "hookline.lock"))
	if err != nil {
		return nil, fmt.Errorf("delivery: data directory %s: %w", abs, err)
	}

	// A file: URI with the path escaped, so a '?' or '#' in it cannot be
	// taken for the query.
	uri := "file:" + (&url.URL{Path: filepath.Join(abs, sqliteFile)}).EscapedPath()
	// busy_timeout covers the moments a checkpoint or a reader holds a lock;
	// synchronous=NORMAL is durable in WAL mode except for the last commits
	// before a power loss (not a process crash). secure_delete zeroes what
	// a delete or an update frees, so that erased data (erase.go) does not
	// linger in free space of the file. temp_store(2) keeps temporary
	// files in memory, the statement journal above all: a multi-row INSERT
	// in a transaction saves the pages it changes there so that it can be
	// undone alone, and past 64 KiB SQLite moved that to a new file in the
	// system's temporary directory, a file created, written and deleted
	// inside most group commits (a fifth of Accept's time, and personal
	// data left on disk outside the data directory).
	common := "_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=secure_delete(1)&_pragma=temp_store(2)"
	wait := "&_pragma=busy_timeout(5000)"
	// One writer connection: SQLite serialises writers anyway, and with a
	// pool of one they queue in database/sql instead of failing with
	// SQLITE_BUSY. The price: code holding a write transaction must never
	// touch this pool outside it, or it waits for itself. BEGIN IMMEDIATE
	// takes the write lock up front, so a transaction that reads and then
	// writes cannot fail to upgrade.
	//
	// wal_autocheckpoint(0): the connection that commits would otherwise
	// also write the log back into the database file, with its fsync,
	// whenever the log passed 1,000 pages, and every event of the group
	// commit in progress would wait for it. checkpointer does it instead,
	// on a connection of its own, beside the writer (walcheckpoint.go).
	// journal_size_limit: the log file keeps the size of its longest log
	// (a burst of large events, or a checkpoint held back by a reader);
	// the writer cuts it back to this when it starts the log again.
	write, err := openCached(uri + "?_pragma=journal_mode(WAL)&" + common + wait + "&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")")
	if err != nil {
		unlock()
		return nil, fmt.Errorf("delivery: open database: %w", err)
	}
	write.SetMaxOpenConns(1)
	// Opening the writer first creates the file and switches it to WAL
	// (which persists) before any reader connects.
	if err := write.PingContext(ctx); err != nil {
		write.Close()
		unlock()
		return nil, fmt.Errorf("delivery: open database: %w", err)
	}
	path := filepath.Join(abs, sqliteFile)
	if err := useIncrementalVacuum(ctx, write, log, path); err != nil {
		write.Close()
		unlock()
		return nil, fmt.Errorf("delivery: open database: %w", err)
	}
	read, err := openCached(uri + "?" + common + wait + "&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		unlock()
		return nil, fmt.Errorf("delivery: open database: %w", err)
	}
	read.SetMaxOpenConns(readConns)
	// The checkpointer waits for a lock only in the RESTART it falls back
	// on, which holds the writer back while it waits: briefly.
	ckpt, err := openCached(uri + "?" + common + "&_pragma=busy_timeout(" + strconv.Itoa(int(restartWait/time.Millisecond)) + ")")
	if err != nil {
		read.Close()
		write.Close()
		unlock()
		return nil, fmt.Errorf("delivery: open database: %w", err)
	}
	ckpt.SetMaxOpenConns(1)
	stopCheckpoints := startCheckpointer(ckpt, write, path+"-shm", log)

	return &backend{
		write:         write,
		read:          read,
		driver:        riversqlite.New(write),
		rebind:        func(q string) string { return q },
		singleProcess: true,
		singleWriter:  true,
		committers:    1,
		// The lock file already keeps other processes out.
		lockMigrations: func(context.Context) (func(), error) { return func() {}, nil },
		reclaim:        func(ctx context.Context) (int64, error) { return incrementalVacuum(ctx, write, reclaimPages) },
		size:           func(context.Context) (int64, error) { return sqliteSize(path) },
		checkpoint:     checkpointSQLite,
		describe:       path,
		close: func() error {
			stopCheckpoints()
			err := errors.Join(ckpt.Close(), read.Close(), write.Close())
			unlock()
			return err
		},
	}, nil
}

// openCached opens dsn with a statement cache per connection: River's
// SQLite driver sends every query as text, which SQLite would otherwise
// parse on every run.
func openCached(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtcache.New(c, 0)), nil
}

// checkpointSQLite writes the WAL back into the database file and truncates
// it. The WAL otherwise keeps the old images of the pages an erasure
// rewrote until they are overwritten as it is reused. It fails when a
// reader still holds a snapshot older than the log's end.
func checkpointSQLite(ctx context.Context, db *sql.DB) error {
	busy, logPages, done, err := walCheckpoint(ctx, db, "TRUNCATE")
	if err != nil {
		return err
	}
	if busy {
		return fmt.Errorf("checkpoint: the log is in use (%d of %d pages written back)", done, logPages)
	}
	return nil
}
