package console_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for filling a store directly

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
	"github.com/hookline/hookline/server"
)

// BenchmarkPages times each console page, as real HTTP requests from a
// logged-in client to a real server, on a SQLite store of 1,000,000
// deliveries (issue 16: each page in 100 ms at most, and the deliveries
// page never counts the whole table). Two spreads: over the last 30 days
// (the default retention) and all in the last 24 hours, the worst case for
// the overview's and the triggers page's 24-hour counts.
//
// The store is filled once per schema and spread and kept under
// os.TempDir() (filling takes a minute or two); each run copies it, since
// the server locks its data directory. Its times are relative to when it
// was filled, so the server runs on a clock that starts there.
//
//	go test ./console -run '^$' -bench BenchmarkPages -benchtime 20x
func BenchmarkPages(b *testing.B) {
	if testing.Short() {
		b.Skip("fills a store of 1,000,000 deliveries")
	}
	for _, spread := range []struct {
		name string
		d    time.Duration
	}{{"spread=30d", 30 * 24 * time.Hour}, {"spread=24h", 24 * time.Hour}} {
		b.Run(spread.name, func(b *testing.B) {
			seed := benchSeed(b, spread.name, spread.d)
			benchPages(b, seed)
		})
	}
}

// The seeded store: how many of what, and the rules that made it.
const (
	benchDeliveries = 1_000_000
	// benchSeedVersion changes the cached file's name when the way it is
	// filled changes.
	benchSeedVersion = 1
	benchToken       = "adm-console-bench-token"
	// Event types the bench's triggers listen to, ten triggers each: one
	// account-wide, nine for one calendar each. An event's calendar is one
	// of benchCalendars, so it fires 1 + 9/15 = 1.6 deliveries on average.
	benchCalendars = 15
)

var benchTypes = []string{"participant.confirmed", "participant.not_coming", "participant.reminder_state_changed",
	"participant.invite_sent", "participant.checkin_state_changed"}

// benchTrigger is trigger i's name (0 <= i < 50).
func benchTrigger(i int) string {
	typ := strings.ReplaceAll(benchTypes[i/10], ".", "_")
	if i%10 == 0 {
		return fmt.Sprintf("t%02d_%s_all", i, typ)
	}
	return fmt.Sprintf("t%02d_%s_cal%d", i, typ, i%10)
}

// benchRules is the rule file: 50 triggers, one http action each, URLs on
// recv (nothing is sent during the bench: no stored delivery is held for a
// first attempt).
func benchRules(recv string) string {
	var sb strings.Builder
	for i := range 10 * len(benchTypes) {
		typ := benchTypes[i/10]
		if i%10 == 0 {
			fmt.Fprintf(&sb, "trigger %q {\n  description = \"Tell the CRM about %s, every calendar\"\n  on          = [%q]\n", benchTrigger(i), typ, typ)
		} else {
			fmt.Fprintf(&sb, "trigger %q {\n  description = \"Tell the CRM about %s on calendar %d\"\n  on          = [%q]\n", benchTrigger(i), typ, i%10, typ)
			fmt.Fprintf(&sb, "  when        = \"appointment.calendar.id == %d\"\n", i%10)
		}
		fmt.Fprintf(&sb, `
  action "http" "crm" {
    url     = "%s/crm/%d/${appointment.id}"
    headers = { "X-Api-Key" = env("CRM_KEY"), "Content-Type" = "application/json" }
    body    = jsonencode({
      event       = "%s"
      appointment = { id = appointment.id, title = appointment.title, start = appointment.start_time }
      participant = { id = participant.id, name = participant.name, email = participant.email, phone = participant.phone }
    })
  }
}

`, recv, i, typ)
	}
	return sb.String()
}

// benchEvent is event k of the seed as the sender posted it.
func benchEvent(k int, r *rand.Rand, at time.Time) (typ, ceID, raw string) {
	typ = benchTypes[r.Intn(len(benchTypes))]
	ceID = fmt.Sprintf("evt-%09d-%04x", k, r.Intn(1<<16))
	first := []string{"Ann", "Carla", "Dev", "Ines", "Marek", "Noor", "Olu", "Priya", "Sam", "Yuki"}[r.Intn(10)]
	last := []string{"Example", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad"}[r.Intn(8)]
	cal := 1 + r.Intn(benchCalendars)
	start := at.Add(time.Duration(24+r.Intn(24*14)) * time.Hour).Truncate(15 * time.Minute).UTC()
	raw = fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"https://app.apptoto.com/accounts/42","type":%q,"time":%q,`+
		`"datacontenttype":"application/json","data":{"appointment":{"id":%d,"external_id":"ext-%d","calendar":{"id":%d,"name":"Front desk %d"},`+
		`"title":"Checkup for %s %s","location":"Room %d, 1200 Main Street","start_time":%q,"end_time":%q,"time_zone":"America/Los_Angeles"},`+
		`"participant":{"id":%d,"name":"%s %s","first_name":%q,"last_name":%q,"phone":"+1555%07d","normalized_phone":"+1555%07d",`+
		`"email":"%s.%s.%d@example.org","reminder_state":"confirmed","previous_reminder_state":"pending"}}}`,
		ceID, typ, at.UTC().Format(time.RFC3339Nano), 500000+k, k, cal, cal, first, last, 1+r.Intn(12),
		start.Format(time.RFC3339), start.Add(30*time.Minute).Format(time.RFC3339),
		900000+k, first, last, first, last, k%10000000, k%10000000, strings.ToLower(first), strings.ToLower(last), k)
	return typ, ceID, raw
}

// benchStore is a filled store: its file, the moment its times lead up
// to, and what it holds (kept beside the file as JSON).
type benchStore struct {
	Path     string         `json:"-"`
	Anchor   time.Time      `json:"anchor"` // the newest delivery is just before it
	Spread   time.Duration  `json:"spread"`
	Events   int            `json:"events"`
	Counts   map[string]int `json:"counts"`
	FillTime time.Duration  `json:"fill_time"`
}

// benchSeed returns the cached store for this spread, filling it first
// when there is none for the current schema.
func benchSeed(b *testing.B, variant string, spread time.Duration) *benchStore {
	b.Helper()
	ctx := context.Background()
	// The schema as an empty store has it: its hash names the cache, so a
	// new migration (ours or River's) fills a new one.
	fresh := filepath.Join(b.TempDir(), "schema")
	if err := delivery.Migrate(ctx, delivery.Config{DataDir: fresh}); err != nil {
		b.Fatal(err)
	}
	version, schemaHash := benchSchema(b, filepath.Join(fresh, "hookline.db"))
	name := fmt.Sprintf("hookline-console-bench-s%d-%s-f%d-%s", version, schemaHash, benchSeedVersion, strings.ReplaceAll(variant, "=", ""))
	cache := filepath.Join(os.TempDir(), name+".db")
	meta := cache + ".json"
	if js, err := os.ReadFile(meta); err == nil {
		st := &benchStore{Path: cache}
		if _, serr := os.Stat(cache); serr == nil && json.Unmarshal(js, st) == nil {
			b.Logf("reusing %s (filled in %s)", cache, st.FillTime.Round(time.Second))
			return st
		}
	}
	b.Logf("filling %s: %d deliveries over %s", cache, benchDeliveries, spread)
	started := time.Now()
	st := benchFill(b, filepath.Join(fresh, "hookline.db"), spread)
	st.FillTime = time.Since(started)
	b.Logf("filled in %s: %d events, %v", st.FillTime.Round(time.Second), st.Events, st.Counts)
	// Into place by rename, so that an interrupted fill leaves no file
	// that looks whole.
	tmp := cache + ".tmp"
	if err := copyFile(filepath.Join(fresh, "hookline.db"), tmp); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, cache); err != nil {
		b.Fatal(err)
	}
	js, _ := json.Marshal(st)
	if err := os.WriteFile(meta, js, 0o644); err != nil {
		b.Fatal(err)
	}
	st.Path = cache
	return st
}

// benchSchema reads our schema version and hashes every table's and
// index's definition.
func benchSchema(b *testing.B, path string) (int, string) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var version int
	var ddl string
	if err := db.QueryRow(`SELECT MAX(version) FROM hookline_migration`).Scan(&version); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`SELECT group_concat(sql, ';') FROM (SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name)`).Scan(&ddl); err != nil {
		b.Fatal(err)
	}
	h := sha256.Sum256([]byte(ddl))
	return version, hex.EncodeToString(h[:4])
}

// benchFill fills the migrated store at path: benchDeliveries deliveries
// from events rendered by the engine against benchRules, received evenly
// over spread up to a minute before now, with their attempts, in large
// transactions of multi-row inserts. Statuses: 97 % delivered, 2 % failed,
// the rest retrying, pending, scheduled and canceled; deliveries still
// waiting for an attempt are among the newest, as in a store that keeps up.
func benchFill(b *testing.B, path string, spread time.Duration) *benchStore {
	ctx := context.Background()
	rulesDir := b.TempDir()
	benchWrite(b, filepath.Join(rulesDir, "rules.hcl"), benchRules("https://crm.example.com"))
	lookup := func(string) (string, bool) { return "x", true }
	set, compiled, diags := engine.LoadDir(rulesDir, rules.Options{Types: builtin.Types(), LookupEnv: lookup})
	if diags.HasErrors() {
		b.Fatalf("bench rules: %s", diags.Error())
	}
	eng := engine.New(engine.Options{FilterTimeout: time.Minute})

	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-1048576)&_pragma=foreign_keys(0)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()

	sched, _ := json.Marshal(delivery.DefaultSchedule)
	maxAttempts := len(delivery.DefaultSchedule) + 1
	st := &benchStore{Anchor: time.Now().Truncate(time.Second), Spread: spread, Counts: map[string]int{}}
	newest := st.Anchor.Add(-time.Minute)
	oldest := newest.Add(-spread + 10*time.Minute) // inside retention for a run of ten minutes
	// ~1.6 deliveries per event: this many events, then as many more as
	// needed to reach benchDeliveries.
	estEvents := benchDeliveries * 10 / 16
	r := rand.New(rand.NewSource(16))
	entropy := rand.New(rand.NewSource(61))

	ins := newBenchInserter(b, conn)
	ndel := 0
	var jobID int64 = 1000
	for k := 0; ndel < benchDeliveries; k++ {
		frac := min(float64(k)/float64(estEvents), 1)
		at := oldest.Add(time.Duration(frac*float64(newest.Sub(oldest))) + time.Duration(r.Intn(1000))*time.Microsecond)
		typ, ceID, raw := benchEvent(k, r, at)
		ev, err := eng.Decode(set.Schema, []byte(raw))
		if err != nil {
			b.Fatalf("event %d: %v\n%s", k, err, raw)
		}
		res := eng.Match(ctx, compiled, ev, engine.MatchOptions{Now: at})
		if len(res.Failures) > 0 || len(res.Fired) == 0 {
			b.Fatalf("event %d (%s): %d fired, failures %v", k, typ, len(res.Fired), res.Failures)
		}
		ms := ulid.Timestamp(at)
		evtID := "evt_" + ulid.MustNew(ms, entropy).String()
		ins.event(evtID, "https://app.apptoto.com/accounts/42", ceID, typ, at.UnixNano(), raw)
		st.Events++
		for seq, f := range res.Fired {
			if ndel == benchDeliveries {
				break
			}
			ndel++
			d := *f.Delivery
			d.ID = "dlv_" + ulid.MustNew(ms, entropy).String()
			d.Attempt = 0
			content, err := json.Marshal(&d)
			if err != nil {
				b.Fatal(err)
			}
			row := benchRow{id: d.ID, eventID: evtID, seq: seq, address: d.Address, trigger: d.Trigger, typ: d.Type, name: d.Name,
				created: at.UnixNano(), content: string(content), sched: string(sched), maxAttempts: maxAttempts}
			// The newest 3 % of the timeline holds what still waits.
			recent := frac > 0.97
			p := r.Float64()
			switch {
			case recent && p < 0.05: // 0.15 % of all
				row.status = "pending" // a retry asked for by hand, its River job not yet run
				jobID++
				row.jobID, row.requested, row.runBase = jobID, 1, 1
				row.attempt("permanent", 400, "HTTP 400: contact is locked")
				row.next = newest.UnixNano()
			case recent && p < 0.13: // 0.25 %
				row.status = "retrying"
				jobID++
				row.jobID = jobID
				row.attempt("retry", 503, "HTTP 503: service unavailable")
				row.next = newest.Add(5 * time.Minute).UnixNano()
			case recent && p < 0.23: // 0.3 %
				row.status = "scheduled"
				jobID++
				row.jobID = jobID
				row.due = newest.Add(time.Duration(1+r.Intn(72)) * time.Hour).UnixNano()
				row.note = "24h before appointment.start_time"
				row.correlation = fmt.Sprintf("appt-%d", 500000+k)
			case p < 0.003:
				row.status = "canceled"
				row.due = at.Add(24 * time.Hour).UnixNano()
				row.note = "24h before appointment.start_time"
				row.correlation = fmt.Sprintf("appt-%d", 500000+k)
				row.canceledBy = "by hand"
			case p < 0.023:
				row.status = "failed"
				row.attempt("permanent", 410, "HTTP 410: the contact was deleted")
			default:
				row.status = "delivered"
				row.attempt("delivered", 200, "")
			}
			st.Counts[row.status]++
			ins.delivery(row)
		}
	}
	ins.flush()
	if _, err := conn.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchRow is one delivery row and its attempt.
type benchRow struct {
	id, eventID, address, trigger, typ, name, status, content, sched string
	seq, maxAttempts, requested, runBase                             int
	created, next, due                                               int64
	jobID                                                            int64
	note, correlation, canceledBy                                    string
	attempts                                                         int
	outcome, lastError                                               string
	code                                                             int
}

func (r *benchRow) attempt(outcome string, code int, errText string) {
	r.attempts, r.outcome, r.code, r.lastError = 1, outcome, code, errText
}

// benchInserter batches rows into multi-row INSERTs, committing every
// 100,000 deliveries.
type benchInserter struct {
	b                      *testing.B
	conn                   *sql.Conn
	tx                     *sql.Tx
	events, dels, attempts []any
	n                      int
}

const benchBatch = 64

// The inserts of benchInserter, every column of each table (schema.go's
// migrations): 7 per event, 28 per delivery, 9 per attempt.
const (
	insertEvents     = `INSERT INTO hookline_event (id, source, ce_id, type, received_at, raw, erased_at) VALUES `
	insertDeliveries = `INSERT INTO hookline_delivery (id, event_id, seq, address, trigger_name, type, name, status, attempts,
		created_at, updated_at, next_attempt_at, last_error, content, retry_schedule, max_attempts, job_id, retry_requested,
		spill_seq, run_base, erased_at, due_at, late_after, schedule_note, correlation, canceled_by, traceparent, tracestate) VALUES `
	insertAttempts = `INSERT INTO hookline_attempt (delivery_id, number, started_at, outcome, status_code, duration, error, response, provider_id) VALUES `
)

func newBenchInserter(b *testing.B, conn *sql.Conn) *benchInserter {
	return &benchInserter{b: b, conn: conn}
}

func (in *benchInserter) event(id, source, ceID, typ string, at int64, raw string) {
	in.events = append(in.events, id, source, ceID, typ, at, raw, 0)
	if len(in.events) == 7*benchBatch {
		in.exec(insertEvents, 7, &in.events)
	}
}

func (in *benchInserter) delivery(r benchRow) {
	updated := r.created
	var next any
	if r.next != 0 {
		next = r.next
	}
	if r.attempts > 0 {
		started := r.created + int64(3*time.Millisecond)
		dur := int64(40*time.Millisecond) + r.created%int64(200*time.Millisecond)
		updated = started + dur
		response := ""
		if r.code >= 300 {
			response = `{"error":"` + strings.ToLower(http.StatusText(r.code)) + `","request_id":"req_` + r.id[len(r.id)-10:] + `"}`
		}
		in.attempts = append(in.attempts, r.id, 1, started, r.outcome, r.code, dur, r.lastError, response, "")
	}
	in.dels = append(in.dels, r.id, r.eventID, r.seq, r.address, r.trigger, r.typ, r.name, r.status, r.attempts,
		r.created, updated, next, r.lastError, r.content, r.sched, r.maxAttempts, r.jobID, r.requested,
		0, r.runBase, 0, r.due, 0, r.note, r.correlation, r.canceledBy, "", "")
	if len(in.dels) == 28*benchBatch {
		in.exec(insertDeliveries, 28, &in.dels)
	}
	if len(in.attempts) >= 9*benchBatch {
		in.exec(insertAttempts, 9, &in.attempts)
	}
	if in.n++; in.n%100_000 == 0 {
		in.commit()
	}
}

// exec inserts the rows in *args (cols values each) and empties it.
func (in *benchInserter) exec(head string, cols int, args *[]any) {
	if len(*args) == 0 {
		return
	}
	if in.tx == nil {
		var err error
		if in.tx, err = in.conn.BeginTx(context.Background(), nil); err != nil {
			in.b.Fatal(err)
		}
	}
	row := "(?" + strings.Repeat(", ?", cols-1) + ")"
	q := head + row + strings.Repeat(", "+row, len(*args)/cols-1)
	if _, err := in.tx.Exec(q, *args...); err != nil {
		in.b.Fatalf("filling the store: %v", err)
	}
	*args = (*args)[:0]
}

func (in *benchInserter) commit() {
	if in.tx == nil {
		return
	}
	if err := in.tx.Commit(); err != nil {
		in.b.Fatal(err)
	}
	in.tx = nil
}

// flush writes what is left, events first (deliveries refer to them).
func (in *benchInserter) flush() {
	in.exec(insertEvents, 7, &in.events)
	in.exec(insertDeliveries, 28, &in.dels)
	in.exec(insertAttempts, 9, &in.attempts)
	in.commit()
}

func benchWrite(b *testing.B, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.Fatal(err)
	}
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// benchServer is a server on a copy of a filled store, and a logged-in
// client of its console.
type benchServer struct {
	url  string
	c    *http.Client
	csrf string
}

func startBench(b *testing.B, seed *benchStore) *benchServer {
	b.Helper()
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := copyFile(seed.Path, filepath.Join(data, "hookline.db")); err != nil {
		b.Fatal(err)
	}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(recv.Close)
	rulesDir := filepath.Join(dir, "rules")
	if err := os.MkdirAll(filepath.Join(rulesDir, "events"), 0o755); err != nil {
		b.Fatal(err)
	}
	benchWrite(b, filepath.Join(rulesDir, "rules.hcl"), benchRules(recv.URL))
	_, _, example := benchEvent(7, rand.New(rand.NewSource(7)), seed.Anchor)
	benchWrite(b, filepath.Join(rulesDir, "events", "confirmed.json"), example)

	// The store's times lead up to its anchor: the server's clock starts
	// there.
	start := time.Now()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Options{
		RulesDir:        rulesDir,
		DataDir:         data,
		Listener:        ln,
		AllowCIDRs:      []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		ShutdownTimeout: 5 * time.Second,
		Watch:           "off",
		Retention:       30 * 24 * time.Hour,
		Auth:            server.AuthOptions{AdminToken: benchToken, IngestTokens: []string{"ingest-token"}},
		LookupEnv:       func(string) (string, bool) { return "bench-crm-key", true },
		Now:             func() time.Time { return seed.Anchor.Add(time.Since(start)) },
	})
	if err != nil {
		cancel()
		b.Fatal(err)
	}
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() { done <- srv.Run(ctx, func(addr string) { ready <- addr }) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		b.Fatalf("Run: %v", err)
	}
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	})
	bs := &benchServer{url: "http://" + addr}
	jar, _ := cookiejar.New(nil)
	bs.c = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, body, hdr := bs.do(b, "POST", "/login", url.Values{"token": {benchToken}, "next": {"/"}})
	if status != http.StatusSeeOther {
		b.Fatalf("login: %d %s", status, body)
	}
	// The jar keeps Secure cookies only for https URLs, and expired ones
	// not at all: the session's expiry is on the server's clock, which
	// may be days behind. Keep it as a browser on localhost would.
	u, _ := url.Parse(bs.url)
	for _, ck := range (&http.Response{Header: hdr}).Cookies() {
		ck.Secure, ck.Expires, ck.MaxAge = false, time.Time{}, 0
		jar.SetCookies(u, []*http.Cookie{ck})
	}
	_, page, _ := bs.do(b, "GET", "/try", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.Fatalf("no CSRF token on /try:\n%s", page)
	}
	bs.csrf = m[1]
	return bs
}

// do sends one request: a GET, or a POST of form.
func (bs *benchServer) do(b *testing.B, method, path string, form url.Values) (int, string, http.Header) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, bs.url+path, body)
	if err != nil {
		b.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := bs.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	return resp.StatusCode, string(out), resp.Header
}

var nextPage = regexp.MustCompile(`href="(/deliveries\?[^"]*cursor=[^"]*)"`)

// benchIDs are the rows the detail pages show, read from the cached file.
type benchIDs struct {
	failed, event string
}

func readBenchIDs(b *testing.B, seed *benchStore) benchIDs {
	db, err := sql.Open("sqlite", seed.Path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var ids benchIDs
	// A failed delivery and a two-delivery event from the middle of the
	// table.
	if err := db.QueryRow(`SELECT id FROM hookline_delivery WHERE status = 'failed' ORDER BY created_at LIMIT 1 OFFSET ?`,
		seed.Counts["failed"]/2).Scan(&ids.failed); err != nil {
		b.Fatal(err)
	}
	if err := db.QueryRow(`SELECT event_id FROM hookline_delivery WHERE created_at >= ? AND seq = 1 ORDER BY created_at LIMIT 1`,
		seed.Anchor.Add(-seed.Spread/2).UnixNano()).Scan(&ids.event); err != nil {
		b.Fatal(err)
	}
	return ids
}

func benchPages(b *testing.B, seed *benchStore) {
	ids := readBenchIDs(b, seed)
	bs := startBench(b, seed)
	const smallTrigger = 13 // one calendar's: 0.8 % of the deliveries
	trigger := benchTrigger(smallTrigger)
	mid := seed.Anchor.Add(-seed.Spread / 2).UTC()
	day := url.Values{"since": {mid.Add(-12 * time.Hour).Format("2006-01-02T15:04")}, "until": {mid.Add(12 * time.Hour).Format("2006-01-02T15:04")}}

	// The second page's link, as the first page gives it.
	_, first, _ := bs.do(b, "GET", "/deliveries", nil)
	m := nextPage.FindStringSubmatch(first)
	if m == nil {
		b.Fatalf("the first page links to no next page")
	}
	page2 := html.UnescapeString(m[1])

	type page struct {
		name, method, path string
		form               url.Values
		want               string // in the answer, to know it is the page asked for
	}
	tryForm := url.Values{"csrf": {bs.csrf}, "event": {func() string {
		_, _, raw := benchEvent(3, rand.New(rand.NewSource(3)), seed.Anchor)
		return raw
	}()}}
	pages := []page{
		{"overview", "GET", "/", nil, "Deliveries by status"},
		{"overview-live", "GET", "/?part=live", nil, "Deliveries by status"},
		{"triggers", "GET", "/triggers", nil, trigger},
		{"deliveries", "GET", "/deliveries", nil, "dlv_"},
		{"deliveries-failed", "GET", "/deliveries?status=failed", nil, "dlv_"},
		{"deliveries-trigger", "GET", "/deliveries?trigger=" + trigger, nil, "dlv_"},
		{"deliveries-trigger-failed", "GET", "/deliveries?status=failed&trigger=" + trigger, nil, "dlv_"},
		{"deliveries-day", "GET", "/deliveries?" + day.Encode(), nil, "dlv_"},
		{"deliveries-page2", "GET", page2, nil, "dlv_"},
		{"deliveries-rows", "GET", "/deliveries?part=rows", nil, "dlv_"},
		{"delivery", "GET", "/deliveries/" + ids.failed, nil, ids.failed},
		{"event", "GET", "/events/" + ids.event, nil, ids.event},
		{"try", "POST", "/try", tryForm, "crm"},
		{"retry-confirm", "GET", "/deliveries/retry?status=failed", nil, "More than 10000"},
		// The triggers page's links to one action's deliveries, and to its
		// failed ones; an action with none yet (added to the busiest
		// trigger since).
		{"deliveries-address", "GET", "/deliveries?address=" + trigger + ".http.crm", nil, "dlv_"},
		{"deliveries-address-failed", "GET", "/deliveries?status=failed&address=" + trigger + ".http.crm", nil, "dlv_"},
		{"deliveries-address-none", "GET", "/deliveries?address=" + benchTrigger(0) + ".http.audit", nil, "Deliveries"},
		// The busiest trigger (12.5 % of the deliveries) with a status it
		// has none of: without status in the trigger index, every one of
		// its deliveries was read to find none.
		{"deliveries-trigger-none", "GET", "/deliveries?status=expired&trigger=" + benchTrigger(0), nil, "Deliveries"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			// Once untimed: the answer is checked, and SQLite's page cache
			// holds what a person clicking around would have loaded.
			status, body, _ := bs.do(b, p.method, p.path, p.form)
			if status != http.StatusOK || !strings.Contains(body, p.want) {
				b.Fatalf("%s %s: %d, want 200 with %q:\n%s", p.method, p.path, status, p.want, clipBody(body))
			}
			var took []time.Duration
			for b.Loop() {
				t0 := time.Now()
				if status, _, _ := bs.do(b, p.method, p.path, p.form); status != http.StatusOK {
					b.Fatalf("%s %s: %d", p.method, p.path, status)
				}
				took = append(took, time.Since(t0))
			}
			var sum time.Duration
			for _, d := range took {
				sum += d
			}
			b.ReportMetric(float64(sum.Microseconds())/1000/float64(len(took)), "ms/op")
			b.ReportMetric(float64(slices.Max(took).Microseconds())/1000, "max-ms")
		})
	}
}

func clipBody(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}
