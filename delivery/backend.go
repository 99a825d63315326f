package delivery

import (
	"context"
	"database/sql"
	"errors"

	"github.com/riverqueue/river/riverdriver"
)

// backend is everything the store needs from a database. sqlite.go and
// postgres.go are the only files that know which database it is; the rest
// of the package is one code path over database/sql and River's
// river.Client[*sql.Tx].
type backend struct {
	// write carries River and every write of ours.
	write *sql.DB
	// read carries queries that need no transaction with a write.
	read *sql.DB
	// generic carries the statements whose plans growth.replanned renews
	// (PostgreSQL only; nil on SQLite, which has no such statement).
	generic *sql.DB
	driver  riverdriver.Driver[*sql.Tx]
	// rebind turns the ? placeholders our SQL is written with into the
	// database's own.
	rebind func(string) string
	// singleProcess means one process owns the database, so a job still
	// marked running when it opens was orphaned by a crash and can be run
	// again at once instead of after River's rescue delay.
	singleProcess bool
	// singleWriter means writes queue for one connection anyway, so
	// concurrent attempt records gain by sharing transactions (on
	// PostgreSQL they lose: funnelled into a few transactions, their round
	// trips run one after another instead of side by side).
	singleWriter bool
	// modifyingWith means a statement's WITH may update rows (PostgreSQL;
	// SQLite's may not), so a delivered attempt's record is one statement
	// (recordDelivered).
	modifyingWith bool
	// committers is how many group-commit transactions may run at once:
	// one for SQLite's single writer, and one for PostgreSQL too, where
	// bigger batches cost less per row than overlapping commits save
	// (pgCommitters).
	committers int
	// lockMigrations keeps processes sharing the database from migrating
	// it at the same time; unlock releases it.
	lockMigrations func(ctx context.Context) (unlock func(), err error)
	// lockRows, appended to a SELECT in a write transaction, locks the rows
	// it reads until the commit (" FOR UPDATE" on PostgreSQL); empty where
	// the single writer serialises every write already (SQLite).
	lockRows string
	// reclaim gives some of the pages that deletes freed back to the file
	// system (SQLite's incremental vacuum), and says how many free pages
	// are left; nil where the database sees to it itself (PostgreSQL's
	// autovacuum keeps them for reuse).
	reclaim func(ctx context.Context) (left int64, err error)
	// size is the database's size on disk, in bytes.
	size func(ctx context.Context) (int64, error)
	// checkpoint, when set, writes the write-ahead log back into the
	// database file through db (the writer) and truncates it, so that
	// pages an erasure overwrote leave both files (SQLite); nil where the
	// database's files are not ours to manage (PostgreSQL).
	checkpoint func(ctx context.Context, db *sql.DB) error
	// clock is an SQL expression for the database's time in unix
	// nanoseconds, which nodes sharing it compare heartbeats on
	// (nodes.go); empty where one process owns the database.
	clock string
	// serverStart is an SQL expression for when the database server last
	// started, which changes when it restarts (nodes.go); empty where one
	// process owns the database.
	serverStart string
	// describe names the database for logs and errors, without secrets.
	describe string
	close    func() error
}

// openBackend opens the database cfg names: PostgreSQL when DatabaseURL is
// set, else SQLite in DataDir.
func openBackend(ctx context.Context, cfg Config) (*backend, error) {
	switch {
	case cfg.DatabaseURL != "":
		return openPostgres(ctx, cfg.DatabaseURL, cfg.Workers)
	case cfg.DataDir != "":
		return openSQLite(ctx, cfg.DataDir, cfg.Logger)
	}
	return nil, errors.New("delivery: no data directory or database URL")
}

// Database is the store's database without the store, opened exactly as
// Open opens it (on SQLite the same pragmas, single writer, read pool and
// statement cache, and the data directory's lock; on PostgreSQL the same
// pools and notification listener) but not migrated. It exists so the
// bench harness can measure River alone on the server's own settings
// without keeping a copy of them in step.
type Database struct {
	// River is River's driver over the connections that carry every write.
	River riverdriver.Driver[*sql.Tx]
	// Read is the pool for queries outside a write transaction: on SQLite
	// read-only connections, which WAL lets run beside the single writer.
	Read  *sql.DB
	close func() error
}

// OpenDatabase opens the database cfg names (DatabaseURL, else DataDir);
// only those two fields matter.
func OpenDatabase(ctx context.Context, cfg Config) (*Database, error) {
	be, err := openBackend(ctx, cfg.withDefaults())
	if err != nil {
		return nil, err
	}
	return &Database{River: be.driver, Read: be.read, close: be.close}, nil
}

// Close closes the database and, on SQLite, unlocks the data directory.
func (d *Database) Close() error { return d.close() }
