package delivery

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestEraseDuringLoad erases one participant while events of many others
// are accepted and delivered concurrently, some through retries, and
// proves that nothing of theirs remains while everyone else's data is all
// there. On SQLite it reads the database file and its WAL, byte by byte,
// after a checkpoint: with secure_delete, nothing the erasure overwrote
// survives in free space either.
func TestEraseDuringLoad(t *testing.T) { eachDB(t, testEraseDuringLoad) }

func testEraseDuringLoad(t *testing.T, db testDB) {
	ctx := context.Background()
	const (
		people       = 40
		eventsEach   = 8
		acceptors    = 16
		targetPerson = 7
	)
	everyone := make([]person, people)
	for i := range everyone {
		everyone[i] = person{
			name:  fmt.Sprintf("Patient Number%03d", i),
			email: fmt.Sprintf("patient%03d@clinic.example", i),
			phone: fmt.Sprintf("+1555010%04d", i),
		}
	}
	target := everyone[targetPerson]

	// The peer quotes every message in its answer, so attempts' excerpts
	// hold the data too, and refuses every third message's first try, so
	// that some deliveries are retrying (River jobs) when the erasure runs.
	var refusedOnce sync.Map
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		body := make([]byte, r.ContentLength)
		r.Body.Read(body)
		if bytes.Contains(body, []byte(`"n":0`)) {
			if _, seen := refusedOnce.LoadOrStore(string(body), true); !seen {
				status = http.StatusServiceUnavailable
			}
		}
		w.WriteHeader(status)
		w.Write(body)
	})
	s := openStore(t, db, nil)
	start(t, s)

	type sent struct {
		who int
		ev  NewEvent
		rc  Receipt
	}
	var mu sync.Mutex
	var stored []sent
	soon := RetryPolicy{Schedule: []time.Duration{time.Millisecond}, MaxAttempts: 3}
	send := func(who, k int) {
		p := everyone[who]
		ev := eventOf(p, fmt.Sprintf("p%d-e%d", who, k))
		for n := range 1 + k%2 {
			ev.Deliveries = append(ev.Deliveries, NewDelivery{Retry: soon, Delivery: httpAction(srv.URL,
				fmt.Sprintf(`{"to":%q,"text":"Hello %s, call %s","n":%d}`, p.email, p.name, p.phone, (k+n)%3))})
		}
		rc, err := s.Accept(ctx, ev)
		if err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		stored = append(stored, sent{who, ev, rc})
		mu.Unlock()
	}
	// run sends the events jobs lists from acceptors goroutines.
	run := func(jobs [][2]int) *sync.WaitGroup {
		var wg sync.WaitGroup
		ch := make(chan [2]int)
		for range acceptors {
			wg.Go(func() {
				for j := range ch {
					send(j[0], j[1])
				}
			})
		}
		go func() {
			for _, j := range jobs {
				ch <- j
			}
			close(ch)
		}()
		return &wg
	}
	var before, during [][2]int
	for who := range people {
		for k := range eventsEach {
			if who == targetPerson || k < eventsEach/2 {
				before = append(before, [2]int{who, k})
			} else {
				during = append(during, [2]int{who, k})
			}
		}
	}
	// The target's events are all stored, many still being delivered, when
	// the erasure runs beside the rest of the load.
	run(before).Wait()
	load := run(during)
	e := erase(t, s, EraseRequest{Kind: "email", Identifier: "email:" + target.email})
	load.Wait()
	if e.Events != eventsEach || e.Deliveries != eventsEach*3/2 {
		t.Errorf("erasure %+v, want %d events and %d deliveries", e, eventsEach, eventsEach*3/2)
	}

	// Quiet: every delivery has reached its end.
	deadline := time.Now().Add(waitTimeout)
	for {
		c, err := s.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c[StatusPending]+c[StatusRetrying] == 0 {
			if c[StatusFailed] != 0 {
				t.Errorf("counts %v: deliveries failed", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still running after %s: %v", waitTimeout, c)
		}
		time.Sleep(10 * time.Millisecond)
	}

	if got := holds(t, s, target); len(got) != 0 {
		t.Errorf("the erased participant's data remains in %q", got)
	}
	// Everybody else's data is all there, as sent and as answered.
	for _, st := range stored {
		if st.who == targetPerson {
			continue
		}
		ev, err := s.Event(ctx, st.rc.EventID)
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Raw) != string(st.ev.Raw) || ev.ErasedAt != nil {
			t.Errorf("%s: stored %s, want %s", st.rc.EventID, ev.Raw, st.ev.Raw)
		}
		for i, ref := range st.rc.Deliveries {
			det, err := s.Delivery(ctx, ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			body := st.ev.Deliveries[i].Delivery.Fields.Get("body").Text.String()
			last := det.Attempts[len(det.Attempts)-1]
			if det.Status != StatusDelivered || det.Content.Fields.Get("body").Text.String() != body || last.Response != body {
				t.Errorf("%s: %s, content %v, last answer %q; want delivered %q", ref.ID, det.Status, det.Content.Fields, last.Response, body)
			}
		}
	}
	if db.kind != "sqlite" {
		return
	}

	// The files themselves. The erasure checkpointed once; deliveries
	// recorded since wrote the WAL again, so checkpoint now that all is
	// quiet, and require that it completed.
	var secure, busy, logPages, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&secure); err != nil || secure != 1 {
		t.Fatalf("secure_delete = %d, %v; want 1", secure, err)
	}
	// Statement journals hold the old content of the pages a statement
	// changes; on disk they would be files outside the data directory.
	if n := pragma(t, s, "temp_store"); n != 2 {
		t.Fatalf("temp_store = %d; want 2 (memory)", n)
	}
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logPages, &done); err != nil || busy != 0 {
		t.Fatalf("checkpoint: busy %d, %v", busy, err)
	}
	file := filepath.Join(db.dir, sqliteFile)
	var all []byte
	for _, name := range []string{file, file + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, data := range []string{target.email, target.phone, target.name} {
		if n := bytes.Count(all, []byte(data)); n != 0 {
			t.Errorf("the database files hold %q %d times after the erasure", data, n)
		}
	}
	// The search would find them: the others' are there.
	other := everyone[targetPerson+1]
	for _, data := range []string{other.email, other.phone, other.name} {
		if !bytes.Contains(all, []byte(data)) {
			t.Errorf("the database files do not hold %q, which was not erased", data)
		}
	}
}
