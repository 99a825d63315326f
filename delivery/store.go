package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookline/hookline/actions"
)

// Config configures a Store. DataDir or DatabaseURL is required.
type Config struct {
	DataDir string // SQLite database at DataDir/hookline.db (dir created 0700), locked against other processes
	// DatabaseURL (postgres://...) selects PostgreSQL instead of SQLite.
	// Several processes may share one database (and schema: search_path
	// in the URL picks it); each runs the deliveries its workers fetch.
	// pool_max_conns in the URL bounds this process's connections.
	DatabaseURL    string
	NoMigrate      bool                        // Open checks the schema is current instead of migrating it (see Migrate)
	Logger         *slog.Logger                // nil: discard. Secrets and bodies are never logged.
	Executors      map[string]actions.Executor // by Delivery.Type, one per action type
	Workers        int                         // concurrent attempts; default 20
	Now            func() time.Time            // default time.Now
	Rand           func() float64              // jitter source in [0,1), safe for concurrent use; default math/rand/v2
	AttemptTimeout time.Duration               // safety bound per attempt; default 5m. Also sets how soon a crashed node's attempts are rescued.
	// Retention is how long events are kept: a River periodic job removes
	// an event with its deliveries and attempts once it is older than
	// this and every delivery of it is final (see Purge). 0 keeps
	// everything. On PostgreSQL the leader's schedule applies and each
	// node's own setting decides when it runs the job: give every node the
	// same one.
	Retention time.Duration
	// RetentionInterval is how often the retention job runs; default a
	// tenth of Retention, from 1s to 10m.
	RetentionInterval time.Duration
	// Gate is asked, when a scheduled delivery falls due, whether its
	// action may still run (see Gate); nil lets every one run.
	Gate Gate
	// DueLag, when set, is told how long after its due time each
	// scheduled delivery started, for a metric.
	DueLag func(time.Duration)
	// TracerProvider traces each attempt as a child of its event's span
	// (NewEvent.Trace); nil: no tracing, at no cost.
	TracerProvider trace.TracerProvider

	// nodeDeadAfter is how long a node may go without a heartbeat before
	// the others take over what it holds (nodes.go); default
	// nodeDeadAfter, lowered by tests.
	nodeDeadAfter time.Duration
	// held bounds the first attempts held in memory; default directHeld,
	// lowered by tests.
	held int
}

// Defaults for the zero values in Config.
const (
	// DefaultWorkers: more lets deliveries keep up at full intake (64 on
	// the 2-core machine, bench/README.md "A third round"), but a crash
	// sends again every attempt in flight that was not yet recorded,
	// about one per worker, and the chaos run's duplicates went from
	// 0.2 % to 0.9 %.
	DefaultWorkers        = 20
	DefaultAttemptTimeout = 5 * time.Minute
)

// ErrNotFound is returned for an unknown event or delivery ID.
var ErrNotFound = errors.New("not found")

// ErrInvalidEvent is wrapped by Accept's errors about the event itself (no
// source or id, not JSON, text no store can keep): sending it again cannot
// help, unlike any other Accept error.
var ErrInvalidEvent = errors.New("invalid event")

// ErrInvalidFilter is wrapped by errors about a Filter: an unknown status
// or a cursor this store did not produce.
var ErrInvalidFilter = errors.New("invalid filter")

// Tuning that does not belong in Config.
const (
	// queueName is the River queue every delivery job runs in.
	queueName = "hookline_delivery"
	// hardStopTimeout bounds waiting for cancelled attempts to unwind.
	hardStopTimeout = 15 * time.Second
	// riverMaxAttempts is far above anything reached in practice: River's
	// attempt counter only moves when our worker itself fails (a database
	// error) or a stuck job is rescued, and a job River discarded on its
	// own would leave its delivery pending for ever. Our attempts table is
	// the source of truth. (PostgreSQL stores it as smallint.)
	riverMaxAttempts = 1000
	// Fetching: River's defaults (100ms cooldown, 1s poll) cap throughput
	// at Workers/100ms and add up to a second of latency to every
	// delivery. SQLite has only the poll; on PostgreSQL, LISTEN/NOTIFY
	// wakes every node when jobs are inserted and the poll is a fallback
	// (and what picks up jobs inserted available with a scheduled_at
	// ahead, see availableNow).
	fetchCooldown     = 5 * time.Millisecond
	fetchPollInterval = 50 * time.Millisecond
)

// Store keeps events and deliveries and runs the delivery queue.
type Store struct {
	cfg     Config
	log     *slog.Logger
	tracer  trace.Tracer // nil: tracing is off
	db      *sql.DB      // writes, and River
	rdb     *sql.DB      // reads
	be      *backend
	client  *river.Client[*sql.Tx]
	commits *committer // group commit of Accept
	direct  *direct    // first attempts held in memory
	nodes   *nodes     // the node registry, where processes share the database (PostgreSQL); nil on SQLite
	records *txBatcher // shared transactions for recording attempts; nil: one each
	// delivered shares statements among delivered attempts' records where
	// one statement records one (modifyingWith); nil elsewhere.
	delivered *deliveredBatch
	health    recordHealth

	purgeBatch int           // events per purge transaction: purgeBatchSize, lowered by tests
	removed    removedCounts // rows removed by retention and purges, for metrics
	stopping   atomic.Bool   // set while Stop waits: a purge in progress yields

	eventInsert, deliveryInsert *bulkInsert             // prepared for Accept
	identifierInsert            *bulkInsert             // the erasure index, for Accept
	macs                        sync.Pool               // HMACs under the erasure index's key (identifiers.go)
	riverClock                  rivertype.TimeGenerator // Config.Now for River, when the caller gave one

	mu      sync.Mutex
	started bool
	closed  bool
}

// Open opens the store and, unless cfg.NoMigrate, runs migrations (River's
// and ours). On SQLite, which one process owns, a job left running by a
// crashed process is made available again at once; on PostgreSQL, River's
// rescuer gives it to a live node (see rescueAfter).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	injected := cfg.Now != nil
	cfg = cfg.withDefaults()
	be, err := openBackend(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, log: cfg.Logger, db: be.write, rdb: be.read, be: be, purgeBatch: purgeBatchSize}
	if injected {
		// One clock: River decides a job is due on the caller's clock too,
		// so a test moves a due time by moving the clock, not by sleeping.
		s.riverClock = riverClock{cfg.Now}
	}
	if cfg.TracerProvider != nil {
		s.tracer = cfg.TracerProvider.Tracer("github.com/hookline/hookline/delivery")
	}
	if err := s.open(ctx); err != nil {
		return nil, errors.Join(err, be.close())
	}
	return s, nil
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.Retention < 0 {
		c.Retention = 0
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = min(max(c.Retention/10, time.Second), 10*time.Minute)
	}
	if c.nodeDeadAfter <= 0 {
		c.nodeDeadAfter = nodeDeadAfter
	}
	if c.held <= 0 {
		c.held = directHeld
	}
	c.Executors = maps.Clone(c.Executors) // workers read it concurrently
	return c
}

// riverLogger is the store's logger with River's chatter demoted.
func (s *Store) riverLogger() *slog.Logger {
	return slog.New(demoted{s.log.Handler()}).With("component", "river")
}

func (s *Store) open(ctx context.Context) error {
	if s.cfg.NoMigrate {
		if err := s.checkSchema(ctx); err != nil {
			return err
		}
	} else if err := s.migrateAll(ctx); err != nil {
		return err
	}

	if err := s.loadIdentifierKey(ctx); err != nil {
		return err
	}

	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{s: s}); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	// Registered whatever Retention says: on PostgreSQL another node may
	// have queued the job.
	if err := river.AddWorkerSafely(workers, &purgeWorker{s: s}); err != nil {
		return fmt.Errorf("delivery: %w", err)
	}
	jobTimeout, rescue := s.timeouts()
	finished := s.finishedJobRetention()
	var err error
	s.client, err = river.NewClient(s.be.driver, &river.Config{
		Queues: map[string]river.QueueConfig{
			queueName:        {MaxWorkers: s.cfg.Workers},
			maintenanceQueue: {MaxWorkers: 1, FetchPollInterval: maintenancePoll},
		},
		PeriodicJobs: s.periodicJobs(),
		// River's own rows of finished jobs: kept no longer than ours.
		CompletedJobRetentionPeriod: finished.completed,
		CancelledJobRetentionPeriod: finished.cancelled,
		DiscardedJobRetentionPeriod: finished.discarded,
		Workers:                     workers,
		FetchCooldown:               fetchCooldown,
		FetchPollInterval:           fetchPollInterval,
		JobTimeout:                  jobTimeout,
		// A job still running this long after it started belongs to a dead
		// process (or a hung executor) and is run again: at-least-once.
		RescueStuckJobsAfter: rescue,
		MaxAttempts:          riverMaxAttempts,
		Logger:               quietRiverLogger(s.log),
		Hooks:                []rivertype.Hook{river.HookInsertBeginFunc(availableNow)},
		Test:                 river.TestConfig{Time: s.riverClock},
	})
	if err != nil {
		return fmt.Errorf("delivery: river client: %w", err)
	}
	if s.be.singleProcess {
		if err := s.rescueOrphans(ctx); err != nil {
			return err
		}
		s.direct = newDirect(s, nil)
		if err := s.direct.recover(ctx); err != nil {
			return err
		}
	}
	if err := s.prepareInserts(ctx); err != nil {
		return fmt.Errorf("delivery: preparing statements: %w", err)
	}
	if !s.be.singleProcess {
		// Last: from here on other nodes may take over what this one holds.
		if s.nodes, err = s.startNodes(ctx); err != nil {
			return err
		}
		s.direct = newDirect(s, s.nodes)
	}
	s.commits = newCommitter(s, s.be.committers, maxBatch)
	if s.be.singleWriter {
		s.records = newTxBatcher(s, 1)
	}
	if s.be.modifyingWith {
		s.delivered = newDeliveredBatch(s)
	}
	return nil
}

// Start starts the workers. ctx is used for start-up only: cancelling it
// later does not stop them; Stop does, so that a signal context cannot skip
// the graceful part of a shutdown.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("delivery: store is closed")
	}
	if len(s.cfg.Executors) == 0 {
		// Every delivery would become a dead letter.
		return errors.New("delivery: start: no executors configured")
	}
	s.stopping.Store(false)
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("delivery: start: %w", err)
	}
	if s.direct != nil {
		s.direct.start()
	}
	s.started = true
	return nil
}

// Stop stops fetching, lets attempts in flight finish until ctx is done,
// then cancels them. A cancelled attempt is not recorded: its job goes back
// to the queue and runs again on the next start, so nothing is lost (the
// peer may see that attempt twice). Stop returns ctx's error when it had to
// cancel.
func (s *Store) Stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stop(ctx)
}

func (s *Store) stop(ctx context.Context) error {
	if !s.started {
		return nil
	}
	// A purge in progress stops after its batch rather than make the
	// shutdown wait (its job runs again on the next start).
	s.stopping.Store(true)
	// Both at once: each waits for its attempts in flight until ctx is
	// done.
	directErr := make(chan error, 1)
	go func() { directErr <- s.direct.halt(ctx) }()
	err := s.client.Stop(ctx)
	if derr := <-directErr; err == nil {
		err = derr
	}
	if err == nil {
		s.started = false
		return nil
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), hardStopTimeout)
	defer cancel()
	if herr := s.client.StopAndCancel(hard); herr != nil {
		return fmt.Errorf("delivery: stop: %w", errors.Join(err, herr))
	}
	s.started = false
	return fmt.Errorf("delivery: attempts in flight were cancelled and will run again: %w", err)
}

// Close stops taking events (Accept fails from then on), stops the workers
// if Stop was not called (cancelling attempts in flight) and closes the
// database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Events queued for a batch are committed first: their callers were
	// promised an answer.
	s.commits.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: whoever wanted one called Stop first
	err := s.stop(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	handover, cancelHandover := context.WithTimeout(context.Background(), batchTimeout)
	defer cancelHandover()
	if herr := s.nodes.close(handover); herr != nil {
		err = errors.Join(err, fmt.Errorf("delivery: handing this node's first attempts over: %w", herr))
	}
	if s.records != nil {
		s.records.close()
	}
	if s.delivered != nil {
		s.delivered.close()
	}
	return errors.Join(err, s.eventInsert.close(), s.deliveryInsert.close(), s.identifierInsert.close(), s.be.close())
}

// Ping reports whether the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("delivery: ping: %w", err)
	}
	// The writer too: it is the one connection everything else waits for.
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("delivery: ping: %w", err)
	}
	return nil
}

// sql rewrites a query written with ? placeholders for the database.
func (s *Store) sql(q string) string { return s.be.rebind(q) }

// inTx runs f in a write transaction and commits it if f succeeds. f must
// use only tx: with SQLite's single writer connection, touching s.db inside
// would wait for itself.
func (s *Store) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// queryer is a transaction or a database.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// column runs query (already rebound) and returns its only column.
func column[T any](ctx context.Context, db queryer, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Times are stored as unix nanoseconds.
func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

// optNanos reads a time column where 0 means none.
func optNanos(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := fromNanos(n)
	return &t
}

// demoted lowers River's info records (periodic job counts, start and stop)
// to debug: at info level an operator should see Hookline's events, not the
// queue's bookkeeping. Warnings and errors pass unchanged.
type demoted struct{ slog.Handler }

func (d demoted) Enabled(ctx context.Context, l slog.Level) bool {
	if l < slog.LevelWarn {
		l = slog.LevelDebug
	}
	return d.Handler.Enabled(ctx, l)
}

func (d demoted) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		r.Level = slog.LevelDebug
	}
	return d.Handler.Handle(ctx, r)
}

func (d demoted) WithAttrs(attrs []slog.Attr) slog.Handler {
	return demoted{d.Handler.WithAttrs(attrs)}
}
func (d demoted) WithGroup(name string) slog.Handler { return demoted{d.Handler.WithGroup(name)} }
