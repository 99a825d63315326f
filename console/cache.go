package console

import (
	"context"
	"sync"
	"time"
)

// summaryTTL is how long the overview's and the triggers page's counts are
// reused. Each reads every delivery of a day in its index, which at a
// million deliveries a day is most of a page's 100 ms; open pages refresh
// every few seconds, and several operators may have them open, so they
// share one count rather than each pay for their own.
const summaryTTL = 5 * time.Second

// cached holds one value computed at most once per summaryTTL; callers
// that arrive while it is computed wait for that computation.
type cached[T any] struct {
	mu  sync.Mutex
	at  time.Time
	val T
}

func (c *cached[T]) get(ctx context.Context, now time.Time, compute func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && now.Sub(c.at) < summaryTTL && now.Sub(c.at) >= 0 {
		return c.val, nil
	}
	v, err := compute(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	c.at, c.val = now, v
	return v, nil
}
