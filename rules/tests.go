package rules

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Test is a `test` block: an event, the exact set of action addresses it
// must fire, and expectations on what those actions render.
type Test struct {
	Name  string
	Event []byte // the event as JSON: a fixture file, or the inline object
	// Now is when the event arrives, for schedules; zero: the test's clock.
	Now     time.Time
	Fires   []string
	Expects []*Expect
	// Then are later events, in order, each checked for the waiting
	// deliveries of the events before it that it cancels.
	Then      []*TestStep
	DeclRange hcl.Range
}

// TestStep is a `then` block of a test: a later event.
type TestStep struct {
	Event []byte
	Now   time.Time // zero: the step before's
	// Fires, when set, is checked as a test's fires is; nil leaves it out.
	Fires []string
	// Cancels lists the actions whose waiting deliveries, from the events
	// before, this event cancels: exactly those.
	Cancels []string
	Range   hcl.Range
}

// Expect holds the checks on one fired action's rendered fields.
type Expect struct {
	Address string
	Checks  []*Check
	// At, when set, is the time the delivery must be due (a schedule).
	At    *time.Time
	Range hcl.Range
}

// Check is one expectation on a rendered field. Key names the header for
// `headers`. Values are compared as shown, so secrets read "(sensitive)".
type Check struct {
	Field string
	Key   string
	Op    string // "equal", "contains" or "regex"
	Want  string
	Re    *regexp.Regexp
	Range hcl.Range
}

var testSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "event", Required: true}, {Name: "fires", Required: true}, {Name: "now"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "expect", LabelNames: []string{"action"}}, {Type: "then"}},
}

var thenSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "event", Required: true}, {Name: "cancels", Required: true}, {Name: "fires"}, {Name: "now"}},
}

func (c *checker) decodeTest(b *hcl.Block, fsys fs.FS, fsysName string) *Test {
	t := &Test{Name: b.Labels[0], DeclRange: b.DefRange}
	content, diags := b.Body.Content(testSchema)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	t.Event = c.testEvent(t.Name, content.Attributes["event"], fsys, fsysName)
	actionsByAddr := map[string]*Action{}
	var addrs []string
	for _, tr := range c.set.Triggers {
		for _, a := range tr.Actions {
			actionsByAddr[a.Address] = a
			addrs = append(addrs, a.Address)
		}
	}
	if a, ok := content.Attributes["now"]; ok {
		t.Now = c.testTime(a)
	}
	list, ok := c.testAddresses(content.Attributes["fires"], actionsByAddr, addrs)
	if !ok {
		return nil
	}
	t.Fires = list
	for _, eb := range content.Blocks {
		if eb.Type == "then" {
			if step := c.decodeThen(fmt.Sprintf("%s-then-%d", t.Name, len(t.Then)+1), eb, fsys, fsysName, actionsByAddr, addrs); step != nil {
				t.Then = append(t.Then, step)
			}
			continue
		}
		addr := eb.Labels[0]
		a, ok := actionsByAddr[addr]
		if !ok {
			c.diags = append(c.diags, unknownAddress(addr, addrs, eb.LabelRanges[0]))
			continue
		}
		if !contains(t.Fires, addr) {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Expectation on an action that does not fire",
				Detail:   fmt.Sprintf("%s is not in this test's fires list, so there is nothing to check; add it to fires.", addr),
				Subject:  eb.LabelRanges[0].Ptr(),
			})
			continue
		}
		t.Expects = append(t.Expects, c.decodeExpect(eb, a))
	}
	return t
}

// testAddresses decodes a list of action addresses (fires, cancels).
func (c *checker) testAddresses(a *hcl.Attribute, actionsByAddr map[string]*Action, addrs []string) ([]string, bool) {
	v, d := a.Expr.Value(nil)
	if d.HasErrors() || !(v.Type().IsTupleType() || v.Type().IsListType()) || !v.IsWhollyKnown() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + a.Name,
			Detail:   a.Name + ` must be a list of action addresses, such as ["front_desk_cancel_alert.sms.front_desk"], or [] for none.`,
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil, false
	}
	var elemRanges []hcl.Range // point at the element, not the whole list
	if tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tuple.Exprs {
			elemRanges = append(elemRanges, e.Range())
		}
	}
	out := []string{}
	for i, e := range v.AsValueSlice() {
		rng := a.Expr.Range()
		if i < len(elemRanges) {
			rng = elemRanges[i]
		}
		if e.Type() != cty.String || e.IsNull() {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for " + a.Name, Detail: "Each element of " + a.Name + " must be an action address string.", Subject: rng.Ptr()})
			return nil, false
		}
		addr := e.AsString()
		if _, ok := actionsByAddr[addr]; !ok {
			c.diags = append(c.diags, unknownAddress(addr, addrs, rng))
			continue
		}
		out = append(out, addr)
	}
	return out, true
}

// testTime decodes an RFC 3339 time (now, at).
func (c *checker) testTime(a *hcl.Attribute) time.Time {
	var text string
	if d := decodeString(a, &text); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, text)
	if err != nil {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + a.Name,
			Detail:   fmt.Sprintf("%q is not an RFC 3339 time; write it like \"2026-12-02T10:00:00-05:00\".", text),
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	return t
}

// decodeThen reads a `then` block: a later event of a test.
func (c *checker) decodeThen(name string, b *hcl.Block, fsys fs.FS, fsysName string, actionsByAddr map[string]*Action, addrs []string) *TestStep {
	step := &TestStep{Range: b.DefRange}
	content, diags := b.Body.Content(thenSchema)
	c.diags = append(c.diags, diags...)
	if diags.HasErrors() {
		return nil
	}
	step.Event = c.testEvent(name, content.Attributes["event"], fsys, fsysName)
	if a, ok := content.Attributes["now"]; ok {
		step.Now = c.testTime(a)
	}
	var ok bool
	if step.Cancels, ok = c.testAddresses(content.Attributes["cancels"], actionsByAddr, addrs); !ok {
		return nil
	}
	for _, addr := range step.Cancels {
		if a := actionsByAddr[addr]; a.Schedule == nil || len(a.Schedule.CancelOn) == 0 {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Action cannot be canceled",
				Detail:   fmt.Sprintf("%s has no schedule with cancel_on, so no event cancels it.", addr),
				Subject:  content.Attributes["cancels"].Expr.Range().Ptr(),
			})
		}
	}
	if a, ok := content.Attributes["fires"]; ok {
		if step.Fires, ok = c.testAddresses(a, actionsByAddr, addrs); !ok {
			return nil
		}
	}
	return step
}

func unknownAddress(addr string, all []string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unknown action",
		Detail:   fmt.Sprintf("There is no action %q; addresses are TRIGGER.TYPE.NAME.%s", addr, didYouMean(addr, all)),
		Subject:  rng.Ptr(),
	}
}

// testEvent reads the event: a string is a fixture path relative to the
// test's file; an object is the event inline, with envelope defaults.
func (c *checker) testEvent(name string, a *hcl.Attribute, fsys fs.FS, fsysName string) []byte {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		c.diags = append(c.diags, diags...)
		return nil
	}
	if v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
		rel := v.AsString()
		p := path.Clean(path.Join(path.Dir(fsysName), rel))
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Event fixture not found",
				Detail:   fmt.Sprintf("Cannot read %q (relative to this file): %v.", rel, unwrapPathError(err)),
				Subject:  a.Expr.Range().Ptr(),
			})
			return nil
		}
		return b
	}
	if !v.Type().IsObjectType() || !v.IsWhollyKnown() || v.IsNull() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for event",
			Detail:   `event must be a fixture path such as "events/confirmed.json", or an object such as { type = "participant.confirmed", data = { ... } }.`,
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil
	}
	attrs := v.AsValueMap()
	if attrs == nil { // cty's map of an empty object
		attrs = map[string]cty.Value{}
	}
	defaults := map[string]string{"specversion": "1.0", "id": "test-" + name, "source": "hookline-test"}
	for k, d := range defaults {
		if _, ok := attrs[k]; !ok {
			attrs[k] = cty.StringVal(d)
		}
	}
	obj := cty.ObjectVal(attrs)
	b, err := ctyjson.Marshal(obj, obj.Type())
	if err != nil {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for event", Detail: err.Error(), Subject: a.Expr.Range().Ptr()})
		return nil
	}
	return b
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

func (c *checker) decodeExpect(b *hcl.Block, a *Action) *Expect {
	exp := &Expect{Address: a.Address, Range: b.DefRange}
	attrs, diags := b.Body.JustAttributes()
	c.diags = append(c.diags, diags...)
	fields := make([]string, len(a.Spec.Attrs))
	for i, at := range a.Spec.Attrs {
		fields[i] = at.Name
	}
	for _, attr := range sortedAttrs(attrs) {
		if attr.Name == "at" && a.Spec.Attr("at") == nil {
			if a.Schedule == nil {
				c.diags = append(c.diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Expectation on a schedule that does not exist",
					Detail:   fmt.Sprintf("at checks when a scheduled action is due, and %s has no schedule: it runs when its event arrives.", a.Address),
					Subject:  attr.NameRange.Ptr(),
				})
				continue
			}
			at := c.testTime(attr)
			exp.At = &at
			continue
		}
		if !contains(fields, attr.Name) {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown rendered field",
				Detail:   fmt.Sprintf("A %s action renders %s; there is no %q.%s", a.Type, strings.Join(fields, ", "), attr.Name, didYouMean(attr.Name, fields)),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		if attr.Name == "headers" {
			pairs, d := hcl.ExprMap(attr.Expr)
			c.diags = append(c.diags, d...)
			for _, kv := range pairs {
				var key string
				if d := decodeString(&hcl.Attribute{Name: "header name", Expr: kv.Key, Range: kv.Key.Range()}, &key); d.HasErrors() {
					c.diags = append(c.diags, d...)
					continue
				}
				if chk := c.decodeCheck(attr.Name, kv.Value); chk != nil {
					chk.Key = key
					exp.Checks = append(exp.Checks, chk)
				}
			}
			continue
		}
		if chk := c.decodeCheck(attr.Name, attr.Expr); chk != nil {
			exp.Checks = append(exp.Checks, chk)
		}
	}
	return exp
}

var checkOps = []string{"equal", "contains", "regex"}

// decodeCheck reads "text" (equal), equal("text"), contains("text") or
// regex("pattern"). These calls are syntax, read without evaluation.
func (c *checker) decodeCheck(field string, expr hcl.Expression) *Check {
	chk := &Check{Field: field, Op: "equal", Range: expr.Range()}
	valueExpr := expr
	if call, d := hcl.ExprCall(expr); !d.HasErrors() {
		if !contains(checkOps, call.Name) || len(call.Arguments) != 1 {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid expectation",
				Detail:   fmt.Sprintf("Use a string (equal), equal(\"...\"), contains(\"...\") or regex(\"...\") with one argument.%s", didYouMean(call.Name, checkOps)),
				Subject:  expr.Range().Ptr(),
			})
			return nil
		}
		chk.Op, valueExpr = call.Name, call.Arguments[0]
	}
	if d := decodeString(&hcl.Attribute{Name: field, Expr: valueExpr, Range: valueExpr.Range()}, &chk.Want); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return nil
	}
	if chk.Op == "regex" {
		re, err := regexp.Compile(chk.Want)
		if err != nil {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid regular expression", Detail: err.Error() + ".", Subject: valueExpr.Range().Ptr()})
			return nil
		}
		chk.Re = re
	}
	return chk
}
