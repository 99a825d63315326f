package engine

import (
	"errors"
	"fmt"
	"sort"

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
	n := 0
	for i := range ca.attrs {
		c := &ca.attrs[i]
		// Filled in place: a Value is three slices, and copying it twice
		// per field showed in the cost of a match.
		f := &d.Fields[n]
		switch {
		case c.konst != nil:
			f.Value = *c.konst
		case c.attr == nil: // EventDefault
			f.Text = actions.Literal(s.rawBody())
		default:
			f.Value = r.value(c)
			if _, konst := a.Consts[c.spec.Name]; !konst {
				f.MarkFromEvent() // reads the event (see actions.Part.Ev)
			}
		}
		if r.err != nil {
			return nil, r.err
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
	if c.fast != nil {
		if v, ok := c.fast.eval(r.scope); ok && plain(v) {
			return v, true
		}
	}
	v, diags := c.attr.Expr.Value(r.scope.evalContext(r.roots))
	if diags.HasErrors() {
		r.fail(c.spec.Name, diags)
		return cty.NilVal, false
	}
	return v, true
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
