package delivery

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"time"
)

// Group commit: concurrent Accept calls share transactions. One transaction
// per event spends nearly all its time on fixed costs (BEGIN, preparing
// River's insert, COMMIT and, on PostgreSQL, the WAL flush), which a batch
// pays once.
const (
	// maxBatch bounds the events of one transaction, so that the write
	// lock is released regularly and one batch's latency stays small.
	maxBatch = 256
	// maxLinger is how long a batch may wait for callers already inside
	// Accept (preparing their rows) before it commits without them. A lone
	// caller never waits.
	maxLinger = time.Millisecond
	// batchTimeout bounds writing one batch, retries of its events alone
	// included. It does not come from any caller's context: one caller
	// giving up must not fail the others.
	batchTimeout = 30 * time.Second
)

var errClosed = errors.New("store is closed")

// acceptReq is one Accept waiting for its event to be committed.
type acceptReq struct {
	ev   NewEvent
	rows []deliveryRow
	// hashes are the event's identifiers as the erasure index keeps them,
	// computed before the transaction.
	hashes [][]byte
	trace  traceParent // stored with every delivery
	now    time.Time
	// direct: the first attempts are held in memory, not queued in River
	// (room reserved in Store.direct), their rows marked with job_id mark.
	direct bool
	mark   int64
	// fresh is the receipt the event gets if it is new: its IDs are chosen
	// before the transaction.
	fresh Receipt
	state atomic.Int32 // reqQueued, then reqTaken by a committer or reqAbandoned by its caller

	// Set by the committer before done is closed.
	out  Receipt
	err  error
	done chan struct{}
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// committer runs the group-commit loops.
type committer struct {
	s     *Store
	limit int // events per batch
	closingQueue[*acceptReq]
	// untaken counts Accept calls that have entered Accept and are not yet
	// taken for a transaction (nor given up): callers a filling batch can
	// expect shortly.
	untaken atomic.Int64
	// active counts transactions being written, a lone caller's included.
	active atomic.Int32

	// batches and batched count transactions and the events in them, for
	// the benchmark's events/batch.
	batches, batched atomic.Int64
}

// newCommitter starts loops committers of batches of at most limit events
// (maxBatch; 1 turns group commit off, for comparison in benchmarks).
func newCommitter(s *Store, loops, limit int) *committer {
	c := &committer{s: s, limit: limit}
	c.queue = make(chan *acceptReq, maxBatch*loops)
	for range loops {
		c.wg.Go(c.run)
	}
	return c
}

// submit queues r and waits for its outcome. A caller whose ctx ends before
// a batch takes its request gets ctx's error and nothing is stored; once
// taken, it waits for the commit, so that an error always means "not
// stored".
func (c *committer) submit(ctx context.Context, r *acceptReq) error {
	if err := ctx.Err(); err != nil { // or the select below might queue it anyway
		c.untaken.Add(-1)
		return err
	}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		c.untaken.Add(-1)
		return errClosed
	}
	if c.untaken.Load() == 1 && len(c.queue) == 0 && c.active.CompareAndSwap(0, 1) {
		// Alone, with no batch being written: commit in this goroutine.
		// Handing a lone event to a committer costs two goroutine
		// wake-ups, which on an idle machine add 10 % to a SQLite
		// transaction. While it runs, later callers queue for a batch.
		defer c.mu.RUnlock() // Close waits for this write
		defer c.active.Add(-1)
		c.untaken.Add(-1)
		r.state.Store(reqTaken)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		defer cancel()
		return c.write(ctx, []*acceptReq{r})
	}
	select {
	case c.queue <- r:
	case <-ctx.Done():
		c.mu.RUnlock()
		c.untaken.Add(-1)
		return ctx.Err()
	}
	c.mu.RUnlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		<-r.done
	}
	return r.err
}

func (c *committer) run() {
	batch := make([]*acceptReq, 0, c.limit)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for first := range c.queue {
		c.active.Add(1)
		batch = c.fill(append(batch[:0], first), linger)
		c.commit(batch)
		c.active.Add(-1)
		clear(batch) // let finished requests be collected
	}
}

// fill adds queued requests to batch until it is full, or nothing is
// queued and no caller is on its way, or maxLinger has passed.
func (c *committer) fill(batch []*acceptReq, linger *time.Timer) []*acceptReq {
	c.untaken.Add(-1)
	lingering := false
	defer linger.Stop()
	for len(batch) < c.limit {
		select {
		case r, ok := <-c.queue:
			if !ok {
				return batch
			}
			c.untaken.Add(-1)
			batch = append(batch, r)
			continue
		default:
		}
		if c.untaken.Load() <= 0 {
			return batch
		}
		if !lingering {
			lingering = true
			linger.Reset(maxLinger)
		}
		select {
		case r, ok := <-c.queue:
			if !ok {
				return batch
			}
			c.untaken.Add(-1)
			batch = append(batch, r)
		case <-linger.C:
			return batch
		}
	}
	return batch
}

// commit writes batch in one transaction. If that fails, each event gets a
// transaction of its own, so that one bad event fails alone. Requests for
// the same (source, id) in one batch are settled by the first: the others
// get its receipt as duplicates.
func (c *committer) commit(batch []*acceptReq) {
	var owners, followers []*acceptReq
	first := make(map[[2]string]*acceptReq, len(batch))
	leader := make(map[*acceptReq]*acceptReq)
	for _, r := range batch {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // its caller gave up before it was taken
		}
		key := [2]string{r.ev.Source, r.ev.CEID}
		if o := first[key]; o != nil {
			followers = append(followers, r)
			leader[r] = o
			continue
		}
		first[key] = r
		owners = append(owners, r)
	}
	if len(owners) == 0 {
		return
	}
	c.batches.Add(1)
	c.batched.Add(int64(len(owners)))
	// One deadline for the batch and its retries: if the database hangs,
	// the callers hear so after batchTimeout, not after one per event.
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := c.write(ctx, owners); err != nil {
		if len(owners) == 1 {
			owners[0].err = err
		} else {
			for _, r := range owners {
				r.err = c.write(ctx, []*acceptReq{r})
			}
		}
	}
	for _, r := range followers {
		if o := leader[r]; o.err == nil {
			r.out = o.out
			r.out.Duplicate = true
		} else {
			// The first failed, perhaps for its own content: this one may
			// still be stored.
			r.err = c.write(ctx, []*acceptReq{r})
		}
	}
	for _, r := range owners {
		close(r.done)
	}
	for _, r := range followers {
		close(r.done)
	}
}

// write stores reqs in one transaction and sets their receipts once it has
// committed.
func (c *committer) write(ctx context.Context, reqs []*acceptReq) error {
	outs := make([]Receipt, len(reqs))
	err := c.s.inTx(ctx, func(tx *sql.Tx) error { return c.s.writeEvents(ctx, tx, reqs, outs) })
	if err != nil {
		return err
	}
	for i, r := range reqs {
		r.out = outs[i]
	}
	return nil
}
