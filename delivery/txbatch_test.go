package delivery

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"
)

// Concurrent records share transactions, and one that fails fails alone.
func TestTxBatcherSharesAndIsolates(t *testing.T) {
	s := openStore(t, newTestDB(t, "sqlite"), nil)
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE scratch (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// A batcher whose loop starts once every caller has queued, so that
	// they all share its first transaction.
	b := newTxBatcher(s, 0)
	defer b.close()
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := i
			if i == 7 {
				key = 3 // a duplicate key: this one must fail, alone
			}
			rctx, cancel := context.WithTimeout(ctx, waitTimeout)
			defer cancel()
			errs[i] = b.do(rctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(rctx, `INSERT INTO scratch (k) VALUES (?)`, key)
				return err
			})
		})
	}
	deadline := time.Now().Add(waitTimeout)
	for len(b.queue) < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	b.wg.Go(b.run)
	wg.Wait()

	for i, err := range errs {
		// Which of 3 and 7 loses depends on which ran first.
		if i != 3 && i != 7 && err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if (errs[3] == nil) == (errs[7] == nil) {
		t.Errorf("callers 3 and 7 insert the same key: want exactly one error, got %v and %v", errs[3], errs[7])
	}
	if got := count(t, s, `SELECT COUNT(*) FROM scratch`); got != n-1 {
		t.Errorf("%d rows, want %d: a failing closure took others with it", got, n-1)
	}
	if got := b.shared.Load(); got == 0 {
		t.Error("no transaction was shared by queued callers")
	}
}
