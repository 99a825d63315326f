package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// A person of the erasure tests: the identifiers their events carry, as
// the engine would list them, and the forms they take in the JSON.
type person struct{ name, email, phone string }

var (
	ann = person{"Ann Lee", "ann.lee@example.com", "+15550100123"}
	bob = person{"Bob Roe", "bob.roe@example.com", "+15550100456"}
)

func (p person) keys() []string { return []string{"email:" + p.email, "phone:" + p.phone} }

// eventOf is an event about p, carrying their identifiers, firing ds.
func eventOf(p person, ceID string, ds ...NewDelivery) NewEvent {
	return NewEvent{
		Source: "/clinic", CEID: ceID, Type: "participant.confirmed",
		Raw: fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"/clinic","type":"participant.confirmed","data":{"participant":{"name":%q,"email":%q,"phone":%q}}}`,
			ceID, p.name, p.email, p.phone),
		Deliveries:  ds,
		Identifiers: p.keys(),
	}
}

// messageTo is an http delivery whose body carries p's data, as a rendered
// message would.
func messageTo(url string, p person) NewDelivery {
	return NewDelivery{Delivery: httpAction(url, fmt.Sprintf(`{"to":%q,"text":"Hello %s, call %s"}`, p.email, p.name, p.phone))}
}

// echo answers status with the request's body, as a peer quoting what it
// was sent in an error would.
func echo(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		b := make([]byte, r.ContentLength)
		r.Body.Read(b)
		w.Write(b)
	}
}

func erase(t testing.TB, s *Store, req EraseRequest) Erasure {
	t.Helper()
	e, err := s.Erase(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// holds reports the places of the store that still hold any of p's data.
func holds(t testing.TB, s *Store, p person) []string {
	t.Helper()
	var found []string
	for _, q := range []struct{ where, query string }{
		{"an event", `SELECT raw FROM hookline_event`},
		{"a delivery's content", `SELECT content FROM hookline_delivery`},
		{"a delivery's last error", `SELECT last_error FROM hookline_delivery`},
		{"an attempt's error", `SELECT error FROM hookline_attempt`},
		{"an attempt's response", `SELECT response FROM hookline_attempt`},
	} {
		rows, err := s.rdb.QueryContext(context.Background(), q.query)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(v, p.name) || strings.Contains(v, p.email) || strings.Contains(v, p.phone) {
				found = append(found, q.where)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return found
}

// Erasing by an identifier erases every event carrying it, with their
// deliveries and attempts, cancels what has not run, keeps ids, times and
// statuses, leaves an audit row, and touches nobody else.
func TestEraseByIdentifier(t *testing.T) { eachDB(t, testEraseByIdentifier) }

func testEraseByIdentifier(t *testing.T, db testDB) {
	ctx := context.Background()
	ok, _ := receiver(t, echo(http.StatusOK))
	failing, _ := receiver(t, echo(http.StatusServiceUnavailable))
	s := openStore(t, db, nil)
	start(t, s)
	later := RetryPolicy{Schedule: []time.Duration{time.Hour}, MaxAttempts: 3}
	a1 := accept(t, s, eventOf(ann, "a1", messageTo(ok.URL, ann)))
	a2 := accept(t, s, eventOf(ann, "a2", NewDelivery{Delivery: messageTo(failing.URL, ann).Delivery, Retry: later}))
	b1 := accept(t, s, eventOf(bob, "b1", messageTo(ok.URL, bob)))
	waitStatus(t, s, a1.Deliveries[0].ID, StatusDelivered)
	waitStatus(t, s, a2.Deliveries[0].ID, StatusRetrying)
	waitStatus(t, s, b1.Deliveries[0].ID, StatusDelivered)
	if got := holds(t, s, ann); len(got) == 0 {
		t.Fatal("the test holds none of Ann's data to erase")
	}

	e := erase(t, s, EraseRequest{Kind: "email", Identifier: "email:" + ann.email})
	if e.Events != 2 || e.Deliveries != 2 || e.Canceled != 1 || e.Attempts != 2 || e.FinishedAt.IsZero() || !strings.HasPrefix(e.ID, "ers_") {
		t.Errorf("erasure %+v, want 2 events, 2 deliveries, 1 canceled, 2 attempts, finished", e)
	}
	if got := holds(t, s, ann); len(got) != 0 {
		t.Errorf("Ann's data remains in %q", got)
	}
	if got := holds(t, s, bob); !slices.Equal(got, []string{"an event", "a delivery's content", "an attempt's response"}) {
		t.Errorf("Bob's data is in %q, want the event, the content and the response", got)
	}

	// Ids, times and statuses stay; the data reads as erased.
	ev, err := s.Event(ctx, a1.EventID)
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Raw) != erasedEvent || ev.ErasedAt == nil || ev.CEID != "a1" || ev.Deliveries[0].Status != StatusDelivered {
		t.Errorf("erased event %+v", ev)
	}
	det, err := s.Delivery(ctx, a1.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if det.ErasedAt == nil || len(det.Content.Fields) != 0 || det.Address != "order.http.notify" ||
		det.Attempts[0].Response != erasedText || det.Attempts[0].StatusCode != 200 {
		t.Errorf("erased delivery %+v, attempts %+v", det.Summary, det.Attempts)
	}
	det, err = s.Delivery(ctx, a2.Deliveries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if det.Status != StatusCanceled || det.NextAttemptAt != nil || det.LastError != erasedText || det.Attempts[0].Error != erasedText {
		t.Errorf("the retrying delivery after the erasure: %+v, attempts %+v", det.Summary, det.Attempts)
	}
	if n := count(t, s, s.sql(`SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled')`)); n != 0 {
		t.Errorf("%d River jobs still waiting, want its retry's deleted", n)
	}
	if err := s.Retry(ctx, a2.Deliveries[0].ID); !errors.Is(err, ErrErased) {
		t.Errorf("Retry of an erased delivery: %v, want ErrErased", err)
	}
	if n, err := s.RetryMatching(ctx, Filter{Status: string(StatusCanceled)}); err != nil || n != 0 {
		t.Errorf("RetryMatching of canceled deliveries: %d, %v; want 0 and no error", n, err)
	}

	// The index rows went with the data: Ann's phone finds nothing now.
	if n := count(t, s, s.sql(`SELECT COUNT(*) FROM hookline_identifier WHERE event_id IN (?, ?)`), a1.EventID, a2.EventID); n != 0 {
		t.Errorf("%d index rows of erased events remain", n)
	}
	if again := erase(t, s, EraseRequest{Kind: "phone", Identifier: "phone:" + ann.phone}); again.Events != 0 {
		t.Errorf("erasing Ann's phone afterwards: %+v, want nothing", again)
	}
	// Nothing of Bob's was touched, and he can be erased by event.
	if byEvent := erase(t, s, EraseRequest{Kind: "event", EventID: b1.EventID}); byEvent.Events != 1 || byEvent.Attempts != 1 {
		t.Errorf("erasing Bob's event: %+v", byEvent)
	}
	if _, err := s.Erase(ctx, EraseRequest{Kind: "event", EventID: "evt_unknown"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("erasing an unknown event: %v, want ErrNotFound", err)
	}

	// The audit: newest first, with ids and statuses, never the data.
	list, err := s.Erasures(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if kinds := []string{list[0].Kind, list[1].Kind, list[2].Kind}; len(list) != 3 || !slices.Equal(kinds, []string{"event", "phone", "email"}) {
		t.Errorf("erasures %+v", list)
	}
	full, err := s.ErasureDetail(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []ErasedEvent{
		{EventID: a1.EventID, Deliveries: []ErasedDelivery{{ID: a1.Deliveries[0].ID, Status: StatusDelivered}}},
		{EventID: a2.EventID, Deliveries: []ErasedDelivery{{ID: a2.Deliveries[0].ID, Status: StatusCanceled, Canceled: true}}},
	}
	slices.SortFunc(want, func(a, b ErasedEvent) int { return strings.Compare(a.EventID, b.EventID) })
	if len(full.Erased) != 2 {
		t.Fatalf("audit events %+v", full.Erased)
	}
	for i, w := range want {
		got := full.Erased[i]
		if got.EventID != w.EventID || got.ReceivedAt.IsZero() || !slices.Equal(got.Deliveries, w.Deliveries) {
			t.Errorf("audit event %d: %+v, want %+v", i, got, w)
		}
	}
	if _, err := s.ErasureDetail(ctx, "ers_unknown"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an unknown erasure: %v, want ErrNotFound", err)
	}
	for _, q := range []string{`SELECT COUNT(*) FROM hookline_erasure WHERE kind LIKE '%@%' OR kind LIKE '%+%'`} {
		if n := count(t, s, q); n != 0 {
			t.Errorf("the audit holds an identifier")
		}
	}
}

// A first attempt that has not started when its delivery is erased never
// runs: on SQLite from memory or spilled, on PostgreSQL from River.
func TestErasedFirstAttemptsNeverRun(t *testing.T) { eachDB(t, testErasedFirstAttemptsNeverRun) }

func testErasedFirstAttemptsNeverRun(t *testing.T, db testDB) {
	srv, seen := receiver(t, nil)
	// One worker runs first attempts in the order they were stored, so
	// once Bob's (stored last) is delivered, Ann's had their turn.
	s := openStore(t, db, func(c *Config) { c.Workers = 1 })
	spill := 0
	if s.direct != nil {
		// Memory full for Ann's second event: it is spilled, and read
		// back after the erasure.
		accept(t, s, eventOf(ann, "a1", messageTo(srv.URL, ann)))
		spill = cap(s.direct.queue) - int(s.direct.held.Load())
		if !s.direct.reserve(spill) {
			t.Fatal("reserve failed")
		}
	}
	accept(t, s, eventOf(ann, "a2", messageTo(srv.URL, ann)))
	if spill > 0 {
		s.direct.release(spill)
	}
	e := erase(t, s, EraseRequest{Kind: "email", Identifier: "email:" + ann.email})
	if e.Canceled != e.Deliveries || e.Deliveries == 0 {
		t.Errorf("erasure %+v: every delivery should be canceled", e)
	}
	b := accept(t, s, eventOf(bob, "b1", messageTo(srv.URL, bob)))
	start(t, s)
	if got := next(t, seen).Body; !strings.Contains(got, bob.email) {
		t.Errorf("the receiver got %q first, want Bob's message", got)
	}
	waitStatus(t, s, b.Deliveries[0].ID, StatusDelivered)
	select {
	case r := <-seen:
		t.Errorf("the receiver got %q besides Bob's message", r.Body)
	default:
	}
	if n := count(t, s, `SELECT COUNT(*) FROM hookline_attempt`); n != 1 {
		t.Errorf("%d attempts recorded, want Bob's alone", n)
	}
}

// An attempt in flight when its delivery is erased is recorded with its
// excerpts erased, and leads nowhere: no retry follows.
func TestEraseDuringAnAttempt(t *testing.T) { eachDB(t, testEraseDuringAnAttempt) }

func testEraseDuringAnAttempt(t *testing.T, db testDB) {
	release := make(chan struct{})
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		echo(http.StatusServiceUnavailable)(w, r)
	})
	s := openStore(t, db, nil)
	start(t, s)
	soon := RetryPolicy{Schedule: []time.Duration{time.Millisecond}, MaxAttempts: 5}
	rc := accept(t, s, eventOf(ann, "a1", NewDelivery{Delivery: messageTo(srv.URL, ann).Delivery, Retry: soon}))
	next(t, seen) // in flight
	e := erase(t, s, EraseRequest{Kind: "event", EventID: rc.EventID})
	if e.Canceled != 1 || e.Attempts != 0 {
		t.Errorf("erasure %+v, want 1 delivery canceled and no attempt yet", e)
	}
	close(release)
	det := waitAttempts(t, s, rc.Deliveries[0].ID, 1)
	if det.Status != StatusCanceled || det.NextAttemptAt != nil || det.Attempts[0].Response != erasedText || det.Attempts[0].StatusCode != 503 {
		t.Errorf("after the attempt: %+v, attempts %+v", det.Summary, det.Attempts)
	}
	if got := holds(t, s, ann); len(got) != 0 {
		t.Errorf("Ann's data remains in %q", got)
	}
	if n := count(t, s, s.sql(`SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'scheduled', 'retryable')`)); n != 0 {
		t.Errorf("%d River jobs waiting after the erased attempt, want none", n)
	}
}

// The index's key is the store's: events accepted before a restart are
// found after it.
func TestErasureIndexSurvivesReopening(t *testing.T) { eachDB(t, testErasureIndexSurvivesReopening) }

func testErasureIndexSurvivesReopening(t *testing.T, db testDB) {
	ctx := context.Background()
	first, err := Open(ctx, Config{DataDir: db.dir, DatabaseURL: db.url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Accept(ctx, eventOf(ann, "a1")); err != nil {
		t.Fatal(err)
	}
	hash := first.identifierHash("phone:" + ann.phone)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, db, nil)
	if !bytes.Equal(s.identifierHash("phone:"+ann.phone), hash) {
		t.Error("the key changed when the store was opened again")
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT hash FROM hookline_identifier`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		if len(h) != identifierHashBytes || bytes.Contains(h, []byte("example")) || bytes.Contains(h, []byte("555")) {
			t.Errorf("the index holds %q", h)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	if e := erase(t, s, EraseRequest{Kind: "phone", Identifier: "phone:" + ann.phone}); e.Events != 1 {
		t.Errorf("erasure after reopening: %+v, want Ann's event", e)
	}
}

// An attempt in flight during the erasure that then delivers is recorded
// erased too, and leaves its delivery canceled, not delivered.
func TestEraseDuringAnAttemptThatDelivers(t *testing.T) {
	eachDB(t, testEraseDuringAnAttemptThatDelivers)
}

func testEraseDuringAnAttemptThatDelivers(t *testing.T, db testDB) {
	release := make(chan struct{})
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		echo(http.StatusOK)(w, r)
	})
	s := openStore(t, db, nil)
	start(t, s)
	rc := accept(t, s, eventOf(ann, "a1", NewDelivery{Delivery: messageTo(srv.URL, ann).Delivery}))
	next(t, seen) // in flight
	erase(t, s, EraseRequest{Kind: "event", EventID: rc.EventID})
	close(release)
	det := waitAttempts(t, s, rc.Deliveries[0].ID, 1)
	if det.Status != StatusCanceled || det.Attempts[0].Outcome != "delivered" || det.Attempts[0].Response != erasedText {
		t.Errorf("after the attempt: status %s, attempts %+v; want canceled, one delivered attempt with its response erased",
			det.Status, det.Attempts)
	}
	if got := holds(t, s, ann); len(got) != 0 {
		t.Errorf("Ann's data remains in %q", got)
	}
}
