package actions

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxRetryAfter caps how far a peer's Retry-After can push the next
// attempt: a peer asking for a week is broken, and the delivery should stay
// on a schedule someone can reason about.
const MaxRetryAfter = time.Hour

// RetryAfter parses a Retry-After value (delay-seconds or an HTTP date)
// into the earliest time to try again, capped at now+limit. It returns the
// zero time, meaning "per schedule", when the value is absent, malformed or
// already past.
func RetryAfter(v string, now time.Time, limit time.Duration) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	var wait time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return time.Time{}
		}
		if secs >= int64(limit/time.Second) {
			wait = limit
		} else {
			wait = time.Duration(secs) * time.Second
		}
	} else if at, err := http.ParseTime(v); err == nil {
		wait = at.Sub(now)
		if wait <= 0 {
			return time.Time{}
		}
		wait = min(wait, limit)
	} else {
		return time.Time{}
	}
	return now.Add(wait)
}

// Truncate cuts s to at most n bytes without splitting a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
