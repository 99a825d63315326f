package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// poison makes the database itself refuse events whose CloudEvents id
// starts with "poison", as a constraint or a full disk would.
func poison(t *testing.T, db testDB, s *Store) {
	t.Helper()
	ddl := `CREATE TRIGGER hookline_test_poison BEFORE INSERT ON hookline_event
		WHEN NEW.ce_id LIKE 'poison%' BEGIN SELECT RAISE(ABORT, 'poisoned'); END`
	if db.kind == "postgres" {
		ddl = `CREATE FUNCTION hookline_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.ce_id LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$;
			CREATE TRIGGER hookline_test_poison BEFORE INSERT ON hookline_event
			FOR EACH ROW EXECUTE FUNCTION hookline_test_poison()`
	}
	if _, err := s.db.Exec(ddl); err != nil {
		t.Fatal(err)
	}
}

// Concurrent accepts share transactions, yet each keeps its own outcome:
// duplicates within a batch and across batches get the original receipt,
// and an event the database refuses fails alone.
func TestGroupCommit(t *testing.T) { eachDB(t, testGroupCommit) }

func testGroupCommit(t *testing.T, db testDB) {
	s := openStore(t, db, nil)
	poison(t, db, s)
	ctx := context.Background()

	// 300 callers at once: 100 events sent three times each, 6 of them
	// poisoned.
	const distinct, copies = 100, 3
	id := func(i int) string {
		if i%17 == 0 {
			return fmt.Sprint("poison-", i)
		}
		return fmt.Sprint("e-", i)
	}
	receipts := make([][copies]Receipt, distinct)
	errs := make([][copies]error, distinct)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range distinct {
		for c := range copies {
			wg.Go(func() {
				<-gate
				ev := newEvent(id(i), NewDelivery{Delivery: httpAction("http://127.0.0.1:1/a", `{}`)},
					NewDelivery{Delivery: httpAction("http://127.0.0.1:1/b", `{}`)})
				rc, err := s.Accept(ctx, ev)
				receipts[i][c], errs[i][c] = rc, err
				if err == nil {
					// Accept returns after the commit: readers see it.
					if _, err := s.Event(ctx, rc.EventID); err != nil {
						t.Errorf("%s: accepted but not readable: %v", id(i), err)
					}
				}
			})
		}
	}
	close(gate)
	wg.Wait()

	stored := 0
	for i := range distinct {
		if strings.HasPrefix(id(i), "poison") {
			for c := range copies {
				if errs[i][c] == nil || !strings.Contains(errs[i][c].Error(), "poisoned") {
					t.Errorf("%s: err %v, want the database's refusal", id(i), errs[i][c])
				}
			}
			continue
		}
		stored++
		originals := 0
		for c := range copies {
			if errs[i][c] != nil {
				t.Fatalf("%s: %v (an event failed with its batch)", id(i), errs[i][c])
			}
			rc := receipts[i][c]
			if !rc.Duplicate {
				originals++
			}
			if first := receipts[i][0]; rc.EventID != first.EventID || len(rc.Deliveries) != 2 || rc.Deliveries[1] != first.Deliveries[1] {
				t.Errorf("%s: receipt %+v differs from %+v", id(i), rc, first)
			}
		}
		if originals != 1 {
			t.Errorf("%s: %d of %d copies stored it, want 1", id(i), originals, copies)
		}
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_event`); n != stored {
		t.Errorf("%d events stored, want %d", n, stored)
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_delivery`); n != 2*stored {
		t.Errorf("%d deliveries stored, want %d", n, 2*stored)
	}
	if n := queued(t, s); n != 2*stored {
		t.Errorf("%d attempts queued, want %d", n, 2*stored)
	}
	batches, events := s.commits.batches.Load(), s.commits.batched.Load()
	t.Logf("%d events in %d transactions", events, batches)
	if batches >= events {
		t.Errorf("%d transactions for %d events: nothing was batched", batches, events)
	}

	// Across batches: the same events again, one at a time.
	for i := range distinct {
		if strings.HasPrefix(id(i), "poison") {
			continue
		}
		rc := accept(t, s, newEvent(id(i)))
		if !rc.Duplicate || rc.EventID != receipts[i][0].EventID || len(rc.Deliveries) != 2 {
			t.Errorf("%s again: %+v", id(i), rc)
		}
	}
}

func TestAcceptAfterClose(t *testing.T) { eachDB(t, testAcceptAfterClose) }

func testAcceptAfterClose(t *testing.T, db testDB) {
	s := openStore(t, db, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Accept(ctx, newEvent("cancelled")); !errors.Is(err, context.Canceled) {
		t.Errorf("Accept with a cancelled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Accept(context.Background(), newEvent("late")); err == nil {
		t.Error("Accept after Close succeeded")
	}
}
