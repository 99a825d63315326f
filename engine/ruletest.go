package engine

import (
	"context"
	"fmt"
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
	m := e.Match(ctx, c, ev, MatchOptions{Explain: true})
	fired := map[string]bool{}
	for _, f := range m.Fired {
		fired[f.Delivery.Address] = true
	}
	for _, addr := range t.Fires {
		if !fired[addr] {
			res.Failures = append(res.Failures, fmt.Sprintf("%s: expected to fire, but did not: %s", addr, whyNot(m, addr)))
		}
	}
	var extra []string
	for addr := range fired {
		if !slices.Contains(t.Fires, addr) {
			extra = append(extra, addr)
		}
	}
	sort.Strings(extra)
	for _, addr := range extra {
		res.Failures = append(res.Failures, fmt.Sprintf("%s: fired, but the test does not expect it", addr))
	}
	for _, exp := range t.Expects {
		for _, f := range m.Fired {
			if f.Delivery.Address == exp.Address {
				res.Failures = append(res.Failures, checkFields(exp, f.Delivery.Rendered())...)
			}
		}
	}
	return res
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
