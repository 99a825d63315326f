package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
)

// This file is everything that knows the shared database is PostgreSQL.
//
// Why riverdatabasesql and not riverpgxv5: River's client is typed by its
// driver's transaction (river.Client[pgx.Tx] for riverpgxv5), and every
// write of ours joins River's inserts in one transaction. With riverpgxv5
// the store would need a second copy of every transaction-taking function,
// or a generic Store, for one database. riverdatabasesql keeps the single
// river.Client[*sql.Tx] code path, over pgx's own database/sql driver
// (pgx/v5/stdlib, which caches prepared statements per connection), and
// since v0.51 it takes a pgx pool for LISTEN/NOTIFY (NewWithPgxListener):
// that listener is riverpgxv5's, so new jobs still wake the workers of every
// node at once instead of waiting for the next fetch poll.

// Pool sizes. pgDefaultConns is for database/sql (every transaction and
// query, River's included) when the URL has no pool_max_conns; attempts hold
// a connection only while reading or recording, never while the peer
// answers, so far fewer than Workers suffice. pgCommitters is how many
// group-commit transactions run at once. One: a second let one batch fill
// while the other waited for its commit, but it halved the batches, and
// PostgreSQL's cost of a row falls steeply with the rows of its statement
// (a delivery's insert took 81 µs alone, 45 µs in fours, 27 µs in
// sixteens). With two, a batch held four events on average at full
// intake; with one, PostgreSQL's CPU per event fell by 13–19 % and
// deliveries kept up with intake, six rounds against two committers
// (bench/README.md, "An eighth round"). The store alone took 4–6k events/s
// with 1, 2, 4 or 8 on the 2-core machine, PostgreSQL included.
const (
	pgDefaultConns = 16
	pgCommitters   = 1
	// pgGenericConns is the pool of the statements that always run on
	// their generic plan: deliveredLoops records and the checks' read.
	pgGenericConns = deliveredLoops + 1
)

// pgMigrationLock is the advisory lock key (with the schema's name mixed
// in) that serialises migrations between processes.
const pgMigrationLock = "hookline_migrate"

func openPostgres(ctx context.Context, dsn string, workers int) (*backend, error) {
	secret := passwordOf(dsn)
	fail := func(what string, err error) error {
		return fmt.Errorf("delivery: %s %s: %w", what, RedactURL(dsn), redactErr(err, secret))
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fail("database URL", err)
	}
	conns := pgDefaultConns
	if n, ok := queryInt(dsn, "pool_max_conns"); ok {
		conns = n
	}
	db := pgPool(pcfg.ConnConfig, conns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fail("connect to", err)
	}
	// The ID-array statements (replan.go) run on sessions that always use
	// a statement's generic plan: with the default, PostgreSQL found a
	// plan for the array's actual length cheaper than the generic one and
	// planned them again at every run, a tenth of its CPU under load.
	// growth.replanned prepares them again as their table grows, so that
	// the generic plan is always made for the table as it is.
	gcfg := pcfg.ConnConfig.Copy()
	gcfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	// The same sessions record delivered attempts (delivered.go), and
	// commit them without waiting for the WAL flush: a record lost to a
	// crash of PostgreSQL itself (the last wal_writer_delay × 3, 0.6 s by
	// default) leaves its delivery pending, to be made again, at least
	// once as always; a later synchronous commit flushes every earlier
	// one, so nothing after a lost record can outlive it. A waited-for
	// flush per record was a sixth of PostgreSQL's CPU per event and
	// the records' round trips. Accepted events, their deliveries and
	// every other write stay synchronous on the main pool.
	gcfg.RuntimeParams["synchronous_commit"] = "off"
	generic := pgPool(gcfg, pgGenericConns)
	// River's notification listener holds one connection of its own.
	pcfg.MaxConns, pcfg.MinConns = 1, 0
	listen, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		db.Close()
		generic.Close()
		return nil, fail("connect to", err)
	}
	return &backend{
		write:   db,
		read:    db,
		generic: generic,
		driver:  riverdatabasesql.NewWithPgxListener(db, listen),
		rebind:  dollarRebinder(),
		// Several processes share the database: a running job may belong
		// to a live node, so only River's rescuer may take it back.
		singleProcess:  false,
		committers:     pgCommitters,
		lockMigrations: func(ctx context.Context) (func(), error) { return pgLock(ctx, db, pgMigrationLock) },
		lockRows:       " FOR UPDATE",
		modifyingWith:  true,
		clock:          `(extract(epoch FROM clock_timestamp()) * 1000000000)::bigint`,
		serverStart:    `(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint`,
		size:           func(ctx context.Context) (int64, error) { return pgSize(ctx, db) },
		describe:       RedactURL(dsn),
		close: func() error {
			listen.Close()
			return errors.Join(generic.Close(), db.Close())
		},
	}, nil
}

// pgPool is database/sql's pool of up to conns pgx connections made with
// cfg: the parsed URL's connection settings (search_path and other
// run-time parameters included).
func pgPool(cfg *pgx.ConnConfig, conns int) *sql.DB {
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns) // keeps connections and their statement caches
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db
}

// pgLock takes a session advisory lock named key in the current schema, on
// a connection held until unlock. Processes sharing one database (each
// node runs migrations when it starts) then migrate one at a time.
func pgLock(ctx context.Context, db *sql.DB, key string) (unlock func(), err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	const q = `SELECT pg_advisory_lock(hashtext($1 || '.' || coalesce(current_schema(), '')))`
	if _, err := conn.ExecContext(ctx, q, key); err != nil {
		conn.Close()
		return nil, err
	}
	return func() {
		// Closing the connection would also drop the lock, but database/sql
		// keeps it pooled: release it explicitly.
		conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1 || '.' || coalesce(current_schema(), '')))`, key)
		conn.Close()
	}, nil
}

// pgSize is what the tables of the store's schema (ours and River's) take
// on disk, their indexes and TOAST included. Not pg_database_size: several
// stores, or other applications, may share the database, each in its own
// schema.
func pgSize(ctx context.Context, db *sql.DB) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
		FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
		WHERE ns.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("delivery: database size: %w", err)
	}
	return n, nil
}

// dollarRebinder returns a rebind that turns ? into $1, $2, ..., outside
// quoted strings, remembering each query's result: the store's queries are
// a small fixed set, rebound on every call.
func dollarRebinder() func(string) string {
	var cache sync.Map
	return func(q string) string {
		if v, ok := cache.Load(q); ok {
			return v.(string)
		}
		var b strings.Builder
		n, quoted := 0, false
		for i := 0; i < len(q); i++ {
			c := q[i]
			switch {
			case c == '\'':
				quoted = !quoted // '' inside a string toggles twice: still right
			case c == '?' && !quoted:
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteByte(c)
		}
		out := b.String()
		// Generated multi-row inserts would grow the cache for ever; they
		// are cheap to rebind.
		if len(q) < 4096 {
			cache.Store(q, out)
		}
		return out
	}
}

// RedactURL returns a database URL fit for logs and errors: the password,
// in the URL's user part or a password parameter, replaced by "xxxxx".
func RedactURL(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		// A key=value string (or something unparsable): keep only what is
		// surely not a secret.
		return "(a PostgreSQL connection string)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// passwordOf extracts the password of a database URL, so that driver
// errors quoting it can be scrubbed.
func passwordOf(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	if p, ok := u.User.Password(); ok {
		return p
	}
	return u.Query().Get("password")
}

// redactErr hides secret in err's message, should a driver quote it.
func redactErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "xxxxx"))
}

// queryInt reads an integer parameter of a URL's query.
func queryInt(dsn, key string) (int, bool) {
	u, err := url.Parse(dsn)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(u.Query().Get(key))
	return n, err == nil && n > 0
}
