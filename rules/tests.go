package rules

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Test is a `test` block: an event, the exact set of action addresses it
// must fire, and expectations on what those actions render.
type Test struct {
	Name      string
	Event     []byte // the event as JSON: a fixture file, or the inline object
	Fires     []string
	Expects   []*Expect
	DeclRange hcl.Range
}

// Expect holds the checks on one fired action's rendered fields.
type Expect struct {
	Address string
	Checks  []*Check
	Range   hcl.Range
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
	Attributes: []hcl.AttributeSchema{{Name: "event", Required: true}, {Name: "fires", Required: true}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "expect", LabelNames: []string{"action"}}},
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
	fires := content.Attributes["fires"]
	v, d := fires.Expr.Value(nil)
	if d.HasErrors() || !(v.Type().IsTupleType() || v.Type().IsListType()) || !v.IsWhollyKnown() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for fires",
			Detail:   `fires must be a list of action addresses, such as ["front_desk_cancel_alert.sms.front_desk"], or [] for an event that must fire nothing.`,
			Subject:  fires.Expr.Range().Ptr(),
		})
		return nil
	}
	var elemRanges []hcl.Range // point at the element, not the whole list
	if tuple, ok := fires.Expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tuple.Exprs {
			elemRanges = append(elemRanges, e.Range())
		}
	}
	for i, e := range v.AsValueSlice() {
		rng := fires.Expr.Range()
		if i < len(elemRanges) {
			rng = elemRanges[i]
		}
		if e.Type() != cty.String || e.IsNull() {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid value for fires", Detail: "Each element of fires must be an action address string.", Subject: rng.Ptr()})
			return nil
		}
		addr := e.AsString()
		if _, ok := actionsByAddr[addr]; !ok {
			c.diags = append(c.diags, unknownAddress(addr, addrs, rng))
			continue
		}
		t.Fires = append(t.Fires, addr)
	}
	for _, eb := range content.Blocks {
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
