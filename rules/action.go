package rules

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hookline/hookline/actions"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// actionSchema is what an action block of type t may contain.
func actionSchema(t *actions.Type) *hcl.BodySchema {
	s := &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: "enabled"}},
		Blocks:     []hcl.BlockHeaderSchema{{Type: "retry"}, {Type: "schedule"}},
	}
	for _, a := range t.Attrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	return s
}

func (c *checker) decodeAction(t *Trigger, b *hcl.Block, types []*EventType) *Action {
	typ, name := b.Labels[0], b.Labels[1]
	spec := c.set.Types.Lookup(typ)
	if spec == nil {
		names := c.set.Types.Names()
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown action type",
			Detail:   fmt.Sprintf("There is no action type %q; use one of %s.%s", typ, strings.Join(names, ", "), didYouMean(typ, names)),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return nil
	}
	if !c.validName("action", name, b.LabelRanges[1]) {
		return nil
	}
	act := &Action{
		Trigger: t.Name, Type: typ, Name: name, Spec: spec,
		Address:   t.Name + "." + typ + "." + name,
		Enabled:   true,
		Attrs:     map[string]*hcl.Attribute{},
		DeclRange: b.DefRange,
	}
	content, diags := b.Body.Content(actionSchema(spec))
	c.diags = append(c.diags, diags...)
	act.Retry, act.Schedule = t.Retry, t.Schedule
	var retryBlock, scheduleBlock *hcl.Block
	for _, blk := range content.Blocks {
		switch {
		case blk.Type == "retry" && retryBlock != nil:
			c.diags = append(c.diags, duplicateDiag("retry block", "retry", blk.DefRange, retryBlock.DefRange))
		case blk.Type == "retry":
			retryBlock, act.Retry = blk, c.decodeRetry(blk)
		case scheduleBlock != nil:
			c.diags = append(c.diags, duplicateDiag("schedule block", "schedule", blk.DefRange, scheduleBlock.DefRange))
		default:
			scheduleBlock, act.Schedule = blk, c.decodeScheduleBlock(blk, types)
		}
	}
	if a, ok := content.Attributes["enabled"]; ok {
		c.diags = append(c.diags, decodeBool(a, &act.Enabled)...)
	}
	for i := range spec.Attrs {
		at := &spec.Attrs[i]
		a, ok := content.Attributes[at.Name]
		if at.Kind.Static() {
			if v, set := c.decodeStatic(a, ok, at); set {
				if act.Static == nil {
					act.Static = map[string]string{}
				}
				act.Static[at.Name] = v
			}
			continue
		}
		if !ok {
			continue
		}
		if at.Plain && readsEnv(a.Expr) {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for " + at.Name,
				Detail:   at.Name + " must not use env(): its value is stored and shown as it is, so it cannot hold a secret.",
				Subject:  a.Expr.Range().Ptr(),
			})
			continue
		}
		c.collectEnv(a.Expr)
		countLoops(a.Expr)
		c.checkTemplate(a, at, types)
		c.checkMapKeys(a, at, types)
		act.Attrs[at.Name] = a
	}
	c.precompute(act)
	return act
}

// precompute records which variables an action reads and evaluates the
// attributes that read none. Attributes that fail here are left to render
// time, where the error is reported against a real event.
func (c *checker) precompute(act *Action) {
	roots := map[string]bool{}
	for name, a := range act.Attrs {
		vars := a.Expr.Variables()
		for _, v := range vars {
			roots[v.RootName()] = true
		}
		c.set.recordUsage(a.Expr)
		if len(vars) > 0 || callsFunction(a.Expr, isDateFunction) {
			continue
		}
		v, diags := a.Expr.Value(c.set.EvalContext())
		if diags.HasErrors() {
			continue
		}
		if act.Consts == nil {
			act.Consts = map[string]cty.Value{}
		}
		act.Consts[name] = v
	}
	act.Roots = sortedKeys(roots)
}

// callsFunction reports whether an expression calls a function whose name
// satisfies match. Expressions that are not HCL native syntax count as
// calling it, so callers stay on the safe side.
func callsFunction(expr hcl.Expression, match func(name string) bool) bool {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return true
	}
	found := false
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && match(call.Name) {
			found = true
		}
		return nil
	})
	return found
}

// isDateFunction names the helpers whose result depends on the event's
// time zone, so their calls cannot be evaluated at load.
func isDateFunction(name string) bool {
	_, ok := dateFormats[name]
	return ok
}

// checkTemplate evaluates an attribute against each event type the trigger
// listens to, with unknown event values, then checks the result's type and,
// when the value is fully known at load time, its content.
func (c *checker) checkTemplate(a *hcl.Attribute, spec *actions.Attr, types []*EventType) {
	reported := map[string]bool{}
	var results []cty.Value
	var found hcl.Diagnostics
	for _, et := range types {
		v, diags := a.Expr.Value(c.checkContext(et))
		for _, d := range diags {
			key := fmt.Sprint(d.Subject, d.Summary, d.Detail)
			if reported[key] {
				continue
			}
			reported[key] = true
			if c.explainMissing(d, et) {
				found = append(found, d)
				continue
			}
			if d.Summary == "Unsupported attribute" {
				d.Detail = strings.TrimSuffix(d.Detail, ".") + "." + fieldSuggestion(d.Detail, et)
			}
			if len(types) > 1 {
				d.Detail += fmt.Sprintf(" (for event type %s)", et.Name)
			}
			found = append(found, d)
		}
		if !diags.HasErrors() {
			diags = interpolationDiags(a.Expr, c.checkContext(et))
			for _, d := range diags {
				if key := fmt.Sprint(d.Subject, d.Detail); !reported[key] {
					reported[key] = true
					found = append(found, d)
				}
			}
			results = append(results, v)
		}
	}
	c.diags = append(c.diags, mergeNotInEvent(found)...)
	if len(results) == 0 {
		return
	}
	strs, problem := stringsOf(results[0], spec.Kind)
	if problem != "" {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + spec.Name,
			Detail:   fmt.Sprintf("%s must be %s.", spec.Name, problem),
			Subject:  a.Expr.Range().Ptr(),
		})
		return
	}
	if spec.Check == nil {
		return
	}
	for _, s := range strs {
		if msg := spec.Check(s); msg != "" {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for " + spec.Name,
				Detail:   msg,
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
}

// stringsOf checks that v fits kind and returns the strings of it that are
// known and not secret, for literal checks.
func stringsOf(v cty.Value, kind actions.Kind) ([]string, string) {
	want := map[actions.Kind]string{
		actions.Template:     "a string",
		actions.TemplateList: "a string or a list of strings",
		actions.TemplateMap:  `a map of strings, such as { "X-Api-Key" = env("CRM_API_KEY") }`,
	}[kind]
	ty := v.Type()
	var elems []cty.Value
	switch {
	case ty == cty.DynamicPseudoType:
		return nil, ""
	case kind == actions.Template:
		elems = []cty.Value{v}
	case kind == actions.TemplateList && (ty.IsListType() || ty.IsTupleType() || ty.IsSetType()):
		if !v.IsWhollyKnown() {
			return nil, ""
		}
		if v.IsNull() {
			return nil, want
		}
		elems = v.AsValueSlice()
	case kind == actions.TemplateList:
		elems = []cty.Value{v}
	case kind == actions.TemplateMap && (ty.IsMapType() || ty.IsObjectType()):
		if !v.IsWhollyKnown() {
			return nil, ""
		}
		if v.IsNull() {
			return nil, want
		}
		for _, e := range v.AsValueMap() {
			elems = append(elems, e)
		}
	default:
		return nil, want
	}
	var out []string
	for _, e := range elems {
		s, err := convert.Convert(e, cty.String)
		if err != nil {
			return nil, want
		}
		if s.IsKnown() && !s.IsNull() && !s.IsMarked() {
			out = append(out, s.AsString())
		}
	}
	return out, ""
}

// interpolationDiags finds ${...} parts whose type cannot become a string.
// HCL checks this only for known values, and at load every event field is
// unknown, so without this `${appointment.calendar}` would pass validate and
// fail on the first real event.
func interpolationDiags(expr hcl.Expression, ctx *hcl.EvalContext) hcl.Diagnostics {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return nil
	}
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		tmpl, ok := n.(*hclsyntax.TemplateExpr)
		if !ok {
			return nil
		}
		for _, part := range tmpl.Parts {
			if _, lit := part.(*hclsyntax.LiteralValueExpr); lit {
				continue
			}
			v, d := part.Value(ctx)
			if d.HasErrors() {
				continue
			}
			ty := v.Type()
			if ty == cty.DynamicPseudoType || ty == cty.String || convert.GetConversion(ty, cty.String) != nil {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid template interpolation value",
				Detail:   fmt.Sprintf("This value is %s, which cannot be inserted into text; use one of its fields, or jsonencode() it.", ty.FriendlyName()),
				Subject:  part.Range().Ptr(),
			})
		}
		return nil
	})
	return diags
}

var (
	attrNamed     = regexp.MustCompile(`attribute named "([^"]+)"`)
	variableNamed = regexp.MustCompile(`variable named "([^"]+)"`)
)

// explainMissing rewrites HCL's "There is no variable named" and "This
// object does not have an attribute named" into the sentences filters
// give, which name the event type: templates and filters read the same
// event, so they say the same thing. It reports whether it did.
func (c *checker) explainMissing(d *hcl.Diagnostic, et *EventType) bool {
	if d.Subject == nil {
		return false
	}
	switch d.Summary {
	case "Unknown variable":
		m := variableNamed.FindStringSubmatch(d.Detail)
		if m == nil {
			return false
		}
		detail, x := missingVariable(c.set.Schema, et, m[1])
		d.Detail, d.Extra = detail, x
		return true
	case "Unsupported attribute":
		m := attrNamed.FindStringSubmatch(d.Detail)
		f := c.set.Files[d.Subject.Filename]
		if m == nil || f == nil {
			return false
		}
		detail, x, ok := missingField(et, pathBefore(f.Bytes, d.Subject.Start.Byte), m[1])
		if !ok {
			return false
		}
		d.Detail, d.Extra = detail, x
		return true
	}
	return false
}

// fieldSuggestion adds "Did you mean ...?" to HCL's unsupported-attribute
// message, from the fields of the event type.
func fieldSuggestion(detail string, et *EventType) string {
	m := attrNamed.FindStringSubmatch(detail)
	if m == nil {
		return ""
	}
	var candidates []string
	for _, f := range et.Data {
		collectFieldNames(f.Type, &candidates, map[*Object]bool{})
	}
	collectFieldNames(&Type{Kind: KindObject, Object: envelopeObject()}, &candidates, map[*Object]bool{})
	return didYouMean(m[1], candidates)
}

// checkMapKeys enforces a TemplateMap's StaticKeys and CheckKey: each key
// must be written in the rule, not read from the event or env() (an event
// must not pick an HTTP header's name, such as Host), and each key known at
// load is vetted like a value. Where an error was already reported (an
// unknown variable), no second one is added.
func (c *checker) checkMapKeys(a *hcl.Attribute, spec *actions.Attr, types []*EventType) {
	if spec.Kind != actions.TemplateMap || (!spec.StaticKeys && spec.CheckKey == nil) || c.hasErrorIn(a.Expr.Range()) {
		return
	}
	bad := func(r hcl.Range, summary, detail string) {
		c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary + spec.Name, Detail: detail, Subject: r.Ptr()})
	}
	check := func(r hcl.Range, key string) {
		if spec.CheckKey != nil {
			if msg := spec.CheckKey(key); msg != "" {
				bad(r, "Invalid name in ", msg)
			}
		}
	}
	pairs, diags := hcl.ExprMap(a.Expr)
	if diags.HasErrors() {
		// Not written as { ... } (merge(), a map field): its keys are the
		// rule's when, with every event field unknown, they are known.
		for _, et := range types {
			v, d := a.Expr.Value(c.checkContext(et))
			if d.HasErrors() {
				return
			}
			keys, ok := knownKeys(v)
			if !ok {
				if spec.StaticKeys {
					bad(a.Expr.Range(), "Invalid value for ", fmt.Sprintf(`The names in %s must be written in the rule, as in { "X-Appointment-Id" = appointment.id }: a name read from the event or env() could set one the sender owns, such as Host.`, spec.Name))
				}
				return
			}
			for _, k := range keys {
				check(a.Expr.Range(), k)
			}
		}
		return
	}
	for _, kv := range pairs {
		if spec.StaticKeys && (len(kv.Key.Variables()) > 0 || readsEnv(kv.Key)) {
			bad(kv.Key.Range(), "Invalid name in ", fmt.Sprintf(`The names in %s must be written in the rule, such as "X-Appointment-Id": a name read from the event or env() could set one the sender owns, such as Host. Put what the event provides on the right of =.`, spec.Name))
			continue
		}
		v, d := kv.Key.Value(c.set.EvalContext())
		if k, err := convert.Convert(v, cty.String); !d.HasErrors() && err == nil && k.IsKnown() && !k.IsNull() && !k.IsMarked() {
			check(kv.Key.Range(), k.AsString())
		}
	}
}

// knownKeys returns the keys of a map or object value when they are known,
// whatever its values are; a key from env() makes the value marked.
func knownKeys(v cty.Value) ([]string, bool) {
	ty := v.Type()
	switch {
	case v.IsMarked():
		return nil, false
	case ty.IsObjectType():
		return sortedKeys(ty.AttributeTypes()), true
	case ty.IsMapType() && v.IsKnown() && !v.IsNull():
		return sortedKeys(v.AsValueMap()), true
	}
	return nil, false
}

// hasErrorIn reports whether an error was already reported inside r.
func (c *checker) hasErrorIn(r hcl.Range) bool {
	for _, d := range c.diags {
		if d.Severity == hcl.DiagError && d.Subject != nil && d.Subject.Filename == r.Filename &&
			r.Start.Byte <= d.Subject.Start.Byte && d.Subject.Start.Byte < r.End.Byte {
			return true
		}
	}
	return false
}
