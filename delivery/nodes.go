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
)

// Nodes: first attempts held in memory where processes share the database
// (PostgreSQL).
//
// As on SQLite (direct.go), the node that accepts an event runs the first
// attempts of its deliveries from memory, skipping River's job insert (with
// its JSON indexes), fetch, the read of the delivery, and completion. What
// SQLite gets from owning the database, a node gets from a registry: each
// registers under a number that is never reused, marks the deliveries it
// holds with job_id = -number, and writes a heartbeat every nodeBeat. Every
// node sweeps: a node whose heartbeat is older than nodeDeadAfter is dead,
// and its held deliveries still pending are given River jobs, which any node
// runs, exactly as River's rescuer gives a dead node's running jobs to the
// others. Rows are locked while they are taken over, so a node that was only
// slow and records its attempt meanwhile either finishes first (the row is no
// longer pending) or finds the row taken (its record is kept and decides
// nothing, as for any superseded job): at least once, never lost.
//
// Two more sweeps close the gaps. A node that finds its own row gone was
// taken for dead: it registers again, under a new number, for what it
// accepts next. And every orphanScanEvery each node looks for held rows
// whose number has no registered node at all (a node taken for dead that
// committed an event after the sweep removed its row), which the heartbeat
// sweep alone could never find. A node that stops cleanly hands its held
// rows to River itself, so they wait for no timeout.
//
// A node also registers again when the database server restarted since it
// registered, and hands its old number's pending rows to River at once:
// records of delivered attempts commit without waiting for the WAL flush
// (openPostgres), so a crash of the server may have forgotten some, whose
// rows are pending again under a number whose node believes them done.
const (
	nodeBeat        = 2 * time.Second
	nodeDeadAfter   = 15 * time.Second
	orphanScanEvery = 30 * time.Second
	// takeoverBatch is the held rows given River jobs per transaction.
	takeoverBatch = 256
)

// nodes is this process's entry in the registry and its sweeper.
type nodes struct {
	s *Store
	// num is this node's number; its held rows carry job_id = -num.
	num atomic.Int64
	// serverStart is when the database server started, as register saw it
	// (backend.serverStart); written by register, which the heartbeat loop
	// alone calls once it runs.
	serverStart int64

	stop context.CancelFunc
	done sync.WaitGroup
	// checks batches the reads of held first attempts before they run.
	checks *checks
}

// startNodes registers this process and starts its heartbeat and sweeps.
func (s *Store) startNodes(ctx context.Context) (*nodes, error) {
	n := &nodes{s: s}
	if err := n.register(ctx); err != nil {
		return nil, err
	}
	loop, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.stop = stop
	n.done.Go(func() { n.run(loop) })
	n.checks = newChecks(s)
	return n, nil
}

// held is the job_id this node's held rows carry.
func (n *nodes) held() int64 { return -n.num.Load() }

// register takes a new number and enters it in the registry.
func (n *nodes) register(ctx context.Context) error {
	s := n.s
	var num, started int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.sql(`UPDATE hookline_setting SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT)
			WHERE name = 'node_seq' RETURNING CAST(value AS BIGINT)`)).Scan(&num); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, s.sql(`INSERT INTO hookline_node (num, seen_at) VALUES (?, `+s.be.clock+`)
			RETURNING `+s.be.serverStart), num).Scan(&started)
	})
	if err != nil {
		return fmt.Errorf("delivery: register this node: %w", err)
	}
	n.num.Store(num)
	n.serverStart = started
	return nil
}

func (n *nodes) run(ctx context.Context) {
	beat := time.NewTicker(nodeBeat)
	defer beat.Stop()
	lastScan := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
		}
		if err := n.beat(ctx); err != nil && ctx.Err() == nil {
			n.s.log.LogAttrs(ctx, slog.LevelWarn, "node heartbeat failed; other nodes take over this one's first attempts if it keeps failing",
				slog.String("error", err.Error()))
		}
		orphans := time.Since(lastScan) >= orphanScanEvery
		if orphans {
			lastScan = time.Now()
		}
		if err := n.sweep(ctx, orphans); err != nil && ctx.Err() == nil {
			n.s.log.LogAttrs(ctx, slog.LevelWarn, "taking over a dead node's first attempts failed; trying again shortly",
				slog.String("error", err.Error()))
		}
	}
}

// beat writes the heartbeat, registering again if another node took this
// one for dead and removed it, or if the server restarted since this node
// registered (then handing the old number's pending rows to River).
func (n *nodes) beat(ctx context.Context) error {
	s := n.s
	var started int64
	err := s.db.QueryRowContext(ctx, s.sql(`UPDATE hookline_node SET seen_at = `+s.be.clock+` WHERE num = ?
		RETURNING `+s.be.serverStart), n.num.Load()).Scan(&started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		s.log.LogAttrs(ctx, slog.LevelWarn, "other nodes took this one for dead and ran its first attempts; registering again",
			slog.Int64("node", n.num.Load()))
		return n.register(ctx)
	case err != nil:
		return err
	case started == n.serverStart:
		return nil
	}
	old := n.num.Load()
	if err := n.register(ctx); err != nil {
		return err
	}
	taken, err := n.takeover(ctx, old)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.sql(`DELETE FROM hookline_node WHERE num = ?`), old); err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "the database restarted: this node registered again, and its first attempts still pending, whose records a crash may have lost, run again through River",
		slog.Int64("node", old), slog.Int("deliveries", taken))
	return nil
}

// sweep takes over the held rows of dead nodes and, with orphans, of
// numbers no registered node has.
func (n *nodes) sweep(ctx context.Context, orphans bool) error {
	s := n.s
	dead, err := column[int64](ctx, s.db, s.sql(`SELECT num FROM hookline_node WHERE seen_at < `+s.be.clock+` - ? AND num <> ?`),
		s.cfg.nodeDeadAfter.Nanoseconds(), n.num.Load())
	if err != nil {
		return err
	}
	for _, num := range dead {
		taken, err := n.takeover(ctx, num)
		if err != nil {
			return err
		}
		// Removed only if it is still dead: a node that was only slow
		// keeps its number.
		if _, err := s.db.ExecContext(ctx, s.sql(`DELETE FROM hookline_node WHERE num = ? AND seen_at < `+s.be.clock+` - ?`),
			num, s.cfg.nodeDeadAfter.Nanoseconds()); err != nil {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "a node stopped sending heartbeats; its first attempts run on the others",
			slog.Int64("node", num), slog.Int("deliveries", taken))
	}
	if !orphans {
		return nil
	}
	// One statement, one snapshot: a node's row commits before any row
	// that carries its number.
	lost, err := column[int64](ctx, s.db, s.sql(`SELECT DISTINCT -job_id FROM hookline_delivery
		WHERE status = ? AND job_id < ? AND -job_id NOT IN (SELECT num FROM hookline_node)`), StatusPending, jobSpilled)
	if err != nil {
		return err
	}
	for _, num := range lost {
		taken, err := n.takeover(ctx, num)
		if err != nil {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "first attempts held by a node no longer registered run on the others",
			slog.Int64("node", num), slog.Int("deliveries", taken))
	}
	return nil
}

// takeover gives every pending row node num holds a River job, and returns
// how many it took. Rows are locked first: a record of the same row waits
// for the takeover (and then finds it superseded) or the takeover waits for
// the record (and then finds the row no longer pending).
func (n *nodes) takeover(ctx context.Context, num int64) (int, error) {
	s := n.s
	taken := 0
	for {
		var ids []string
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			ids, err = column[string](ctx, tx, s.sql(`SELECT id FROM hookline_delivery WHERE status = ? AND job_id = ?
				ORDER BY created_at, id LIMIT ?`+s.be.lockRows), StatusPending, -num, takeoverBatch)
			if err != nil || len(ids) == 0 {
				return err
			}
			now := s.cfg.Now()
			jobs := make([]jobAt, len(ids))
			for i, id := range ids {
				jobs[i] = jobAt{id: id, at: now}
			}
			jobIDs, err := s.insertJobs(ctx, tx, jobs, now)
			if err != nil {
				return err
			}
			for i, id := range ids {
				if _, err := tx.ExecContext(ctx, s.sql(`UPDATE hookline_delivery SET job_id = ? WHERE id = ?`), jobIDs[i], id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return taken, fmt.Errorf("take over the first attempts of node %d: %w", num, err)
		}
		taken += len(ids)
		if len(ids) < takeoverBatch {
			return taken, nil
		}
	}
}

// close stops the heartbeat and hands this node's held rows to River, then
// leaves the registry: nothing it held waits for a timeout. Called once the
// workers have stopped; if it fails, the others take over after
// nodeDeadAfter.
func (n *nodes) close(ctx context.Context) error {
	if n == nil {
		return nil
	}
	n.stop()
	n.done.Wait()
	n.checks.close()
	num := n.num.Load()
	taken, err := n.takeover(ctx, num)
	if err != nil {
		return err
	}
	if taken > 0 {
		n.s.log.LogAttrs(ctx, slog.LevelInfo, "first attempts not run before the stop are queued for any node", slog.Int("deliveries", taken))
	}
	_, err = n.s.db.ExecContext(ctx, n.s.sql(`DELETE FROM hookline_node WHERE num = ?`), num)
	return err
}

// checks batches the reads that held first attempts make before they run
// (direct.stale): whatever queued while one read ran shares the next, one
// statement for up to maxCheck rows instead of one each.
type checks struct {
	s *Store
	closingQueue[*checkReq]
	rows growth // read so far, for the statement's plan (replanned)
}

type checkReq struct {
	id    string
	job   int64
	stale bool
	err   error
	done  chan struct{}
}

const maxCheck = 256

func newChecks(s *Store) *checks {
	c := &checks{s: s}
	c.queue = make(chan *checkReq, maxCheck)
	c.wg.Go(c.run)
	return c
}

// stale reports whether delivery id was erased, is gone, or no longer
// carries job: then it must not run.
func (c *checks) stale(ctx context.Context, id string, job int64) (bool, error) {
	r := &checkReq{id: id, job: job, done: make(chan struct{})}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return false, errClosed
	}
	c.queue <- r
	c.mu.RUnlock()
	select {
	case <-r.done:
		return r.stale, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (c *checks) run() {
	c.serve(maxCheck, func(batch []*checkReq) {
		c.read(batch)
		for _, r := range batch {
			close(r.done)
		}
	})
}

func (c *checks) read(batch []*checkReq) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	ids := make([]string, len(batch))
	for i, r := range batch {
		ids[i] = r.id
		r.stale = true // unless its row says otherwise
	}
	rows, err := c.s.be.generic.QueryContext(ctx, c.rows.replanned(c.s.sql(`SELECT id, erased_at, job_id FROM hookline_delivery WHERE id = ANY(?)`), len(ids)), ids)
	if err == nil {
		found := make(map[string][2]int64, len(batch))
		for rows.Next() {
			var id string
			var erasedAt, job int64
			if err = rows.Scan(&id, &erasedAt, &job); err != nil {
				break
			}
			found[id] = [2]int64{erasedAt, job}
		}
		err = errors.Join(err, rows.Err(), rows.Close())
		for _, r := range batch {
			if v, ok := found[r.id]; ok {
				r.stale = v[0] != 0 || v[1] != r.job
			}
		}
	}
	if err != nil {
		for _, r := range batch {
			r.stale, r.err = false, err
		}
	}
}
