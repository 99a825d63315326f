package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/actions"
)

// Direct first attempts. When one process owns the database (SQLite), the
// first attempt of a fresh delivery needs no queue: the accepting process
// has its content in memory and is the only one that could run it. It is
// committed with job_id 0 ("held in memory") and handed to a pool of
// workers straight after the commit, skipping River's job insert, fetch
// and completion, three of the five writes a delivery otherwise costs on
// the single writer. Retries go through River as before.
//
// Memory is bounded. Beyond the bound a delivery is committed with job_id
// -1 ("spilled") and read back into memory, in the order it was stored, as
// room frees up (spill.go): a backlog costs one read per batch instead of
// River's writes per job.
//
// Nothing is lost in a crash: a delivery still pending with job_id 0 or -1
// when the store opens was left by a process that stopped, and Open marks
// it spilled, to be read back once the workers start (recover).
//
// On PostgreSQL, where processes share the database, a node holds its
// first attempts the same way, under its number in the node registry
// (nodes.go): job_id -number instead of 0, no spilling (beyond the bound
// they are River jobs), and the other nodes give River jobs to what a dead
// node held. With no single process to count erasures, each held attempt
// reads its row before it runs.

// directHeld bounds the deliveries held in memory: enough to keep the
// workers busy through a burst, small enough that an overloaded receiver
// pushes the backlog into the database (spilled, or River jobs on
// PostgreSQL) instead of into memory. It was 500 per worker, which the
// default of 20 workers made 10,000; it no longer grows with --workers,
// so that more attempts in flight do not also mean more memory.
const directHeld = 10_000

// job_id values of first attempts that are not River jobs.
const (
	jobHeld    = 0  // held in memory since Accept (SQLite)
	jobSpilled = -1 // stored for the feeder to read back (spill.go)
	// Below -1: held in memory by the node of that number, negated
	// (nodes.go, PostgreSQL).
)

// directJob is one first attempt held in memory.
type directJob struct {
	id, eventID string
	d           *actions.Delivery
	job         int64       // jobHeld, jobSpilled or a node's mark: the job_id its record expects
	retry       RetryPolicy // the delivery's, for tries to record it (unrecorded.go)
	trace       traceParent // its event's span, the parent of its attempt's
	rec         *unrecorded // set once made: only its record is left
	// erasures is direct.erasures read before the delivery was read from
	// the database (committed by Accept, or loaded by the feeder): when
	// it differs at run time, an erasure may have canceled the delivery.
	erasures int64
}

// direct is the in-memory queue of first attempts and its workers.
type direct struct {
	s     *Store
	queue chan directJob
	// nodes is the registry this node holds its rows under (PostgreSQL);
	// nil where one process owns the database, which spills instead.
	nodes *nodes
	// held counts deliveries reserved or queued, up to cap(queue): a
	// reservation made before the commit guarantees the send after it
	// never blocks.
	held atomic.Int64
	// spilled counts deliveries stored as spilled and not yet read back;
	// wake tells the feeder there may be some to read (see spill.go).
	spilled atomic.Int64
	wake    chan struct{}
	cursor  int64 // the feeder's: spill_seq up to which spilled rows were read
	// seq is the last spill_seq given to a row (schema.go, step 2).
	seq atomic.Int64
	// erasures counts the erasure transactions committed (Store.Erase).
	// A queued first attempt reads its delivery's state again before it
	// runs only when this moved since the delivery was read: erasures are
	// rare, and a read per first attempt is what this path saves.
	erasures atomic.Int64

	mu      sync.Mutex
	stop    context.CancelFunc // stops taking jobs
	cancel  context.CancelFunc // cancels attempts in flight
	running sync.WaitGroup

	// recording holds the attempts made whose record waits for another
	// try, by the timer that queues them again (unrecorded.go).
	recMu     sync.Mutex
	recording map[*time.Timer]directJob
}

func newDirect(s *Store, n *nodes) *direct {
	return &direct{
		s:         s,
		nodes:     n,
		queue:     make(chan directJob, max(s.cfg.held, s.cfg.Workers)),
		wake:      make(chan struct{}, 1),
		recording: map[*time.Timer]directJob{},
	}
}

// FirstAttempts reports the first attempts held in memory (queued, in
// flight or about to be queued) and those spilled to the database waiting
// for room (SQLite; on PostgreSQL nothing is spilled: beyond the bound a
// delivery gets a River job).
func (s *Store) FirstAttempts() (held, spilled int64) {
	if s.direct == nil {
		return 0, 0
	}
	return s.direct.held.Load(), max(s.direct.spilled.Load(), 0)
}

// reserve claims room for n deliveries, or reports false when memory is
// full (they are then spilled).
func (q *direct) reserve(n int) bool {
	if q == nil || n == 0 {
		return false
	}
	if q.held.Add(int64(n)) > int64(cap(q.queue)) {
		q.held.Add(-int64(n))
		return false
	}
	return true
}

func (q *direct) release(n int) { q.held.Add(-int64(n)) }

// mark is the job_id of the rows this process holds.
func (q *direct) mark() int64 {
	if q.nodes != nil {
		return q.nodes.held()
	}
	return jobHeld
}

// spills reports whether deliveries beyond the bound are stored for the
// feeder (one process owns the database) rather than queued in River.
func (q *direct) spills() bool { return q != nil && q.nodes == nil }

// erasureCount is the erasures committed so far, to stamp a job with
// before its delivery is read or committed; 0 without a direct queue.
func (q *direct) erasureCount() int64 {
	if q == nil {
		return 0
	}
	return q.erasures.Load()
}

// noteErasure is called after an erasure transaction commits.
func (q *direct) noteErasure() {
	if q != nil {
		q.erasures.Add(1)
	}
}

// stale reports whether job j must not run: its delivery was erased (or
// is gone) since it was read, or another node took it over. With one
// process, order makes a read rare: an erasure counts itself after its
// commit, and j was stamped before its delivery was read, so either the
// count moved and the row is read again here, or the erasure committed
// after this check, with the attempt in flight, whose record is then
// erased (finish). Nodes see no count of each other's erasures and read
// the row every time (a read shared by the attempts waiting for one,
// nodes.go). A failed read runs the attempt: holding it would
// stall the worker, and the database that failed the read would most
// likely fail the attempt's record too, which brings it back.
func (q *direct) stale(ctx context.Context, j directJob) bool {
	switch {
	case j.rec != nil:
		return false
	case q.nodes != nil:
		stale, err := q.nodes.checks.stale(ctx, j.id, j.job)
		return err == nil && stale
	case j.erasures == q.erasures.Load():
		return false
	}
	var erasedAt, job int64
	err := q.s.rdb.QueryRowContext(ctx, q.s.sql(`SELECT erased_at, job_id FROM hookline_delivery WHERE id = ?`), j.id).Scan(&erasedAt, &job)
	if errors.Is(err, sql.ErrNoRows) {
		return true
	}
	return err == nil && (erasedAt != 0 || job != j.job)
}

// push queues committed deliveries; their room was reserved.
func (q *direct) push(jobs ...directJob) {
	for _, j := range jobs {
		q.queue <- j
	}
}

// start starts the workers.
func (q *direct) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	take, stop := context.WithCancel(context.Background())
	work, cancel := context.WithCancel(context.Background())
	q.stop, q.cancel = stop, cancel
	for range q.s.cfg.Workers {
		q.running.Go(func() { q.work(take, work) })
	}
	if q.spills() {
		q.running.Go(func() { q.feed(take) })
	}
}

// halt stops taking jobs, waits for attempts in flight until ctx is done,
// then cancels them. Jobs not run stay queued for the next start or, if
// the process exits, for the next Open.
func (q *direct) halt(ctx context.Context) error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stop == nil {
		return nil
	}
	q.stop()
	done := make(chan struct{})
	go func() { q.running.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		q.cancel()
		<-done
	}
	q.cancel()
	q.stop, q.cancel = nil, nil
	q.queueRecords()
	if n := len(q.queue); n > 0 {
		// Stored as pending: the next start runs them, from memory in this
		// process or read back in the next (see recover).
		q.s.log.LogAttrs(ctx, slog.LevelInfo, "first attempts not started before the stop; they run on the next start",
			slog.Int("deliveries", n))
	}
	return err
}

func (q *direct) work(take, ctx context.Context) {
	for {
		// A stop wins over a waiting job, so that halt returns promptly.
		if take.Err() != nil {
			return
		}
		select {
		case <-take.Done():
			return
		case j := <-q.queue:
			q.run(ctx, j)
		}
	}
}

// run makes first attempt j, or only records it if it was made already.
func (q *direct) run(ctx context.Context, j directJob) {
	s := q.s
	if q.stale(ctx, j) {
		q.release(1)
		if q.spilled.Load() > 0 {
			q.signal()
		}
		return
	}
	d := *j.d // the queued copy stays as stored, for a rerun
	d.Attempt = 1
	ctx = s.withParent(ctx, j.trace)
	var log *slog.Logger
	var err error
	if j.rec == nil {
		actx, span := s.startAttempt(ctx, j.eventID, j.id, &d)
		log = s.attemptLog(actx, j.eventID, j.id, &d)
		var out actions.Outcome
		var next nextStep
		out, next, err = s.attempt(actx, log, j.id, &d, j.job)
		endAttempt(span, out, next, err)
	} else {
		log = s.attemptLog(ctx, j.eventID, j.id, &d)
		_, err = s.finish(ctx, j.id, j.job, j.rec.started, j.rec.out, log)
	}
	var nr *notRecorded
	switch {
	case err == nil:
		if j.rec != nil {
			s.health.waiting.Add(-1)
		}
		q.release(1)
		if q.spilled.Load() > 0 {
			q.signal()
		}
	case errors.As(err, &nr):
		// Sending it again would be a second send: record it later.
		q.notRecorded(ctx, j, log, nr)
	default:
		// Interrupted by a stop, so not an attempt: it runs on the next
		// start, from the queue, where its room is still reserved.
		q.queue <- j
	}
}

// recover takes over the first attempts a stopped process held in memory
// or had spilled: they become spilled, for the feeder to read back once the
// workers start, and the feeder's cursor starts before the oldest of them.
// Spilled rows that were run keep job_id -1 and are final, or retrying
// with a River job; the cursor and the feeder's status filter keep them
// from running again. Only valid when this process owns the database.
func (q *direct) recover(ctx context.Context) error {
	s := q.s
	var n, first, last int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE hookline_delivery SET job_id = ? WHERE status = ? AND job_id = ?`,
			jobSpilled, StatusPending, jobHeld); err != nil {
			return err
		}
		var top int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(spill_seq), 0) FROM hookline_delivery
			WHERE spill_seq > 0`).Scan(&top); err != nil {
			return err
		}
		// Rows that were held, or spilled by a version before spill_seq,
		// have no number: they get the next ones, in the order they were
		// stored. Among rows that exist together that is rowid order:
		// SQLite gives a new row a rowid above every row still there, and
		// these, pending, were never deleted.
		if _, err := tx.ExecContext(ctx, `UPDATE hookline_delivery SET spill_seq = ? + r.n
			FROM (SELECT rowid AS rid, row_number() OVER (ORDER BY rowid) AS n FROM hookline_delivery
				WHERE status = ? AND job_id = ? AND spill_seq = 0) AS r
			WHERE hookline_delivery.rowid = r.rid`, top, StatusPending, jobSpilled); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*), coalesce(min(spill_seq), 0),
			(SELECT coalesce(max(spill_seq), 0) FROM hookline_delivery WHERE spill_seq > 0)
			FROM hookline_delivery WHERE status = ? AND job_id = ?`, StatusPending, jobSpilled).Scan(&n, &first, &last)
	})
	if err != nil {
		return fmt.Errorf("delivery: take over first attempts a stopped process left: %w", err)
	}
	q.spilled.Store(n)
	q.seq.Store(last)
	q.cursor = last
	if n > 0 {
		q.cursor = first - 1
		s.log.LogAttrs(ctx, slog.LevelInfo, "first attempts a stopped process left will run", slog.Int64("deliveries", n))
	}
	return nil
}
