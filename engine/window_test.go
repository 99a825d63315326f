package engine

import (
	"testing"
	"time"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func weekdays(ds ...time.Weekday) (out [7]bool) {
	for _, d := range ds {
		out[d] = true
	}
	return out
}

func TestWindowNext(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	lh := mustZone(t, "Australia/Lord_Howe")
	all := weekdays(0, 1, 2, 3, 4, 5, 6)
	work := weekdays(time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday)
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		w    window
		loc  *time.Location
		t    time.Time
		want string // RFC 3339 in loc
	}{
		{"inside", window{all, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-02 10:00"), "2026-12-02T10:00:00-05:00"},
		{"opening minute is inside", window{all, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-02 08:00"), "2026-12-02T08:00:00-05:00"},
		{"closing minute is outside", window{all, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-02 20:00"), "2026-12-03T08:00:00-05:00"},
		{"before opening", window{all, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-02 06:59"), "2026-12-02T08:00:00-05:00"},
		{"friday night waits for monday", window{work, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-04 21:00"), "2026-12-07T08:00:00-05:00"},
		{"sunday waits for monday", window{work, 8 * 60, 20 * 60}, ny, at(ny, "2026-12-06 12:00"), "2026-12-07T08:00:00-05:00"},
		{"over midnight, late evening", window{all, 22 * 60, 6 * 60}, ny, at(ny, "2026-12-02 23:30"), "2026-12-02T23:30:00-05:00"},
		{"over midnight, early morning belongs to yesterday's window", window{all, 22 * 60, 6 * 60}, ny, at(ny, "2026-12-03 05:59"), "2026-12-03T05:59:00-05:00"},
		{"over midnight, midday waits", window{all, 22 * 60, 6 * 60}, ny, at(ny, "2026-12-03 12:00"), "2026-12-03T22:00:00-05:00"},
		{"over midnight into a day not listed", window{weekdays(time.Friday), 22 * 60, 6 * 60}, ny, at(ny, "2026-12-05 03:00"), "2026-12-05T03:00:00-05:00"},
		{"over midnight, the day before is not listed", window{weekdays(time.Saturday), 22 * 60, 6 * 60}, ny, at(ny, "2026-12-05 03:00"), "2026-12-05T22:00:00-05:00"},
		{"until 24:00", window{all, 9 * 60, 24 * 60}, ny, at(ny, "2026-12-02 23:59"), "2026-12-02T23:59:00-05:00"},
		{"whole day", window{weekdays(time.Monday), 0, 24 * 60}, ny, at(ny, "2026-12-02 12:00"), "2026-12-07T00:00:00-05:00"},
		{"opening in a spring-forward gap opens at the jump", window{all, 2*60 + 30, 4 * 60}, ny, at(ny, "2026-03-08 00:00"), "2026-03-08T03:00:00-04:00"},
		{"a half-hour gap too", window{all, 2*60 + 15, 4 * 60}, lh, time.Date(2026, 10, 3, 20, 0, 0, 0, lh), "2026-10-04T02:30:00+11:00"},
		{"a window wholly inside the skipped hour does not open that day", window{all, 2*60 + 16, 2*60 + 21}, ny, at(ny, "2026-03-08 01:58"), "2026-03-09T02:16:00-04:00"},
		{"opening in a repeated hour opens at the first", window{all, 1*60 + 30, 4 * 60}, ny, at(ny, "2026-11-01 00:00"), "2026-11-01T01:30:00-04:00"},
		{"a fall-back day is 25 hours long, still one window", window{all, 8 * 60, 20 * 60}, ny, at(ny, "2026-10-31 21:00"), "2026-11-01T08:00:00-05:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.w.next(tc.t, tc.loc).In(tc.loc).Format(time.RFC3339)
			if got != tc.want {
				t.Errorf("next(%s) = %s, want %s", tc.t.In(tc.loc).Format(time.RFC3339), got, tc.want)
			}
		})
	}
}

// Whatever the instant and zone, next never goes back in time, lands inside
// the window, and leaves an instant inside the window alone.
func FuzzWindowNext(f *testing.F) {
	f.Add(int64(1_765_000_000), uint8(0x3e), uint16(480), uint16(1200), uint8(0))
	f.Add(int64(1_772_953_200), uint8(0x7f), uint16(150), uint16(60), uint8(1))
	zones := []string{"America/New_York", "Australia/Lord_Howe", "Europe/London", "UTC", "Asia/Kathmandu"}
	f.Fuzz(func(t *testing.T, unix int64, days uint8, from, to uint16, zone uint8) {
		days &= 0x7f
		if days == 0 {
			return
		}
		from %= 1440
		to = to%1440 + 1
		if from == to {
			return
		}
		var w window
		for i := range w.days {
			w.days[i] = days&(1<<i) != 0
		}
		w.from, w.to = int(from), int(to)
		loc := mustZone(t, zones[int(zone)%len(zones)])
		at := time.Unix(unix%4_000_000_000, 0)
		got := w.next(at, loc)
		if got.Before(at) {
			t.Fatalf("next(%v) = %v, before it", at, got)
		}
		if !w.contains(got, loc) {
			t.Fatalf("next(%v) = %v, outside the window", at.In(loc), got.In(loc))
		}
		if w.contains(at, loc) && !got.Equal(at) {
			t.Fatalf("next(%v) = %v, moved an instant already inside", at.In(loc), got.In(loc))
		}
	})
}

// contains is the window's definition written the plain way, for the fuzz
// test to hold next to: the instant's wall clock is between from and to on
// a listed day, or before to on the day after a listed day when the window
// runs over midnight. Clock times skipped by DST count as reached.
func (w window) contains(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	clock := lt.Hour()*60 + lt.Minute()
	today := lt.Weekday()
	yesterday := (today + 6) % 7
	if w.from < w.to {
		return w.days[today] && clock >= w.from && clock < w.to
	}
	return (w.days[today] && clock >= w.from) || (w.days[yesterday] && clock < w.to)
}
