package engine

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/customdecode"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline/rules"
)

// Most templates are literals, event fields and function calls. Evaluating
// those through HCL means converting the event's objects to cty and paying
// for diagnostics, marks and traversal bookkeeping on every part, which was
// most of the cost of a delivery. A fastExpr computes the same value
// straight from the decoded event. It gives up (ok false) on anything that
// is not a plain known value, and the caller then evaluates the attribute
// through HCL as before, so errors, secrets (marked values) and every
// unusual case keep their exact behaviour.
type fastExpr interface {
	eval(s *eventScope) (cty.Value, bool)
}

// compiler makes the fast forms of the templates of one event type.
type compiler struct {
	et    *rules.EventType
	funcs map[string]function.Function // for signatures only
	calls map[string]int               // memo slot by call, see fastCall
}

// compile returns the fast form of expr, or nil when some part of it needs
// HCL.
func (c *compiler) compile(expr hcl.Expression) fastExpr {
	switch x := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return fastLiteral{x.Val}
	case *hclsyntax.TemplateWrapExpr:
		return c.compile(x.Wrapped)
	case *hclsyntax.TemplateExpr:
		parts := make([]fastExpr, len(x.Parts))
		for i, p := range x.Parts {
			if parts[i] = c.compile(p); parts[i] == nil {
				return nil
			}
		}
		return &fastTemplate{parts: parts}
	case *hclsyntax.ScopeTraversalExpr:
		return compileField(x.Traversal, c.et)
	case *hclsyntax.FunctionCallExpr:
		return c.compileCall(x)
	case *hclsyntax.ObjectConsExpr:
		return c.compileObject(x)
	}
	return nil
}

// key identifies what a fast expression computes: two expressions with the
// same key give the same value for the same event.
func key(f fastExpr) string {
	switch x := f.(type) {
	case fastLiteral:
		return "l" + x.v.GoString()
	case fastEnvelope:
		return "e" + string(x)
	case *fastField:
		return "f" + strings.Join(x.path, ".")
	case *fastTemplate:
		return "t(" + keys(x.parts) + ")"
	case *fastCall:
		return "c" + x.name + "(" + keys(x.args) + ")"
	case *fastObject:
		k := make([]string, len(x.names))
		for i, name := range x.names {
			k[i] = strconv.Quote(name) + "=" + key(x.values[i])
		}
		return "o{" + strings.Join(k, ",") + "}"
	}
	panic(fmt.Sprintf("engine: no key for %T", f))
}

func keys(list []fastExpr) string {
	k := make([]string, len(list))
	for i, f := range list {
		k[i] = key(f)
	}
	return strings.Join(k, ",")
}

// compileField resolves a traversal of attribute names against the event
// type's schema; indexes, splats and unknown names are left to HCL.
func compileField(tr hcl.Traversal, et *rules.EventType) fastExpr {
	names := make([]string, len(tr))
	for i, step := range tr {
		switch s := step.(type) {
		case hcl.TraverseRoot:
			names[i] = s.Name
		case hcl.TraverseAttr:
			names[i] = s.Name
		default:
			return nil
		}
	}
	if names[0] == "event" {
		if len(names) == 2 && isEnvelopeField(names[1]) {
			return fastEnvelope(names[1])
		}
		return nil
	}
	var t *rules.Type
	for _, f := range et.Data {
		if f.Name == names[0] {
			t = f.Type
		}
	}
	if t == nil {
		return nil
	}
	for _, name := range names[1:] {
		if t.Kind != rules.KindObject {
			return nil
		}
		f := t.Object.Field(name)
		if f == nil {
			return nil
		}
		t = f.Type
	}
	return &fastField{path: names, typ: t}
}

// compileCall accepts calls whose arguments are fast and whose parameters
// HCL would simply convert to. The function itself is looked up per event,
// since the date helpers depend on the event's time zone.
func (c *compiler) compileCall(x *hclsyntax.FunctionCallExpr) fastExpr {
	fn, ok := c.funcs[x.Name]
	if !ok || x.ExpandFinal {
		return nil
	}
	params, varParam := fn.Params(), fn.VarParam()
	if len(x.Args) < len(params) || (varParam == nil && len(x.Args) > len(params)) {
		return nil
	}
	call := &fastCall{name: x.Name, args: make([]fastExpr, len(x.Args)), types: make([]cty.Type, len(x.Args))}
	for i, a := range x.Args {
		p := varParam
		if i < len(params) {
			p = &params[i]
		}
		if customdecode.CustomExpressionDecoderForType(p.Type) != nil {
			return nil
		}
		call.types[i] = p.Type
		if call.args[i] = c.compile(a); call.args[i] == nil {
			return nil
		}
	}
	k := key(call)
	slot, ok := c.calls[k]
	if !ok {
		slot = len(c.calls)
		c.calls[k] = slot
	}
	call.slot = slot
	return call
}

// plain reports whether v can stand in for what HCL would produce without
// further checks: known, not null and carrying no marks (env() values are
// marked, and their handling stays with HCL).
func plain(v cty.Value) bool {
	return v.IsKnown() && !v.IsNull() && !v.IsMarked()
}

type fastLiteral struct{ v cty.Value }

func (l fastLiteral) eval(*eventScope) (cty.Value, bool) { return l.v, plain(l.v) }

// fastTemplate concatenates its parts as TemplateExpr.Value does. Literal
// and string parts are copied as they are; cty.StringVal normalizes the
// result, and normalizing the whole is the same as normalizing each part
// first, as HCL does, then the whole.
type fastTemplate struct{ parts []fastExpr }

func (t *fastTemplate) eval(s *eventScope) (cty.Value, bool) {
	// The attribute's own template stops at the limit, as the rendered
	// value would be refused; a template inside a function call may be cut
	// down by it, so past the limit it is left to HCL, as before.
	top := s.root == fastExpr(t)
	b := s.buf[:0]
	s.buf = nil // a template nested in a part must not write over this one
	for _, p := range t.parts {
		if str, ok := p.(stringExpr); ok {
			if part, ok := str.evalString(s); ok {
				if b, ok = s.appendPart(b, part, top); !ok {
					return cty.NilVal, false
				}
				continue
			}
		}
		v, ok := p.eval(s)
		if !ok {
			return cty.NilVal, false
		}
		if v.Type() != cty.String {
			var err error
			if v, err = convert.Convert(v, cty.String); err != nil || !plain(v) {
				return cty.NilVal, false
			}
		}
		if b, ok = s.appendPart(b, v.AsString(), top); !ok {
			return cty.NilVal, false
		}
	}
	s.buf = b
	return cty.StringVal(string(b)), true
}

// appendPart adds part to a template's text unless that would pass the
// attribute limit. For the attribute's own template it records that for
// the renderer: HCL, which concatenates without asking, is not tried.
func (s *eventScope) appendPart(b []byte, part string, top bool) ([]byte, bool) {
	if len(b)+len(part) > s.limits.Attr {
		s.big = top
		return b, false
	}
	return append(b, part...), true
}

// stringExpr is a fast expression that can give its value as a Go string,
// which spares templates a cty value per part. ok false means: use eval.
type stringExpr interface {
	evalString(s *eventScope) (string, bool)
}

func (l fastLiteral) evalString(*eventScope) (string, bool) {
	if l.v.Type() != cty.String || !plain(l.v) {
		return "", false
	}
	return l.v.AsString(), true
}

// fastField reads a schema field the way addVariables and a traversal would
// see it: absent objects and fields read as zero values.
type fastField struct {
	path []string // the root variable, then field names
	typ  *rules.Type
}

func (f *fastField) eval(s *eventScope) (cty.Value, bool) {
	return ctyValue(f.read(s.ev), f.typ), true
}

func (f *fastField) read(ev *Event) any {
	v := ev.Data[f.path[0]]
	for _, name := range f.path[1:] {
		m, _ := v.(map[string]any)
		v = m[name]
	}
	return v
}

// evalString is ctyValue for strings, before cty.
func (f *fastField) evalString(s *eventScope) (string, bool) {
	if f.typ.Kind != rules.KindString {
		return "", false
	}
	str, _ := f.read(s.ev).(string)
	return str, true
}

// fastEnvelope reads a field of the `event` variable (see addVariables).
type fastEnvelope string

func isEnvelopeField(name string) bool {
	switch name {
	case "id", "type", "source", "subject", "time":
		return true
	}
	return false
}

func (f fastEnvelope) eval(s *eventScope) (cty.Value, bool) {
	str, _ := f.evalString(s)
	return cty.StringVal(str), true
}

func (f fastEnvelope) evalString(s *eventScope) (string, bool) {
	ev := s.ev
	switch f {
	case "id":
		return ev.ID, true
	case "type":
		return ev.Type, true
	case "source":
		return ev.Source, true
	case "subject":
		return ev.Subject, true
	}
	if ev.Time.IsZero() {
		return "", true
	}
	return ev.Time.Format(time.RFC3339Nano), true
}

// fastCall calls a function. Functions are pure, so within one event the
// result of a call is remembered for every call with the same key (several
// triggers tend to show the same date the same way): slot is its place in
// eventScope.calls.
type fastCall struct {
	name  string
	args  []fastExpr
	types []cty.Type // parameter types, which HCL converts arguments to
	slot  int
}

func (c *fastCall) eval(s *eventScope) (cty.Value, bool) {
	if s.calls == nil {
		s.calls = make([]memo, s.comp.calls)
	}
	if m := &s.calls[c.slot]; m.done {
		return m.v, true
	}
	fn, ok := s.function(c.name)
	if !ok {
		return cty.NilVal, false
	}
	args := make([]cty.Value, len(c.args))
	for i, a := range c.args {
		v, ok := a.eval(s)
		if !ok {
			return cty.NilVal, false
		}
		if v, ok = convertPlain(v, c.types[i]); !ok {
			return cty.NilVal, false
		}
		args[i] = v
	}
	v, err := fn.Call(args)
	if err != nil || !plain(v) {
		if errors.Is(err, rules.ErrRenderLimit) {
			s.limitErr = err
		}
		return cty.NilVal, false
	}
	s.calls[c.slot] = memo{v: v, done: true}
	return v, true
}

// memo is a remembered call result.
type memo struct {
	v    cty.Value
	done bool
}

func convertPlain(v cty.Value, t cty.Type) (cty.Value, bool) {
	if t.Equals(cty.DynamicPseudoType) || v.Type().Equals(t) {
		return v, true
	}
	v, err := convert.Convert(v, t)
	return v, err == nil && plain(v)
}

// compileObject accepts an object constructor ({ name = value, ... }, as
// the body of jsonencode or an action's headers) whose keys are constant
// names or strings and whose values are fast.
func (c *compiler) compileObject(x *hclsyntax.ObjectConsExpr) fastExpr {
	o := &fastObject{names: make([]string, len(x.Items)), values: make([]fastExpr, len(x.Items))}
	for i, item := range x.Items {
		k, ok := item.KeyExpr.(*hclsyntax.ObjectConsKeyExpr)
		if !ok {
			return nil
		}
		name := ""
		if !k.ForceNonLiteral {
			// A bare name is the key itself, as HCL reads it (a bare
			// dotted one, an error HCL reports, is no keyword and no
			// constant string: it is left to HCL below).
			name = hcl.ExprAsKeyword(k.Wrapped)
		}
		if name == "" {
			var ok bool
			if name, ok = constantString(k.Wrapped); !ok {
				return nil
			}
		}
		o.names[i] = name
		if o.values[i] = c.compile(item.ValueExpr); o.values[i] == nil {
			return nil
		}
	}
	return o
}

// constantString is the value of a quoted string without interpolations
// ("X-Type", which HCL parses as a template of one literal part).
func constantString(expr hclsyntax.Expression) (string, bool) {
	if w, ok := expr.(*hclsyntax.TemplateWrapExpr); ok {
		expr = w.Wrapped
	}
	var parts []hclsyntax.Expression
	switch x := expr.(type) {
	case *hclsyntax.TemplateExpr:
		parts = x.Parts
	case *hclsyntax.LiteralValueExpr:
		parts = []hclsyntax.Expression{x}
	default:
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		lit, ok := p.(*hclsyntax.LiteralValueExpr)
		if !ok || lit.Val.Type() != cty.String || !plain(lit.Val) {
			return "", false
		}
		b.WriteString(lit.Val.AsString())
	}
	// Normalized as the template's value would be.
	return cty.StringVal(b.String()).AsString(), true
}

// fastObject builds the object ObjectConsExpr.Value builds: a later item
// with the same name replaces an earlier one. A value that is not plain
// (null, marked) leaves the whole to HCL.
type fastObject struct {
	names  []string
	values []fastExpr
}

func (o *fastObject) eval(s *eventScope) (cty.Value, bool) {
	vals := make(map[string]cty.Value, len(o.names))
	for i, name := range o.names {
		v, ok := o.values[i].eval(s)
		if !ok || !plain(v) {
			return cty.NilVal, false
		}
		vals[name] = v
	}
	return cty.ObjectVal(vals), true
}
