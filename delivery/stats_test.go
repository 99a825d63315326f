package delivery

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestStats(t *testing.T) { eachDB(t, testStats) }

// testStats accepts deliveries a minute apart, some delivered and some
// failed, and checks every console query against what was accepted when.
func testStats(t *testing.T, db testDB) {
	ok, _ := receiver(t, nil)
	bad, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	s := openStore(t, db, func(c *Config) { c.Now = clk.Now })
	ctx := context.Background()

	// Minute i gets i%3+1 deliveries of a.http.notify (delivered) and, on
	// odd minutes, one of b.http.notify (failed for good).
	wantDelivered, wantFailed := map[int]int{}, map[int]int{}
	for i := range 10 {
		clk.Set(t0.Add(time.Duration(i)*time.Minute + 30*time.Second))
		var ds []NewDelivery
		for range i%3 + 1 {
			d := httpAction(ok.URL, `{}`)
			d.Trigger, d.Address = "a", "a.http.notify"
			ds = append(ds, NewDelivery{Delivery: d})
			wantDelivered[i]++
		}
		if i%2 == 1 {
			d := httpAction(bad.URL, `{}`)
			d.Trigger, d.Address = "b", "b.http.notify"
			ds = append(ds, NewDelivery{Delivery: d})
			wantFailed[i]++
		}
		accept(t, s, newEvent(fmt.Sprint("e", i), ds...))
	}
	start(t, s)
	waitCounts(t, s, map[Status]int{StatusDelivered: 19, StatusFailed: 5})

	// From minute 4 on: minutes 4..9.
	since := t0.Add(4 * time.Minute)
	counts, err := s.CountsSince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if counts[StatusDelivered] != 12 || counts[StatusFailed] != 3 || counts[StatusPending] != 0 || len(counts) != len(allStatuses) {
		t.Errorf("CountsSince(minute 4) = %v, want 12 delivered, 3 failed, every status present", counts)
	}

	// Minutes 2 to 8 in steps of 2 minutes: [2,4) [4,6) [6,8).
	buckets, err := s.Activity(ctx, t0.Add(2*time.Minute), t0.Add(8*time.Minute), 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(buckets) != 3 {
		t.Fatalf("Activity: %d buckets, want 3", len(buckets))
	}
	for b, bk := range buckets {
		m := 2 + 2*b
		if !bk.Start.Equal(t0.Add(time.Duration(m)*time.Minute)) || bk.Delivered != wantDelivered[m]+wantDelivered[m+1] || bk.Failed != wantFailed[m]+wantFailed[m+1] {
			t.Errorf("bucket %d = %+v, want start minute %d, %d delivered, %d failed", b, bk, m,
				wantDelivered[m]+wantDelivered[m+1], wantFailed[m]+wantFailed[m+1])
		}
	}

	byAction, err := s.ActionCounts(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := byAction["a.http.notify"], byAction["b.http.notify"]; a[StatusDelivered] != 12 || a[StatusFailed] != 0 || b[StatusFailed] != 3 || b[StatusDelivered] != 0 || len(byAction) != 2 {
		t.Errorf("ActionCounts(minute 4) = %v", byAction)
	}

	// A trigger's deliveries in one status are read an action at a time
	// (merged) and paged like any list.
	for _, c := range []struct {
		f    Filter
		want int
	}{
		{Filter{Trigger: "a", Status: "delivered"}, 19},
		{Filter{Trigger: "a", Status: "failed"}, 0},
		{Filter{Trigger: "b", Status: "failed"}, 5},
		{Filter{Trigger: "b", Status: "failed", Since: since}, 3},
		{Filter{Trigger: "nope", Status: "failed"}, 0},
	} {
		got := allPages(t, s, c.f, 2)
		seen := map[string]bool{}
		for i, d := range got {
			if d.Trigger != c.f.Trigger || string(d.Status) != c.f.Status || seen[d.ID] ||
				(i > 0 && (d.CreatedAt.After(got[i-1].CreatedAt) || (d.CreatedAt.Equal(got[i-1].CreatedAt) && d.ID > got[i-1].ID))) {
				t.Errorf("%+v: row %d %+v out of place", c.f, i, d)
			}
			seen[d.ID] = true
		}
		if len(got) != c.want {
			t.Errorf("%+v: %d deliveries in pages of 2, want %d", c.f, len(got), c.want)
		}
	}

	for _, c := range []struct {
		f    Filter
		max  int
		n    int
		more bool
	}{
		{Filter{Status: "failed"}, 100, 5, false},
		{Filter{Status: "failed"}, 5, 5, false},
		{Filter{Status: "failed"}, 4, 4, true},
		{Filter{Trigger: "a", Since: since}, 100, 12, false},
		{Filter{Status: "delivered", Trigger: "b"}, 100, 0, false},
		{Filter{Status: "failed", Cursor: "ignored", Limit: 1}, 100, 5, false},
	} {
		n, more, err := s.CountMatching(ctx, c.f, c.max)
		if err != nil || n != c.n || more != c.more {
			t.Errorf("CountMatching(%+v, %d) = %d, %v, %v; want %d, %v", c.f, c.max, n, more, err, c.n, c.more)
		}
	}
}
