package engine

import (
	"errors"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/rules"
)

// render evaluates an action's attributes for one event into a Delivery.
// The Delivery is plain data: secrets stay references (see actions.Text).
func render(s *eventScope, a *rules.Action, ca *compiledAction) (*actions.Delivery, error) {
	d := &actions.Delivery{
		EventID: s.ev.ID, Address: a.Address, Trigger: a.Trigger, Type: a.Type, Name: a.Name,
		Fields: make(actions.Fields, len(ca.attrs)),
	}
	r := renderer{set: s.set, scope: s, consts: a.Consts, roots: ca.roots}
	n, total := 0, 0
	for i := range ca.attrs {
		c := &ca.attrs[i]
		// Filled in place: a Value is three slices, and copying it twice
		// per field showed in the cost of a match.
		f := &d.Fields[n]
		switch {
		case c.konst != nil:
			f.Value = *c.konst
		case c.attr == nil: // EventDefault: bounded by the intake's largest body instead
			f.Text = actions.Literal(s.rawBody())
		default:
			f.Value = r.value(c)
			if c.fromEvent {
				f.MarkFromEvent()
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		if c.attr != nil {
			size := c.size
			if c.konst == nil {
				size = valueSize(f.Value)
			}
			if size > s.limits.Attr {
				return nil, fmt.Errorf("%s: %w", c.spec.Name, attrTooLarge(s.limits.Attr))
			}
			if total += size; total > s.limits.Delivery {
				return nil, fmt.Errorf("%w: the delivery's fields would be %d bytes with %s, over the limit of %d bytes per delivery", rules.ErrRenderLimit, total, c.spec.Name, s.limits.Delivery)
			}
		}
		if !f.IsZero() {
			f.Name = c.spec.Name
			n++
		}
	}
	d.Fields = d.Fields[:n]
	return d, nil
}

// renderer evaluates attributes and keeps the first error, so that render
// reads as a list of fields.
type renderer struct {
	set    *rules.Set
	scope  *eventScope          // nil when pre-rendering constants
	consts map[string]cty.Value // attributes that need no event
	roots  []string             // the event variables HCL may need
	err    error
}

func (r *renderer) fail(name string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", name, err)
	}
}

// value renders one attribute in the shape its kind asks for.
func (r *renderer) value(c *compiledAttr) actions.Value {
	name := c.spec.Name
	v, ok := r.eval(c)
	if !ok {
		return actions.Value{}
	}
	var out actions.Value
	switch c.spec.Kind {
	case actions.TemplateList:
		out.List = r.list(name, v)
	case actions.TemplateMap:
		out.Map = r.headers(name, v)
	default:
		out.Text = r.toText(name, v)
		if c.spec.Plain && out.Text.Sensitive() {
			r.fail(name, errors.New("must not contain env() values"))
		}
	}
	return out
}

func (r *renderer) eval(c *compiledAttr) (cty.Value, bool) {
	if r.err != nil {
		return cty.NilVal, false
	}
	if v, ok := r.consts[c.spec.Name]; ok {
		return v, true
	}
	s := r.scope
	if c.fast != nil {
		s.root, s.big, s.limitErr = c.fast, false, nil
		if v, ok := c.fast.eval(s); ok && plain(v) {
			return v, true
		}
		switch {
		case s.big:
			r.fail(c.spec.Name, attrTooLarge(s.limits.Attr))
			return cty.NilVal, false
		case s.limitErr != nil:
			// HCL would call the function again to the same end.
			r.fail(c.spec.Name, s.limitErr)
			return cty.NilVal, false
		}
	}
	s.loop = rules.LoopBudget{Left: int64(s.limits.Attr)}
	v, diags := c.attr.Expr.Value(s.evalContext(r.roots))
	if s.loop.Exceeded {
		r.fail(c.spec.Name, fmt.Errorf("%w: its for loops would build more than %d bytes, the limit per attribute (each iteration counts as %d bytes besides what it produces)", rules.ErrRenderLimit, s.limits.Attr, rules.LoopStepBytes))
		return cty.NilVal, false
	}
	if diags.HasErrors() {
		r.fail(c.spec.Name, limitError(diags))
		return cty.NilVal, false
	}
	return v, true
}

// attrTooLarge is the error of an attribute past the limit, the same
// whether a fast template stopped early or HCL built it all.
func attrTooLarge(limit int) error {
	return fmt.Errorf("%w: the rendered value is more than %d bytes, the limit per attribute", rules.ErrRenderLimit, limit)
}

// limitError is a function's refusal to build past a rendering limit, said
// plainly (as the fast path says it), or else the diagnostics as they are.
func limitError(diags hcl.Diagnostics) error {
	for _, d := range diags {
		if extra, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d); ok {
			if err := extra.FunctionCallError(); errors.Is(err, rules.ErrRenderLimit) {
				return err
			}
		}
	}
	return diags
}

// valueSize is the length of a rendered value: its texts, and a map's
// names. A reference counts as its variable's name: the secret is not
// known until the attempt.
func valueSize(v actions.Value) int {
	n := textSize(v.Text)
	for _, t := range v.List {
		n += textSize(t)
	}
	for _, h := range v.Map {
		n += len(h.Name) + textSize(h.Value)
	}
	return n
}

func textSize(t actions.Text) int {
	n := 0
	for _, p := range t {
		n += len(p.Lit) + len(p.Env)
	}
	return n
}

func (r *renderer) toText(name string, v cty.Value) actions.Text {
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		r.fail(name, fmt.Errorf("must be a string, got %s", v.Type().FriendlyName()))
		return nil
	}
	if s.IsNull() {
		return nil
	}
	t, err := r.set.Text(s)
	if err != nil {
		r.fail(name, err)
	}
	return t
}

// list accepts one string or a list of them ("to" = "a@x" or ["a@x", ...]).
func (r *renderer) list(name string, v cty.Value) []actions.Text {
	raw, marks := v.Unmark()
	ty := raw.Type()
	if !(ty.IsListType() || ty.IsTupleType() || ty.IsSetType()) {
		if t := r.toText(name, v); t != nil {
			return []actions.Text{t}
		}
		return nil
	}
	var out []actions.Text
	for _, e := range raw.AsValueSlice() {
		if t := r.toText(name, e.WithMarks(marks)); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// headers renders a map in name order, so that deliveries are stable.
func (r *renderer) headers(name string, v cty.Value) []actions.Header {
	raw, marks := v.Unmark()
	if raw.IsNull() || !(raw.Type().IsMapType() || raw.Type().IsObjectType()) {
		r.fail(name, fmt.Errorf("must be a map of strings"))
		return nil
	}
	m := raw.AsValueMap()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	out := make([]actions.Header, 0, len(names))
	for _, k := range names {
		out = append(out, actions.Header{Name: k, Value: r.toText(name+"."+k, m[k].WithMarks(marks))})
	}
	return out
}
