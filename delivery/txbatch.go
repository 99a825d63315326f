package delivery

import (
	"context"
	"database/sql"
	"sync/atomic"
)

// txBatcher runs small write transactions of concurrent callers together:
// whatever queued while the previous transaction ran shares the next one.
// Recording an attempt is three statements, and its COMMIT costs more than
// all of them; under load the workers' records share commits, and a lone
// record still commits at once (there is no waiting to fill a batch).
//
// Each closure must be safe to run twice: when a shared transaction fails,
// every closure in it runs again in a transaction of its own, so that one
// failing record fails alone.
type txBatcher struct {
	s     *Store
	limit int
	closingQueue[*txReq]
	// shared counts transactions run for more than one caller.
	shared atomic.Int64
}

type txReq struct {
	ctx  context.Context
	f    func(*sql.Tx) error
	err  error
	done chan struct{}
}

// maxTxBatch bounds the closures of one shared transaction.
const maxTxBatch = 64

func newTxBatcher(s *Store, loops int) *txBatcher {
	b := &txBatcher{s: s, limit: maxTxBatch}
	b.queue = make(chan *txReq, maxTxBatch*max(loops, 1))
	for range loops {
		b.wg.Go(b.run)
	}
	return b
}

// do runs f in a write transaction, perhaps shared, and returns once it has
// committed or failed. ctx bounds the transaction f runs in: give it a
// deadline, because a shared transaction ends at the earliest of its
// callers' deadlines (and the others then run again alone).
func (b *txBatcher) do(ctx context.Context, f func(*sql.Tx) error) error {
	r := &txReq{ctx: ctx, f: f, done: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		// Closing: run alone rather than fail a record that can still be
		// written.
		return b.s.inTx(ctx, f)
	}
	b.queue <- r
	b.mu.RUnlock()
	<-r.done
	return r.err
}

func (b *txBatcher) run() { b.serve(b.limit, b.commit) }

func (b *txBatcher) commit(batch []*txReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	if len(batch) == 1 {
		batch[0].err = b.s.inTx(batch[0].ctx, batch[0].f)
		return
	}
	b.shared.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, r := range batch {
		stop := context.AfterFunc(r.ctx, cancel)
		defer stop()
	}
	err := b.s.inTx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if err := r.f(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	for _, r := range batch {
		r.err = b.s.inTx(r.ctx, r.f)
	}
}
