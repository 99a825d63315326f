package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/actions"
)

// decodeStatic evaluates an attribute whose value is fixed at load (a
// Choice, Duration or Number) and returns it as text, with at's default
// when the attribute is absent. ok is false when there is no value: absent
// without a default, or invalid (and reported).
func (c *checker) decodeStatic(a *hcl.Attribute, present bool, at *actions.Attr) (string, bool) {
	if !present {
		return at.Default, at.Default != ""
	}
	switch at.Kind {
	case actions.Number:
		var n int
		if d := decodeInt(a, at.Min, at.Max, at.Hint, &n); d.HasErrors() {
			c.diags = append(c.diags, d...)
			return "", false
		}
		return strconv.Itoa(n), true
	}
	var s string
	if d := decodeString(a, &s); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return "", false
	}
	switch at.Kind {
	case actions.Duration:
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid duration",
				Detail:   fmt.Sprintf("%q is not a positive duration; write it like \"10s\", \"1m30s\" or \"500ms\".", s),
				Subject:  a.Expr.Range().Ptr(),
			})
			return "", false
		}
		// Stored in Go's form, so that "90s" and "1m30s" plan as the same.
		return d.String(), true
	case actions.Choice:
		if s == "" && at.Default != "" {
			return at.Default, true // "" has always meant "the default"
		}
		for _, ch := range at.Choices {
			if s == ch || at.FoldCase && strings.EqualFold(s, ch) {
				return ch, true
			}
		}
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + at.Name,
			Detail: fmt.Sprintf("%s must be one of %s%s; got %q.%s", at.Name, quotedList(at.Choices), at.Hint, s,
				didYouMean(s, at.Choices)),
			Subject: a.Expr.Range().Ptr(),
		})
		return "", false
	}
	panic(fmt.Sprintf("rules: attribute %s has kind %d, which is not static", at.Name, at.Kind))
}

// quotedList writes `"a", "b" or "c"`.
func quotedList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
