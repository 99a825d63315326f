package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for filling a store directly

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/internal/pgtest"
)

// deliveryMix is how many stored deliveries are in each status besides
// delivered, which is the rest.
type deliveryMix struct {
	total, pending, retrying, failed int
}

// BenchmarkScrape measures one GET /metrics with 1,000,000 deliveries
// stored: "typical" keeps 2 % dead letters and a small backlog; "dead100k"
// and "dead500k" let dead letters pile up to a tenth and a half of the
// table, since the count's cost follows the deliveries not delivered.
// Every scrape counts here (the server reuses a count for storeGaugesTTL;
// this times the scrape that does not). PostgreSQL runs when
// HOOKLINE_TEST_DATABASE_URL is set.
func BenchmarkScrape(b *testing.B) {
	mixes := []struct {
		name string
		mix  deliveryMix
	}{
		{"typical", deliveryMix{total: 1_000_000, pending: 5_000, retrying: 5_000, failed: 20_000}},
		{"dead100k", deliveryMix{total: 1_000_000, pending: 5_000, retrying: 5_000, failed: 100_000}},
		{"dead500k", deliveryMix{total: 1_000_000, pending: 5_000, retrying: 5_000, failed: 500_000}},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		for _, m := range mixes {
			b.Run(kind+"/"+m.name, func(b *testing.B) {
				benchmarkScrape(b, kind, m.mix)
			})
		}
	}
}

func benchmarkScrape(b *testing.B, kind string, mix deliveryMix) {
	cfg := delivery.Config{DataDir: b.TempDir()}
	if kind == "postgres" {
		cfg = delivery.Config{DatabaseURL: pgtest.URL(b)} // skips without PostgreSQL
	}
	store, err := delivery.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	fillDeliveries(b, cfg, mix)
	m := newMetrics()
	m.watchStore(store, 0) // every scrape a query: the cost a scrape can meet
	h := m.handler()

	scrape := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	// A scrape that answers quickly with wrong numbers would be no result.
	got := scrape()
	for _, want := range []string{
		fmt.Sprintf("hookline_deliveries_pending %d\n", mix.pending),
		fmt.Sprintf("hookline_deliveries_retrying %d\n", mix.retrying),
		fmt.Sprintf("hookline_deliveries_dead %d\n", mix.failed),
	} {
		if !strings.Contains(got, want) {
			b.Fatalf("metrics lack %q", want)
		}
	}
	for b.Loop() {
		scrape()
	}
}

// fillDeliveries inserts mix.total deliveries (two per event) straight into
// the store's tables, in one statement each, so that a million rows take
// seconds rather than the minutes Accept would. The newest rows are the
// pending and retrying ones, as in a store that keeps up; dead letters are
// spread over the older ones.
func fillDeliveries(b *testing.B, cfg delivery.Config, mix deliveryMix) {
	b.Helper()
	older := mix.total - mix.pending - mix.retrying
	step := older / mix.failed // every step-th older row failed, mix.failed of them
	status := fmt.Sprintf(`CASE
		WHEN i >= %[1]d THEN 'pending'
		WHEN i >= %[2]d THEN 'retrying'
		WHEN i %% %[3]d = 0 AND i < %[4]d THEN 'failed'
		ELSE 'delivered' END`, older+mix.retrying, older, step, step*mix.failed)
	// About the size of a rendered http action.
	content := `'{"id":"dlv","event_id":"ce","address":"bench.http.h","trigger":"bench","type":"http","name":"h",` +
		`"http":{"method":"POST","url":[{"text":"https://crm.example.com/hooks/bookings"}],` +
		`"headers":{"X-Api-Key":[{"env":"CRM_API_KEY"}]},"body":[{"text":"{\"appointment\":{\"id\":12345}}"}]}}'`
	const t0 = int64(1_767_225_600_000_000_000) // 2026-01-01, nanoseconds
	var db *sql.DB
	var err error
	var events, deliveries string
	if cfg.DatabaseURL != "" {
		db, err = sql.Open("pgx", cfg.DatabaseURL)
		events = fmt.Sprintf(`INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
			SELECT 'evt_' || lpad(i::text, 26, '0'), '/bench', 'ce-' || i, 'participant.confirmed', %[2]d + i * 2000000, '{}'
			FROM generate_series(0::bigint, %[1]d - 1) AS i`, (mix.total+1)/2, t0)
		deliveries = fmt.Sprintf(`INSERT INTO hookline_delivery (id, event_id, seq, address, trigger_name, type, name,
				status, attempts, created_at, updated_at, next_attempt_at, last_error, content, retry_schedule,
				max_attempts, job_id, retry_requested)
			SELECT 'dlv_' || lpad(i::text, 26, '0'), 'evt_' || lpad((i / 2)::text, 26, '0'), i %% 2, 'bench.http.h', 'bench', 'http', 'h',
				%[3]s, 1, %[2]d + i * 1000000, %[2]d + i * 1000000, NULL, '', %[4]s, '["5s","5m"]', 8, 0, 0
			FROM generate_series(0::bigint, %[1]d - 1) AS i`, mix.total, t0, status, content)
	} else {
		db, err = sql.Open("sqlite", filepath.Join(cfg.DataDir, "hookline.db")+"?_pragma=busy_timeout(5000)")
		gen := func(n int) string {
			return fmt.Sprintf(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d - 1) `, n)
		}
		events = gen((mix.total+1)/2) + fmt.Sprintf(`INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw)
			SELECT printf('evt_%%026d', i), '/bench', 'ce-' || i, 'participant.confirmed', %d + i * 2000000, '{}' FROM n`, t0)
		deliveries = gen(mix.total) + fmt.Sprintf(`INSERT INTO hookline_delivery (id, event_id, seq, address, trigger_name, type, name,
				status, attempts, created_at, updated_at, next_attempt_at, last_error, content, retry_schedule,
				max_attempts, job_id, retry_requested)
			SELECT printf('dlv_%%026d', i), printf('evt_%%026d', i / 2), i %% 2, 'bench.http.h', 'bench', 'http', 'h',
				%[2]s, 1, %[1]d + i * 1000000, %[1]d + i * 1000000, NULL, '', %[3]s, '["5s","5m"]', 8, 0, 0
			FROM n`, t0, status, content)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{events, deliveries} {
		if _, err := db.Exec(q); err != nil {
			b.Fatalf("filling the store: %v", err)
		}
	}
	if cfg.DatabaseURL != "" {
		// What autovacuum does soon after a bulk load, here at once so that
		// runs do not depend on when it gets round to it.
		if _, err := db.Exec(`VACUUM ANALYZE hookline_delivery`); err != nil {
			b.Fatal(err)
		}
	}
}
