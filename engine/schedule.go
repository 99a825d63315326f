package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hookline/hookline/rules"
)

// Timing is when a fired action whose schedule holds it runs, worked out
// when its event arrives and stored with the delivery.
type Timing struct {
	// Due is the first time the delivery may run. It may be in the past
	// (an old event with a short delay): the delivery then runs at once,
	// unless it is later than LateAfter allows.
	Due time.Time
	// Reason says how Due was found, for eval and the run log: "2h after
	// the event's time 2026-12-01T21:30:00Z; next window opening after
	// it, in America/New_York".
	Reason string
	// Zone is the window's time zone (UTC without a window), for showing Due.
	Zone      *time.Location
	LateAfter time.Duration
	// Correlation is the schedule's correlate value for this event; a
	// later event of a cancel_on type giving the same value cancels the
	// delivery while it waits. "" when the schedule has no cancel_on or
	// the event gives no value.
	Correlation string
}

// String is Due in its zone and the reason: "at 2026-12-02 10:00
// America/New_York: 2h after the event's time ...".
func (t *Timing) String() string {
	return fmt.Sprintf("at %s %s: %s", t.Due.In(t.Zone).Format("2006-01-02 15:04"), t.Zone, t.Reason)
}

// Expired reports whether a delivery due at t.Due and not started by now
// is too late to send.
func (t *Timing) Expired(now time.Time) bool {
	return t.LateAfter > 0 && now.Sub(t.Due) > t.LateAfter
}

// Cancel names the waiting deliveries an event cancels: those of Action
// whose correlate value was Correlation.
type Cancel struct {
	Action      string // the action's address
	Correlation string
}

// timing works out when an action held by s runs, for the event in scope,
// arriving at now.
func (sc *eventScope) timing(s *rules.Schedule, now time.Time, activation func() (any, error)) (*Timing, error) {
	t := &Timing{LateAfter: s.LateAfter, Zone: time.UTC}
	base, reason := now, "when the event arrived"
	switch {
	case s.Delay > 0:
		from, what := sc.ev.Time, "the event's time"
		if from.IsZero() {
			from, what = now, "the event's arrival"
		}
		base = from.Add(s.Delay)
		reason = fmt.Sprintf("%s after %s %s", shortDuration(s.Delay), what, from.UTC().Format(time.RFC3339))
	case s.At != nil:
		text, err := sc.scheduleText(s.At.Expr)
		if err != nil {
			return nil, fmt.Errorf("schedule.at: %w", err)
		}
		at, err := time.Parse(time.RFC3339, text)
		if err != nil {
			return nil, fmt.Errorf("schedule.at: %q is not an RFC 3339 time", text)
		}
		base, reason = at, "at "+text
	}
	t.Due = base
	if w := s.Window; w != nil {
		loc := w.Zone
		if w.TimeZone != nil {
			name, err := sc.scheduleText(w.TimeZone.Expr)
			if err != nil {
				return nil, fmt.Errorf("schedule.window.time_zone: %w", err)
			}
			if loc, err = rules.LoadZone(name); err != nil {
				return nil, fmt.Errorf("schedule.window.time_zone: %w", err)
			}
		}
		t.Zone = loc
		win := window{days: w.Days, from: w.From, to: w.To}
		start := base
		if start.Before(now) {
			start = now // a window is about when it is sent, and that is not before now
		}
		t.Due = win.next(start, loc)
		if t.Due.Equal(start) {
			reason += fmt.Sprintf("; inside the window in %s", loc)
		} else {
			reason += fmt.Sprintf("; next window opening after %s, in %s", start.In(loc).Format("2006-01-02 15:04"), loc)
		}
	}
	t.Reason = reason
	if len(s.CancelOn) > 0 {
		t.Correlation = correlation(s, sc.ev.Type, activation)
	}
	return t, nil
}

// scheduleText renders a schedule's template to a string.
func (sc *eventScope) scheduleText(expr hcl.Expression) (string, error) {
	var roots []string
	for _, tr := range expr.Variables() {
		roots = append(roots, tr.RootName())
	}
	sc.loop = rules.LoopBudget{Left: int64(sc.limits.Attr)}
	v, diags := expr.Value(sc.evalContext(roots))
	if diags.HasErrors() {
		return "", limitError(diags)
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() || !s.IsKnown() {
		return "", errors.New("must give a string")
	}
	text := s.AsString()
	if len(text) > 200 {
		return "", errors.New("is longer than 200 bytes")
	}
	return text, nil
}

// correlation evaluates a schedule's correlate for an event of type
// typ. A zero value ("" or 0, which is also what an absent field reads
// as) correlates with nothing: two events that both lack an appointment
// id are not about the same appointment.
func correlation(s *rules.Schedule, typ string, activation func() (any, error)) string {
	prg := s.Correlates[typ]
	if prg == nil {
		return ""
	}
	act, err := activation()
	if err != nil {
		return ""
	}
	out, _, err := prg.Eval(act)
	if err != nil || types.IsError(out) {
		return ""
	}
	switch v := out.Value().(type) {
	case string:
		return v
	case int64:
		if v != 0 {
			return strconv.FormatInt(v, 10)
		}
	case uint64:
		if v != 0 {
			return strconv.FormatUint(v, 10)
		}
	}
	return ""
}

// cancels lists the waiting deliveries an event of its type cancels, in
// every action (enabled or not: a disabled action's waiting deliveries
// are canceled when due anyway) whose schedule lists the type.
func (c *Compiled) cancels(ev *Event, activation func() (any, error)) []Cancel {
	var out []Cancel
	for _, a := range c.cancelers[ev.Type] {
		if v := correlation(a.Schedule, ev.Type, activation); v != "" {
			out = append(out, Cancel{Action: a.Address, Correlation: v})
		}
	}
	return out
}

// shortDuration is d as people write it: 2h rather than 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
