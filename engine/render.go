package engine

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/rules"
)

// render evaluates an action's attributes for one event into a Delivery.
// The Delivery is plain data: secrets stay references (see actions.Text).
func render(s *eventScope, a *rules.Action, plan *actionPlan) (*actions.Delivery, error) {
	d := &actions.Delivery{
		EventID: s.ev.ID, Address: a.Address, Trigger: a.Trigger, Type: a.Type, Name: a.Name,
	}
	r := renderer{set: s.set, scope: s, attrs: a.Attrs, consts: a.Consts, plan: plan}
	switch a.Type {
	case "http":
		req := &actions.HTTPRequest{
			Method:        a.Method,
			URL:           r.text("url"),
			Headers:       r.headers("headers"),
			Body:          r.text("body"),
			Timeout:       a.Timeout,
			SigningSecret: r.text("signing_secret"),
		}
		if _, set := a.Attrs["body"]; !set {
			req.Body = actions.Literal(s.rawBody())
			req.ContentType = "application/json"
		}
		d.HTTP = req
	case "sms":
		d.SMS = &actions.SMSMessage{To: r.text("to"), Body: r.text("body")}
		if cb := r.text("status_callback"); cb.Sensitive() {
			r.fail("status_callback", fmt.Errorf("must not contain env() values"))
		} else {
			d.SMS.StatusCallback = cb.Redacted()
		}
	case "email":
		d.Email = &actions.EmailMessage{
			To:       r.list("to"),
			Cc:       r.list("cc"),
			Bcc:      r.list("bcc"),
			ReplyTo:  r.text("reply_to"),
			Subject:  r.text("subject"),
			Body:     r.text("body"),
			HTMLBody: r.text("html_body"),
		}
	default:
		return nil, fmt.Errorf("unknown action type %q", a.Type)
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}

// shape is how render reads an attribute; the plan pre-renders constant
// attributes in the same shape.
type shape int

const (
	shapeText shape = iota
	shapeList
	shapeHeaders
)

func shapeOf(actionType, name string) shape {
	switch {
	case name == "headers":
		return shapeHeaders
	case actionType == "email" && (name == "to" || name == "cc" || name == "bcc"):
		return shapeList
	}
	return shapeText
}

// renderer evaluates attributes and keeps the first error, so that render
// reads as a list of fields.
type renderer struct {
	set    *rules.Set
	scope  *eventScope // nil when pre-rendering constants
	attrs  map[string]*hcl.Attribute
	consts map[string]cty.Value // attributes that need no event
	plan   *actionPlan
	err    error
}

func (r *renderer) fail(name string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", name, err)
	}
}

func (r *renderer) value(name string) (cty.Value, bool) {
	a, ok := r.attrs[name]
	if !ok || r.err != nil {
		return cty.NilVal, false
	}
	if v, ok := r.consts[name]; ok {
		return v, true
	}
	if f := r.plan.fast[name]; f != nil {
		if v, ok := f.eval(r.scope); ok && plain(v) {
			return v, true
		}
	}
	v, diags := a.Expr.Value(r.scope.evalContext(r.plan.roots))
	if diags.HasErrors() {
		r.fail(name, diags)
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

func (r *renderer) text(name string) actions.Text {
	if t, ok := r.plan.texts[name]; ok && r.err == nil {
		return t
	}
	v, ok := r.value(name)
	if !ok {
		return nil
	}
	return r.toText(name, v)
}

// list accepts one string or a list of them ("to" = "a@x" or ["a@x", ...]).
func (r *renderer) list(name string) []actions.Text {
	if l, ok := r.plan.lists[name]; ok && r.err == nil {
		return l
	}
	v, ok := r.value(name)
	if !ok {
		return nil
	}
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
func (r *renderer) headers(name string) []actions.Header {
	if h, ok := r.plan.headers[name]; ok && r.err == nil {
		return h
	}
	v, ok := r.value(name)
	if !ok {
		return nil
	}
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
