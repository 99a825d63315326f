package delivery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseAge reads a retention or an age as people write one: a Go duration
// (720h, 90m) or whole days (30d). It must not be negative.
func ParseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > maxDays {
			return 0, fmt.Errorf("%q is not a number of days such as 30d", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not a duration such as 720h or 30d", s)
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// maxDays keeps whole days within a time.Duration (about 292 years).
const maxDays = 100_000

// ParseBefore reads a purge's cutoff: an RFC 3339 time, or an age
// (ParseAge) counted back from now.
func ParseBefore(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("give a time (RFC 3339, e.g. 2026-01-31T00:00:00Z) or an age (e.g. 720h or 30d)")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	age, err := ParseAge(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time such as 2026-01-31T00:00:00Z nor an age such as 720h or 30d", s)
	}
	return now.Add(-age), nil
}
