package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
)

// deliveredBatch records the delivered attempts of concurrent workers on
// PostgreSQL in one statement each batch: what queued while the previous
// statement ran shares the next. One statement per attempt was one
// transaction per delivery, with its round trip and its commit, and was
// most of what PostgreSQL did for a delivery (bench/README.md, "A third
// round"). A lone record still runs at once.
//
// Each attempt is recorded exactly as recordDelivered records it alone:
// only if its job is still the delivery's, which was neither erased nor
// asked to be retried meanwhile. The statement reports which were; the
// others take record's full path, as they would alone. Both, in a batch
// or alone, run on the sessions that commit without waiting for the WAL
// flush (openPostgres).
type deliveredBatch struct {
	s *Store
	closingQueue[*deliveredReq]
	rows growth // recorded so far, for writeMany's plan (replanned)
}

type deliveredReq struct {
	id      string
	job     int64
	started time.Time
	out     actions.Outcome

	recorded bool
	err      error
	done     chan struct{}
}

const (
	// maxDelivered bounds the attempts of one statement.
	maxDelivered = 64
	// deliveredLoops is how many statements may run at once. One: these
	// sessions do not wait for the WAL flush (synchronous_commit = off),
	// so a second loop no longer overlapped a commit's wait; it mostly
	// took records as they came, alone, each a statement that cost
	// PostgreSQL 135 µs against 83–88 µs a row in a batch. With two loops
	// 27 % of the records ran alone; with one, 9 %, and PostgreSQL's CPU
	// per event fell by 5 % (bench/README.md, "A seventh round").
	deliveredLoops = 1
)

func newDeliveredBatch(s *Store) *deliveredBatch {
	b := &deliveredBatch{s: s}
	b.queue = make(chan *deliveredReq, maxDelivered*deliveredLoops)
	for range deliveredLoops {
		b.wg.Go(b.run)
	}
	return b
}

// record records attempt out of delivery id, made by job, if it is the
// common case, and reports whether it was. It returns once the record has
// committed or failed.
func (b *deliveredBatch) record(ctx context.Context, id string, job int64, started time.Time, out actions.Outcome) (bool, error) {
	r := &deliveredReq{id: id, job: job, started: started, out: out, done: make(chan struct{})}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return b.s.recordDelivered(ctx, b.s.db, id, job, started, out)
	}
	b.queue <- r
	b.mu.RUnlock()
	<-r.done
	return r.recorded, r.err
}

func (b *deliveredBatch) run() {
	b.serve(maxDelivered, func(batch []*deliveredReq) {
		b.write(batch)
		for _, r := range batch {
			close(r.done)
		}
	})
}

func (b *deliveredBatch) write(batch []*deliveredReq) {
	ctx, cancel := context.WithTimeout(context.Background(), b.s.recordTimeout())
	defer cancel()
	if len(batch) > 1 {
		err := b.writeMany(ctx, batch)
		if err == nil {
			return
		}
		// One bad record, or a deadlock with an erasure that took the
		// same rows in another order: each alone, as without batching.
		b.s.log.Debug("delivery: a batch of delivered attempts failed; recording them one by one", "attempts", len(batch), "error", err)
	}
	for _, r := range batch {
		r.recorded, r.err = b.s.recordDelivered(ctx, b.s.be.generic, r.id, r.job, r.started, r.out)
	}
}

// writeMany is recordDelivered's statement for many attempts.
//
// Its plan is chosen again as the table grows (growth.replanned), and
// "t.id = ANY" beside the join keeps even a generic plan on the primary
// key.
//
// The input is sorted by ID, as an erasure's rows mostly are; should the
// two still take the same rows in opposite orders, PostgreSQL breaks the
// deadlock and the batch's records run one by one (write).
func (b *deliveredBatch) writeMany(ctx context.Context, batch []*deliveredReq) error {
	slices.SortFunc(batch, func(x, y *deliveredReq) int { return strings.Compare(x.id, y.id) })
	n := len(batch)
	ids, jobs, started := make([]string, n), make([]int64, n), make([]int64, n)
	codes, durations := make([]int64, n), make([]int64, n)
	errs, responses, providers := make([]string, n), make([]string, n), make([]string, n)
	for i, r := range batch {
		ids[i], jobs[i], started[i] = r.id, r.job, nanos(r.started)
		codes[i], durations[i] = int64(r.out.StatusCode), int64(r.out.Duration)
		errs[i], responses[i], providers[i] = r.out.Error, r.out.Response, r.out.ProviderID
	}
	rows, err := b.s.be.generic.QueryContext(ctx, b.rows.replanned(b.s.sql(`WITH input AS (
			SELECT * FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[])
				WITH ORDINALITY AS i (id, job, started, status_code, duration, error, response, provider_id, ord)
		), d AS (
			UPDATE hookline_delivery AS t SET attempts = t.attempts + 1, updated_at = ?, status = ?, last_error = '',
				next_attempt_at = NULL, canceled_by = ''
			FROM input WHERE t.id = ANY(?::text[]) AND t.id = input.id AND t.job_id = input.job
				AND t.erased_at = 0 AND t.retry_requested = 0
			RETURNING t.id, t.attempts
		)
		INSERT INTO hookline_attempt (delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id)
		SELECT d.id, d.attempts, input.started, ?, input.status_code, input.duration, input.error, input.response, input.provider_id
		FROM d JOIN input ON input.id = d.id
		RETURNING delivery_id`), n),
		ids, jobs, started, codes, durations, errs, responses, providers,
		nanos(b.s.cfg.Now()), StatusDelivered, ids, actions.Delivered.String())
	if err != nil {
		return err
	}
	recorded := make(map[string]bool, n)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		recorded[id] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	if len(recorded) > n {
		return fmt.Errorf("%d attempts recorded for %d", len(recorded), n)
	}
	for _, r := range batch {
		r.recorded = recorded[r.id]
	}
	return nil
}
