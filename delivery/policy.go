package delivery

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// RetryPolicy says how often and when a delivery is attempted again after a
// retryable failure.
type RetryPolicy struct {
	Schedule    []time.Duration // delays before attempt 2, 3, ...; nil = DefaultSchedule
	MaxAttempts int             // 0 = len(Schedule)+1; if larger than len(Schedule)+1 the last delay repeats
}

// DefaultSchedule is Svix's: immediately (the first attempt), then 5s, 5m,
// 30m, 2h, 5h, 10h, 10h; ±20% jitter is applied to every delay. The store
// copies it and never writes to it.
var DefaultSchedule = []time.Duration{
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// jitter is the ± fraction applied to every delay, so that deliveries that
// failed together (a receiver outage) do not all come back together.
const jitter = 0.2

// resolved returns the policy with its defaults filled in, as it is stored:
// a delivery keeps the policy it was accepted with even if defaults or rules
// change later.
func (p RetryPolicy) resolved() (RetryPolicy, error) {
	sched := p.Schedule
	if sched == nil {
		sched = DefaultSchedule
	}
	for _, d := range sched {
		if d < 0 {
			return RetryPolicy{}, fmt.Errorf("retry schedule has a negative delay %s", d)
		}
	}
	maxAttempts := p.MaxAttempts
	switch {
	case maxAttempts < 0:
		return RetryPolicy{}, fmt.Errorf("retry max attempts %d is negative", maxAttempts)
	case maxAttempts == 0:
		maxAttempts = len(sched) + 1
	case maxAttempts > 1 && len(sched) == 0:
		return RetryPolicy{}, fmt.Errorf("retry max attempts %d needs a schedule", maxAttempts)
	}
	return RetryPolicy{Schedule: slices.Clone(sched), MaxAttempts: maxAttempts}, nil
}

// delay is the base wait after attempt n failed, before attempt n+1.
func (p RetryPolicy) delay(n int) time.Duration {
	if len(p.Schedule) == 0 {
		return 0
	}
	return p.Schedule[min(n-1, len(p.Schedule)-1)]
}

// wait is delay(n) with jitter.
func (p RetryPolicy) wait(n int, rnd func() float64) time.Duration {
	return time.Duration(float64(p.delay(n)) * (1 - jitter + 2*jitter*rnd()))
}

// nextAttempt is when attempt n+1 may start: the scheduled delay with
// jitter, but never before the peer's Retry-After.
func (p RetryPolicy) nextAttempt(n int, now, retryAfter time.Time, rnd func() float64) time.Time {
	at := now.Add(p.wait(n, rnd))
	if retryAfter.After(at) {
		at = retryAfter
	}
	return at
}

// The schedule is stored as a JSON array of nanoseconds: portable, and
// exact.
func encodeSchedule(s []time.Duration) string {
	b, _ := json.Marshal(s) // []int64 cannot fail
	return string(b)
}

func decodeSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("stored retry schedule: %w", err)
	}
	return out, nil
}
