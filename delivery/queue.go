package delivery

import "sync"

// closingQueue is what the batching loops (committer for Accept,
// txBatcher for attempt records, deliveredBatch and checks on PostgreSQL)
// share: a channel their callers send to and their loops drain. Callers send while holding mu for
// reading, so close, which takes it for writing, never closes the channel
// under a send.
type closingQueue[T any] struct {
	queue  chan T
	mu     sync.RWMutex // held for reading while sending on queue
	closed bool
	wg     sync.WaitGroup // the loops
}

// close stops taking requests, lets the loops finish what was queued and
// waits for them to end.
func (q *closingQueue[T]) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.queue)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// serve hands handle batches of up to limit requests until the queue is
// closed and drained: whatever queued while one batch was handled goes in
// the next, and a lone request goes at once.
func (q *closingQueue[T]) serve(limit int, handle func(batch []T)) {
	batch := make([]T, 0, limit)
	for first := range q.queue {
		batch = q.takeQueued(append(batch[:0], first), limit)
		handle(batch)
		clear(batch) // let handled requests be collected
	}
}

// takeQueued appends to batch what is queued now, up to limit in all, without
// waiting: what queued while the previous batch ran shares the next.
func (q *closingQueue[T]) takeQueued(batch []T, limit int) []T {
	for len(batch) < limit {
		select {
		case r, ok := <-q.queue:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}
