package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Retry is a `retry` block, on a trigger (for all its actions) or on one
// action. Unset fields keep the server's default (Svix's schedule: 5 s,
// 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
type Retry struct {
	Schedule    []time.Duration // delays before attempts 2, 3, ...; nil = default
	MaxAttempts int             // 0 = one more than the schedule's length
	DeclRange   hcl.Range
}

// MaxRetryAttempts bounds max_attempts: past this, a delivery is not being
// retried but hammered.
const MaxRetryAttempts = 100

var retrySchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "schedule"}, {Name: "max_attempts"}},
}

func (c *checker) decodeRetry(b *hcl.Block) *Retry {
	r := &Retry{DeclRange: b.DefRange}
	content, diags := b.Body.Content(retrySchema)
	c.diags = append(c.diags, diags...)
	if a, ok := content.Attributes["schedule"]; ok {
		r.Schedule = c.decodeSchedule(a)
	}
	if a, ok := content.Attributes["max_attempts"]; ok {
		c.diags = append(c.diags, decodeInt(a, 1, MaxRetryAttempts, ", counting the first attempt", &r.MaxAttempts)...)
	}
	if len(content.Attributes) == 0 && !diags.HasErrors() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Empty retry block",
			Detail:   `Set schedule = ["10s", "1m", "10m"] or max_attempts = 3, or remove the block.`,
			Subject:  b.DefRange.Ptr(),
		})
	}
	return r
}

func (c *checker) decodeSchedule(a *hcl.Attribute) []time.Duration {
	bad := func(detail string) []time.Duration {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for schedule",
			Detail:   detail,
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	v, d := a.Expr.Value(nil)
	if d.HasErrors() || !(v.Type().IsTupleType() || v.Type().IsListType()) || !v.IsWhollyKnown() || v.IsNull() {
		c.diags = append(c.diags, d...)
		return bad(`schedule must be a list of delays before each retry, such as ["10s", "1m", "10m"].`)
	}
	elems := v.AsValueSlice()
	if len(elems) == 0 || len(elems) >= MaxRetryAttempts {
		return bad(fmt.Sprintf("schedule must list from 1 to %d delays.", MaxRetryAttempts-1))
	}
	var out []time.Duration
	for _, e := range elems {
		s, err := convert.Convert(e, cty.String)
		if err != nil || s.IsNull() {
			return bad(`Each delay is a string such as "30s", "5m" or "2h".`)
		}
		dur, err := time.ParseDuration(s.AsString())
		if err != nil || dur <= 0 || dur > 7*24*time.Hour {
			return bad(fmt.Sprintf("%q is not a delay from 1ms to 168h; write it like \"30s\", \"5m\" or \"2h\".", s.AsString()))
		}
		out = append(out, dur)
	}
	return out
}

// String is the block as a plan shows it.
func (r *Retry) String() string {
	var parts []string
	if r.Schedule != nil {
		q := make([]string, len(r.Schedule))
		for i, d := range r.Schedule {
			q[i] = fmt.Sprintf("%q", d.String())
		}
		parts = append(parts, "schedule = ["+strings.Join(q, ", ")+"]")
	}
	if r.MaxAttempts > 0 {
		parts = append(parts, fmt.Sprintf("max_attempts = %d", r.MaxAttempts))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}
