package engine

import "time"

// window is a schedule's send window in the terms its arithmetic needs:
// the weekdays it opens on and the wall-clock minutes after midnight it
// opens and closes at. A window belongs to the day it opens: with From > To
// it runs over midnight, so Friday 22:00–06:00 is open until Saturday 06:00
// even when Saturday is not one of its days. To may be 1440 ("24:00").
type window struct {
	days     [7]bool // indexed by time.Weekday
	from, to int
}

// next returns t when t falls inside the window in loc, else the next time
// the window opens. The week is searched from the day before t (an
// overnight window opened yesterday may still be open) to eight days
// after; a window with no day can never open, which rules.Load rejects, so
// next then returns t rather than loop.
func (w window) next(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	y, m, d := lt.Date()
	for i := -1; i <= 8; i++ {
		// Noon is never inside a DST transition, so its weekday is the day's.
		if !w.days[time.Date(y, m, d+i, 12, 0, 0, 0, loc).Weekday()] {
			continue
		}
		open := wallClock(y, m, d+i, w.from, loc)
		closeDay := d + i
		if w.to <= w.from {
			closeDay++
		}
		closes := wallClock(y, m, closeDay, w.to, loc)
		if !open.Before(closes) {
			continue // the whole window falls in the hour a DST change skips
		}
		if open.After(t) {
			return open
		}
		if t.Before(closes) {
			return t
		}
	}
	return t
}

// wallClock is the instant a clock in loc first shows minute min of the
// day y-m-d. time.Date leaves a time inside a DST gap ambiguous (02:30 on
// the day New York skips from 02:00 to 03:00 comes back as 01:30 EST, while
// Lord Howe's comes back after the gap): a clock time the day skips is
// taken as the moment the clocks jump past it, 03:00 in New York. A clock
// time the day repeats is its first occurrence, which is what time.Date
// returns.
func wallClock(y int, m time.Month, d, min int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, min/60, min%60, 0, 0, loc)
	if min == 24*60 {
		return t // the next day's midnight: never in a gap on the day asked for
	}
	got := t.Hour()*60 + t.Minute()
	if got == min {
		return t
	}
	start, end := t.ZoneBounds()
	if got < min {
		return end // time.Date stepped back before the gap: it ends at the jump
	}
	return start
}
