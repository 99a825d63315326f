package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/riverqueue/river/rivermigrate"
)

// migrations are our schema steps, applied in order and never edited once
// released: append a new step instead. The SQL is meant to run unchanged on
// SQLite and PostgreSQL: TEXT, INTEGER and BIGINT only (times are unix
// nanoseconds in BIGINT, which PostgreSQL's 4-byte INTEGER could not hold),
// and BYTEA for bytes (SQLite keeps them as a BLOB under any type name).
var migrations = []string{
	// 1: events, deliveries, attempts.
	`CREATE TABLE hookline_event (
		id          TEXT PRIMARY KEY,
		source      TEXT NOT NULL,
		ce_id       TEXT NOT NULL,
		type        TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		raw         TEXT NOT NULL
	);
	CREATE UNIQUE INDEX hookline_event_source_ce_id ON hookline_event (source, ce_id);

	CREATE TABLE hookline_delivery (
		id              TEXT PRIMARY KEY,
		event_id        TEXT NOT NULL REFERENCES hookline_event (id),
		seq             INTEGER NOT NULL,
		address         TEXT NOT NULL,
		trigger_name    TEXT NOT NULL,
		type            TEXT NOT NULL,
		name            TEXT NOT NULL,
		status          TEXT NOT NULL,
		attempts        INTEGER NOT NULL,
		created_at      BIGINT NOT NULL,
		updated_at      BIGINT NOT NULL,
		next_attempt_at BIGINT,
		last_error      TEXT NOT NULL,
		content         TEXT NOT NULL,
		retry_schedule  TEXT NOT NULL,
		max_attempts    INTEGER NOT NULL,
		job_id          BIGINT NOT NULL,
		retry_requested INTEGER NOT NULL
	);
	CREATE INDEX hookline_delivery_created ON hookline_delivery (created_at, id);
	CREATE INDEX hookline_delivery_status ON hookline_delivery (status, created_at, id);
	CREATE INDEX hookline_delivery_trigger ON hookline_delivery (trigger_name, created_at, id);
	CREATE INDEX hookline_delivery_event ON hookline_delivery (event_id, seq);

	CREATE TABLE hookline_attempt (
		delivery_id TEXT NOT NULL REFERENCES hookline_delivery (id),
		number      INTEGER NOT NULL,
		started_at  BIGINT NOT NULL,
		outcome     TEXT NOT NULL,
		status_code INTEGER NOT NULL,
		duration    BIGINT NOT NULL,
		error       TEXT NOT NULL,
		response    TEXT NOT NULL,
		provider_id TEXT NOT NULL,
		PRIMARY KEY (delivery_id, number)
	);`,

	// 2: the order spilled first attempts are read back in (spill.go).
	// SQLite reuses the rowids of deleted rows at the top of a table, so
	// a cursor on rowid skipped rows stored after a delete; spill_seq is
	// set from a counter that only grows. 0 means none: first attempts
	// held in memory, and every row on PostgreSQL, which spills nothing;
	// the partial index leaves those out, so it costs Accept nothing for
	// them. Rows left pending with 0 (held by a stopped process, or
	// spilled by an older version) are numbered by the next Open, in
	// their rowid order (direct.go, recover).
	`ALTER TABLE hookline_delivery ADD COLUMN spill_seq BIGINT NOT NULL DEFAULT 0;
	CREATE INDEX hookline_delivery_spill ON hookline_delivery (spill_seq) WHERE spill_seq > 0;`,

	// 3: a retry by hand starts a fresh run of the retry policy: run_base
	// is the number of attempts made before the current run (Store.Retry).
	// The attempt that ended a run for want of attempts reads "failed",
	// not "retry" (OutcomeFailed): the last attempt of every delivery
	// failed so far gets it too.
	`ALTER TABLE hookline_delivery ADD COLUMN run_base INTEGER NOT NULL DEFAULT 0;
	UPDATE hookline_attempt SET outcome = 'failed'
	FROM hookline_delivery d
	WHERE d.status = 'failed' AND hookline_attempt.delivery_id = d.id
		AND hookline_attempt.number = d.attempts AND hookline_attempt.outcome = 'retry';`,

	// 4: erasure of one person's data (erase.go). hookline_identifier
	// indexes each event by the personal identifiers it carries, as keyed
	// hashes (identifiers.go), written with the event (BYTEA: SQLite takes
	// the name and stores the bytes as a BLOB); its event_id index
	// serves deleting an event's rows (deleteIdentifiers). The key is a
	// row of hookline_setting. erased_at (unix nanoseconds, 0 when not
	// erased) marks an event or delivery whose data was replaced by a
	// marker; hookline_erasure and hookline_erased_event are the audit
	// trail: what was erased when, by ids and statuses, never the data or
	// the identifier asked for.
	`CREATE TABLE hookline_setting (
		name  TEXT PRIMARY KEY,
		value TEXT NOT NULL
	);
	CREATE TABLE hookline_identifier (
		hash     BYTEA NOT NULL,
		event_id TEXT NOT NULL,
		PRIMARY KEY (hash, event_id)
	);
	CREATE INDEX hookline_identifier_event ON hookline_identifier (event_id);
	ALTER TABLE hookline_event ADD COLUMN erased_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE hookline_delivery ADD COLUMN erased_at BIGINT NOT NULL DEFAULT 0;
	CREATE TABLE hookline_erasure (
		id           TEXT PRIMARY KEY,
		kind         TEXT NOT NULL,
		requested_at BIGINT NOT NULL,
		finished_at  BIGINT NOT NULL,
		events       INTEGER NOT NULL,
		deliveries   INTEGER NOT NULL,
		attempts     INTEGER NOT NULL,
		canceled     INTEGER NOT NULL
	);
	CREATE INDEX hookline_erasure_requested ON hookline_erasure (requested_at, id);
	CREATE TABLE hookline_erased_event (
		erasure_id  TEXT NOT NULL,
		event_id    TEXT NOT NULL,
		received_at BIGINT NOT NULL,
		deliveries  TEXT NOT NULL,
		PRIMARY KEY (erasure_id, event_id)
	);`,

	// 5: deliveries that wait (schedule.go). due_at is when a scheduled
	// delivery may first run (0: it never waited), late_after how late it
	// may still start (0: however late), schedule_note how due_at was
	// worked out, correlation the value a cancel_on event must give to
	// cancel it, canceled_by what canceled it (an event id, or a
	// sentence). The partial index holds waiting deliveries only, so a
	// cancelling event finds its targets without reading the rest, and
	// it stays as small as what waits.
	`ALTER TABLE hookline_delivery ADD COLUMN due_at BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE hookline_delivery ADD COLUMN late_after BIGINT NOT NULL DEFAULT 0;
	ALTER TABLE hookline_delivery ADD COLUMN schedule_note TEXT NOT NULL DEFAULT '';
	ALTER TABLE hookline_delivery ADD COLUMN correlation TEXT NOT NULL DEFAULT '';
	ALTER TABLE hookline_delivery ADD COLUMN canceled_by TEXT NOT NULL DEFAULT '';
	CREATE INDEX hookline_delivery_waiting ON hookline_delivery (address, correlation, created_at)
		WHERE status = 'scheduled' AND correlation <> '';`,

	// 6: the W3C trace context of the span that accepted a delivery's
	// event (trace.go): each attempt's span is its child, whatever the
	// queue or a restart did in between. '' when tracing was off.
	`ALTER TABLE hookline_delivery ADD COLUMN traceparent TEXT NOT NULL DEFAULT '';
	ALTER TABLE hookline_delivery ADD COLUMN tracestate TEXT NOT NULL DEFAULT '';`,

	// 7: retention (retention.go) walks events in the order they were
	// received, oldest first, with (received_at, id) as its cursor: the
	// index answers both the cutoff and the cursor without reading the
	// table.
	`CREATE INDEX hookline_event_received ON hookline_event (received_at, id);`,

	// 8: one action's deliveries in a status (the console's filters and
	// links, query.go; its counts per action, stats.go): an ordered range
	// of the index, newest first, so that none reads the table or follows
	// more of it than it shows or counts. Without it an action's
	// deliveries were found by reading the whole table, and the triggers
	// page's 24-hour counts read every row of the day. A list without a
	// status is read a status at a time and merged (byStatuses); a
	// trigger's in one status, an action of it at a time (merged),
	// which keeps the trigger index without the status: like the status
	// index, an index holding it moves a delivery's entry whenever its
	// status changes, which every delivery's record of its attempt pays.
	`CREATE INDEX hookline_delivery_address ON hookline_delivery (address, status, created_at, id);`,

	// 9: the processes sharing a PostgreSQL database (nodes.go), each
	// holding its first attempts in memory: num is the number a node's
	// held deliveries carry as job_id = -num, seen_at its last heartbeat
	// (unix nanoseconds, the database's clock). Numbers come from the
	// node_seq setting and are never reused. SQLite, which one process
	// owns, has the table and never writes to it.
	`CREATE TABLE hookline_node (
		num     BIGINT PRIMARY KEY,
		seen_at BIGINT NOT NULL
	);
	INSERT INTO hookline_setting (name, value) VALUES ('node_seq', '1');`,

	// 10: no index by trigger. Its entries landed at one of as many places
	// as there are triggers, one page written per delivery at every
	// commit; without it SQLite takes a tenth more events a second. A
	// trigger's deliveries are read from the address index instead, each
	// of its actions' in each status, and merged (query.go, merged):
	// an action's address is TRIGGER.TYPE.NAME.
	`DROP INDEX hookline_delivery_trigger;`,

	// 11: the address index leaves pending deliveries out. A delivery is
	// pending from its event's commit until its first attempt's record,
	// a few milliseconds when all goes well, and each of those two
	// commits wrote a page at one of as many places in the index as
	// there are actions (its entry in, then moved to its new status);
	// without the pending entry it is one, and SQLite takes an eighth
	// more events a second. The status index holds the address instead,
	// so that an action's pending deliveries are found in it, without
	// the table: they are few but in a backlog. Queries must say
	// "status <> 'pending'" in so many words for SQLite to use the
	// partial index (query.go, notPending).
	`DROP INDEX hookline_delivery_address;
	CREATE INDEX hookline_delivery_address ON hookline_delivery (address, status, created_at, id) WHERE status <> 'pending';
	DROP INDEX hookline_delivery_status;
	CREATE INDEX hookline_delivery_status ON hookline_delivery (status, created_at, id, address);`,

	// 12: no index by creation time alone. Every delivery's insert wrote
	// an entry in it, and on PostgreSQL every record of an attempt too
	// (its UPDATE changes the indexed status, so it is no HOT update and
	// writes a new entry in every index of the table): without it
	// PostgreSQL took 8 % more events a second and SQLite 4 %
	// (bench/README.md, "An eighth round"). What it answered, the
	// newest deliveries whatever their status, is the status index read a
	// status at a time and merged (query.go, byStatuses), as an action's
	// deliveries are from the address index; counts too (CountMatching).
	`DROP INDEX hookline_delivery_created;`,
}

// Migrate brings the database cfg names up to date (River's tables and
// ours) and closes it, for running migrations apart from serving (see
// Config.NoMigrate). Processes sharing a PostgreSQL database migrate one at
// a time; on SQLite it fails while a server holds the data directory.
func Migrate(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	be, err := openBackend(ctx, cfg)
	if err != nil {
		return err
	}
	s := &Store{cfg: cfg, log: cfg.Logger, db: be.write, rdb: be.read, be: be}
	return errors.Join(s.migrateAll(ctx), be.close())
}

// migrateAll runs River's migrations then ours, holding the backend's
// migration lock.
func (s *Store) migrateAll(ctx context.Context) error {
	unlock, err := s.be.lockMigrations(ctx)
	if err != nil {
		return fmt.Errorf("delivery: migrations lock: %w", err)
	}
	defer unlock()
	migrator, err := rivermigrate.New(s.be.driver, &rivermigrate.Config{Logger: s.riverLogger()})
	if err != nil {
		return fmt.Errorf("delivery: river migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("delivery: river migrations: %w", err)
	}
	return s.migrate(ctx)
}

// checkSchema fails unless River's migrations and ours are all applied,
// for a store opened without migrating.
func (s *Store) checkSchema(ctx context.Context) error {
	migrator, err := rivermigrate.New(s.be.driver, &rivermigrate.Config{Logger: s.riverLogger()})
	if err != nil {
		return fmt.Errorf("delivery: river migrations: %w", err)
	}
	res, err := migrator.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("delivery: checking the schema: %w", err)
	}
	have, err := s.schemaVersion(ctx)
	if err != nil {
		// No table (or no access to it) on either database: not migrated.
		have = 0
	}
	if !res.OK || have != len(migrations) {
		return fmt.Errorf("delivery: the database schema is not up to date (%s; run hookline migrate)",
			strings.Join(append(res.Messages, fmt.Sprintf("hookline version %d of %d", have, len(migrations))), "; "))
	}
	return nil
}

// schemaVersion is the last of our migrations applied, 0 for none.
func (s *Store) schemaVersion(ctx context.Context) (int, error) {
	var have int
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM hookline_migration`).Scan(&have)
	return have, err
}

// migrate brings our tables up to date, one transaction per step so that a
// failed step leaves the previous version intact.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, len(migrations)) }

// migrateTo applies our steps up to version to (tests build an older
// version's database with it).
func (s *Store) migrateTo(ctx context.Context, to int) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS hookline_migration (
		version    INTEGER PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("delivery: migrate: %w", err)
	}
	have, err := s.schemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("delivery: migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("delivery: database schema version %d is newer than this program (%d)", have, len(migrations))
	}
	for v := have + 1; v <= to; v++ {
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, s.sql(`INSERT INTO hookline_migration (version, applied_at) VALUES (?, ?)`), v, s.cfg.Now().UnixNano())
			return err
		}); err != nil {
			return fmt.Errorf("delivery: migrate to version %d: %w", v, err)
		}
	}
	return nil
}
