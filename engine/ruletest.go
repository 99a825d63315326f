package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookline/hookline/rules"
)

// TestResult is the outcome of one rule test.
type TestResult struct {
	Test     *rules.Test
	Failures []string // empty when the test passed; each names what differed
	Duration time.Duration
}

// Passed reports whether every expectation held.
func (r *TestResult) Passed() bool { return len(r.Failures) == 0 }

// RunTest runs one `test` block: decode its event, match it, and compare
// what fired and what it rendered with the expectations.
func (e *Engine) RunTest(ctx context.Context, c *Compiled, t *rules.Test) TestResult {
	start := time.Now()
	res := TestResult{Test: t}
	defer func() { res.Duration = time.Since(start) }()
	ev, err := e.Decode(c.set.Schema, t.Event)
	if err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("the test's event is invalid: %v", err))
		return res
	}
	now := t.Now
	if now.IsZero() {
		now = time.Now()
	}
	m := e.Match(ctx, c, ev, MatchOptions{Explain: true, Now: now})
	res.Failures = append(res.Failures, checkFires(m, t.Fires, "")...)
	for _, exp := range t.Expects {
		for _, f := range m.Fired {
			if f.Delivery.Address != exp.Address {
				continue
			}
			res.Failures = append(res.Failures, checkFields(exp, f.Delivery.Rendered())...)
			if exp.At != nil {
				res.Failures = append(res.Failures, checkDue(exp, f.Timing)...)
			}
		}
	}
	waiting := waitingOf(m, nil)
	for i, step := range t.Then {
		label := fmt.Sprintf("then #%d: ", i+1)
		ev, err := e.Decode(c.set.Schema, step.Event)
		if err != nil {
			res.Failures = append(res.Failures, fmt.Sprintf("%sthe event is invalid: %v", label, err))
			return res
		}
		if !step.Now.IsZero() {
			now = step.Now
		}
		m := e.Match(ctx, c, ev, MatchOptions{Explain: true, Now: now})
		if step.Fires != nil {
			res.Failures = append(res.Failures, checkFires(m, step.Fires, label)...)
		}
		canceled := map[string]bool{}
		for _, cn := range m.Cancels {
			for _, w := range waiting {
				if w.address == cn.Action && w.correlation == cn.Correlation && w.due.After(now) && !w.canceled {
					w.canceled, canceled[w.address] = true, true
				}
			}
		}
		for _, addr := range step.Cancels {
			if !canceled[addr] {
				res.Failures = append(res.Failures, fmt.Sprintf("%s%s: expected to be canceled, but %s", label, addr, whyNotCanceled(waiting, m, addr, now)))
			}
		}
		for _, addr := range slices.Sorted(maps.Keys(canceled)) {
			if !slices.Contains(step.Cancels, addr) {
				res.Failures = append(res.Failures, fmt.Sprintf("%s%s: canceled, but the test does not expect it", label, addr))
			}
		}
		waiting = waitingOf(m, waiting)
	}
	return res
}

// waiter is a delivery a test's events scheduled, for later events to
// cancel.
type waiter struct {
	address, correlation string
	due                  time.Time
	canceled             bool
}

func waitingOf(m *Result, to []*waiter) []*waiter {
	for _, f := range m.Fired {
		if f.Timing != nil && f.Timing.Correlation != "" {
			to = append(to, &waiter{address: f.Delivery.Address, correlation: f.Timing.Correlation, due: f.Timing.Due})
		}
	}
	return to
}

func whyNotCanceled(waiting []*waiter, m *Result, addr string, now time.Time) string {
	var w *waiter
	for _, x := range waiting {
		if x.address == addr {
			w = x
		}
	}
	var gave string
	for _, cn := range m.Cancels {
		if cn.Action == addr {
			gave = cn.Correlation
		}
	}
	switch {
	case w == nil:
		return "no event before it scheduled one with a correlate value"
	case w.canceled:
		return "an earlier event canceled it already"
	case gave == "":
		return "this event's type is not in its cancel_on, or its correlate value is empty"
	case gave != w.correlation:
		return fmt.Sprintf("this event's correlate value %q differs from the waiting delivery's %q", gave, w.correlation)
	default:
		return fmt.Sprintf("it was due at %s, before this event (%s), so it had run", w.due.Format(time.RFC3339), now.Format(time.RFC3339))
	}
}

func checkDue(exp *rules.Expect, tm *Timing) []string {
	if tm == nil {
		return []string{fmt.Sprintf("%s at: expected to be due at %s, but it runs when the event arrives", exp.Address, exp.At.Format(time.RFC3339))}
	}
	if !tm.Due.Equal(*exp.At) {
		return []string{fmt.Sprintf("%s at: expected to be due at %s\n  got: %s (%s)", exp.Address, exp.At.Format(time.RFC3339), tm.Due.In(exp.At.Location()).Format(time.RFC3339), tm.Reason)}
	}
	return nil
}

// checkFires compares what fired with want, exactly.
func checkFires(m *Result, want []string, label string) []string {
	var out []string
	fired := map[string]bool{}
	for _, f := range m.Fired {
		fired[f.Delivery.Address] = true
	}
	for _, addr := range want {
		if !fired[addr] {
			out = append(out, fmt.Sprintf("%s%s: expected to fire, but did not: %s", label, addr, whyNot(m, addr)))
		}
	}
	var extra []string
	for addr := range fired {
		if !slices.Contains(want, addr) {
			extra = append(extra, addr)
		}
	}
	sort.Strings(extra)
	for _, addr := range extra {
		out = append(out, fmt.Sprintf("%s%s: fired, but the test does not expect it", label, addr))
	}
	return out
}

// whyNot finds the reason an action did not fire in a match result.
func whyNot(m *Result, addr string) string {
	trigger, _, _ := strings.Cut(addr, ".")
	for _, f := range m.Failures {
		if f.Trigger == trigger && (f.Action == "" || f.Action == addr) {
			return fmt.Sprintf("trigger %s: %s: %v", trigger, f.Kind, f.Err)
		}
	}
	for _, s := range m.Skipped {
		if s.Trigger == trigger && (s.Action == "" || s.Action == addr) {
			msg := fmt.Sprintf("trigger %s: %s", trigger, s.Reason)
			if s.Detail != "" {
				msg += ": " + s.Detail
			}
			return msg
		}
	}
	return "trigger " + trigger + " did not run"
}

func checkFields(exp *rules.Expect, fields map[string]any) []string {
	var out []string
	for _, c := range exp.Checks {
		name := c.Field
		got := fieldString(fields[c.Field])
		if c.Key != "" {
			name = fmt.Sprintf("%s[%q]", c.Field, c.Key)
			h, _ := fields["headers"].(map[string]string)
			got = h[c.Key]
		}
		var ok bool
		switch c.Op {
		case "contains":
			ok = strings.Contains(got, c.Want)
		case "regex":
			ok = c.Re.MatchString(got)
		default:
			ok = got == c.Want
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s %s: expected %s %q\n  got: %q", exp.Address, name, opWords[c.Op], c.Want, got))
		}
	}
	return out
}

var opWords = map[string]string{"equal": "to equal", "contains": "to contain", "regex": "to match"}

// fieldString compares lists (e-mail recipients) as "a, b".
func fieldString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []string:
		return strings.Join(x, ", ")
	}
	return ""
}
