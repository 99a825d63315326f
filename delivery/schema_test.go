package delivery

import (
	"context"
	"slices"
	"testing"
)

// olderStore is db migrated to version v of our schema only, for a test to
// fill as that version would have; close it before opening the store.
func olderStore(t *testing.T, db testDB, v int) *Store {
	t.Helper()
	ctx := context.Background()
	cfg := Config{DataDir: db.dir, DatabaseURL: db.url}.withDefaults()
	be, err := openBackend(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{cfg: cfg, log: cfg.Logger, db: be.write, rdb: be.read, be: be}
	if err := s.migrateTo(ctx, v); err != nil {
		be.close()
		t.Fatal(err)
	}
	return s
}

// Attempts stored before version 3 that ended a delivery for want of
// attempts read "retry"; the migration makes them read "failed".
func TestMigrationMarksExhaustedAttemptsFailed(t *testing.T) {
	eachDB(t, testMigrationMarksExhaustedAttemptsFailed)
}

func testMigrationMarksExhaustedAttemptsFailed(t *testing.T, db testDB) {
	ctx := context.Background()
	old := olderStore(t, db, 2)
	deliveries := []struct {
		id     string
		status Status
		tried  []string // outcomes as stored
	}{
		{"dlv_exhausted", StatusFailed, []string{"retry", "retry"}},
		{"dlv_refused", StatusFailed, []string{"retry", "permanent"}},
		{"dlv_delivered", StatusDelivered, []string{"retry", "delivered"}},
		{"dlv_retrying", StatusRetrying, []string{"retry"}},
	}
	if _, err := old.db.ExecContext(ctx, `INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
		VALUES ('evt_1', '/test', 'e1', 'order.created', 1, '{}')`); err != nil {
		t.Fatal(err)
	}
	for i, d := range deliveries {
		if _, err := old.db.ExecContext(ctx, old.sql(`INSERT INTO hookline_delivery
			(id, event_id, seq, address, trigger_name, type, name, status, attempts, created_at, updated_at,
			 last_error, content, retry_schedule, max_attempts, job_id, retry_requested)
			VALUES (?, 'evt_1', ?, 'order.http.notify', 'order', 'http', 'notify', ?, ?, 1, 1, '', '{}', '[1]', 2, 1, 0)`),
			d.id, i, d.status, len(d.tried)); err != nil {
			t.Fatal(err)
		}
		for n, o := range d.tried {
			if _, err := old.db.ExecContext(ctx, old.sql(`INSERT INTO hookline_attempt
				(delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id)
				VALUES (?, ?, 1, ?, 503, 1, '', '', '')`), d.id, n+1, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := old.be.close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, db, nil)
	want := map[string][]string{
		"dlv_exhausted": {"1:retry:503", "2:failed:503"},
		"dlv_refused":   {"1:retry:503", "2:permanent:503"},
		"dlv_delivered": {"1:retry:503", "2:delivered:503"},
		"dlv_retrying":  {"1:retry:503"},
	}
	for id, w := range want {
		det, err := s.Delivery(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := outcomes(det.Attempts); !slices.Equal(got, w) {
			t.Errorf("%s: attempts %v, want %v", id, got, w)
		}
	}
	if v, err := s.schemaVersion(ctx); err != nil || v != len(migrations) {
		t.Errorf("schema version %d, %v; want %d", v, err, len(migrations))
	}
}
