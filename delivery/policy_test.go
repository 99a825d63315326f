package delivery

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

func TestRetryPolicy(t *testing.T) {
	t.Parallel()
	def, err := RetryPolicy{}.resolved()
	if err != nil || def.MaxAttempts != 8 || !slices.Equal(def.Schedule, DefaultSchedule) {
		t.Fatalf("default: %+v, %v", def, err)
	}
	def.Schedule[0] = 0
	if DefaultSchedule[0] != 5*time.Second {
		t.Fatal("a resolved policy aliases DefaultSchedule")
	}
	capped, _ := RetryPolicy{MaxAttempts: 3}.resolved()
	if capped.MaxAttempts != 3 || len(capped.Schedule) != 7 {
		t.Errorf("max_attempts only: %+v", capped)
	}
	none, err := RetryPolicy{Schedule: []time.Duration{}}.resolved()
	if err != nil || none.MaxAttempts != 1 || none.Schedule == nil {
		t.Errorf("empty schedule: %+v, %v", none, err)
	}
	if _, err := (RetryPolicy{Schedule: []time.Duration{-time.Second}}).resolved(); err == nil {
		t.Error("negative delay accepted")
	}

	p := RetryPolicy{Schedule: []time.Duration{10 * time.Second, time.Minute}, MaxAttempts: 5}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		n    int
		rnd  float64
		want time.Duration
	}{
		{1, 0.5, 10 * time.Second}, // no jitter at the middle
		{1, 0, 8 * time.Second},    // -20%
		{1, 1, 12 * time.Second},   // +20% (the bound rand never reaches)
		{2, 0.5, time.Minute},
		{4, 0.5, time.Minute}, // the last delay repeats
	} {
		got := p.nextAttempt(tt.n, now, time.Time{}, func() float64 { return tt.rnd }).Sub(now)
		if got != tt.want {
			t.Errorf("after attempt %d with rand %v: %s, want %s", tt.n, tt.rnd, got, tt.want)
		}
	}
	later := now.Add(time.Hour)
	if got := p.nextAttempt(1, now, later, func() float64 { return 0.5 }); !got.Equal(later) {
		t.Errorf("Retry-After later than the schedule: %s", got)
	}
	if got := p.nextAttempt(1, now, now.Add(time.Second), func() float64 { return 0.5 }); !got.Equal(now.Add(10 * time.Second)) {
		t.Errorf("Retry-After sooner than the schedule: %s", got)
	}
}

func TestNewID(t *testing.T) {
	t.Parallel()
	// The ULID alphabet: no I, L, O or U.
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	// 1767225600123 ms, worked out by hand (not by ulid) as 01KDVDNA3V: a
	// wrong bit order or time unit shows here.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC)
	a := newID("dlv_", t0)
	if len(a) != 30 || !strings.HasPrefix(a, "dlv_01KDVDNA3V") || strings.Trim(a[4:], crockford) != "" {
		t.Fatalf("id %q", a)
	}
	if id, err := ulid.ParseStrict(a[4:]); err != nil || !id.Timestamp().Equal(t0) {
		t.Errorf("ulid.ParseStrict(%q) = %v (time %s), %v; want time %s", a[4:], id, id.Timestamp(), err, t0)
	}

	// Later times sort later, across a carry in every part of the time.
	times := []time.Time{t0}
	for _, d := range []time.Duration{time.Millisecond, 31 * time.Millisecond, time.Second, time.Hour, 24 * 365 * time.Hour} {
		times = append(times, times[len(times)-1].Add(d))
	}
	var ids []string
	for _, tm := range times {
		ids = append(ids, newID("dlv_", tm))
	}
	if !slices.IsSorted(ids) {
		t.Errorf("IDs of increasing times do not sort: %q", ids)
	}

	// Within one millisecond the 80 random bits (the last 16 characters)
	// tell IDs apart; each character of them changes across 64 IDs unless
	// its bits are not random (chance 32^-63).
	same := make([]string, 64)
	for i := range same {
		same[i] = newID("x", t0)
	}
	slices.Sort(same)
	if len(slices.Compact(slices.Clone(same))) != len(same) {
		t.Error("two IDs in the same millisecond are equal")
	}
	for pos := len("x") + 10; pos < len(same[0]); pos++ {
		varies := false
		for _, id := range same[1:] {
			varies = varies || id[pos] != same[0][pos]
		}
		if !varies {
			t.Errorf("random character %d is %c in all %d IDs", pos-len("x")-10, same[0][pos], len(same))
		}
	}
}

func TestMissingExecutorIsDeadLetter(t *testing.T) { eachDB(t, testMissingExecutorIsDeadLetter) }

func testMissingExecutorIsDeadLetter(t *testing.T, db testDB) {
	s := openStore(t, db, nil)
	start(t, s)
	d := httpAction("http://127.0.0.1:1", "")
	d.Type = "sms"
	id := accept(t, s, newEvent("e1", NewDelivery{Delivery: d})).Deliveries[0].ID
	det := waitStatus(t, s, id, StatusFailed)
	if !strings.Contains(det.LastError, `no executor for action type "sms"`) {
		t.Errorf("last error %q", det.LastError)
	}
}
