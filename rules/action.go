package rules

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// attrKind says how an action attribute is evaluated.
type attrKind int

const (
	attrText     attrKind = iota + 1 // template rendered per event to a string
	attrList                         // template rendered to a string or a list of strings
	attrMap                          // template rendered to a map of strings
	attrBool                         // static true/false
	attrMethod                       // static HTTP method
	attrDuration                     // static duration such as "10s"
)

type attrSpec struct {
	name     string
	kind     attrKind
	required bool
	// literal checks each string of a value that is known at load time (no
	// event fields, no env()) and returns a problem, or "".
	literal func(string) string
}

// ActionTypes lists the attributes of each action type. The executors in
// actions/* take the rendered values; this table is what validate checks.
var actionTypes = map[string][]attrSpec{
	"sms": {
		{name: "enabled", kind: attrBool},
		{name: "to", kind: attrText, required: true, literal: checkPhone},
		{name: "body", kind: attrText, required: true, literal: checkSMSBody},
		{name: "status_callback", kind: attrText, literal: checkURL},
	},
	"email": {
		{name: "enabled", kind: attrBool},
		{name: "to", kind: attrList, required: true, literal: checkEmail},
		{name: "cc", kind: attrList, literal: checkEmail},
		{name: "bcc", kind: attrList, literal: checkEmail},
		{name: "reply_to", kind: attrText, literal: checkEmail},
		{name: "subject", kind: attrText, required: true, literal: checkHeaderValue},
		{name: "body", kind: attrText, required: true},
		{name: "html_body", kind: attrText},
	},
	"http": {
		{name: "enabled", kind: attrBool},
		{name: "url", kind: attrText, required: true, literal: checkURL},
		{name: "method", kind: attrMethod},
		{name: "headers", kind: attrMap, literal: checkHeaderValue},
		{name: "body", kind: attrText},
		{name: "timeout", kind: attrDuration},
		{name: "signing_secret", kind: attrText, literal: checkSigningSecret},
	},
}

// ActionTypeNames lists the action types in a stable order.
func ActionTypeNames() []string { return sortedKeys(actionTypes) }

func actionSchema(typ string) *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "retry"}}}
	for _, a := range actionTypes[typ] {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a.name, Required: a.required})
	}
	return s
}

func (c *checker) decodeAction(t *Trigger, b *hcl.Block, types []*EventType) *Action {
	typ, name := b.Labels[0], b.Labels[1]
	specs, ok := actionTypes[typ]
	if !ok {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown action type",
			Detail:   fmt.Sprintf("There is no action type %q; use one of %s.%s", typ, strings.Join(ActionTypeNames(), ", "), didYouMean(typ, ActionTypeNames())),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return nil
	}
	if !c.validName("action", name, b.LabelRanges[1]) {
		return nil
	}
	act := &Action{
		Trigger: t.Name, Type: typ, Name: name,
		Address:   t.Name + "." + typ + "." + name,
		Enabled:   true,
		Attrs:     map[string]*hcl.Attribute{},
		DeclRange: b.DefRange,
	}
	if typ == "http" {
		act.Method = "POST"
	}
	content, diags := b.Body.Content(actionSchema(typ))
	c.diags = append(c.diags, diags...)
	act.Retry = t.Retry
	for i, rb := range content.Blocks {
		if i > 0 {
			c.diags = append(c.diags, duplicateDiag("retry block", "retry", rb.DefRange, content.Blocks[0].DefRange))
			continue
		}
		act.Retry = c.decodeRetry(rb)
	}
	for _, spec := range specs {
		a, ok := content.Attributes[spec.name]
		if !ok {
			continue
		}
		switch spec.kind {
		case attrBool:
			c.diags = append(c.diags, decodeBool(a, &act.Enabled)...)
		case attrMethod:
			c.decodeMethod(a, &act.Method)
		case attrDuration:
			c.decodeDuration(a, &act.Timeout)
		default:
			c.collectEnv(a.Expr)
			c.checkTemplate(a, spec, types)
			act.Attrs[spec.name] = a
		}
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

var httpMethods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

func (c *checker) decodeMethod(a *hcl.Attribute, dst *string) {
	var m string
	if d := decodeString(a, &m); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return
	}
	if !contains(httpMethods, strings.ToUpper(m)) {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid HTTP method",
			Detail:   fmt.Sprintf("%q is not an HTTP method; use one of %s.", m, strings.Join(httpMethods, ", ")),
			Subject:  a.Expr.Range().Ptr(),
		})
		return
	}
	*dst = strings.ToUpper(m)
}

func (c *checker) decodeDuration(a *hcl.Attribute, dst *time.Duration) {
	var s string
	if d := decodeString(a, &s); d.HasErrors() {
		c.diags = append(c.diags, d...)
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("%q is not a positive duration; write it like \"10s\", \"1m30s\" or \"500ms\".", s),
			Subject:  a.Expr.Range().Ptr(),
		})
		return
	}
	*dst = d
}

// checkTemplate evaluates an attribute against each event type the trigger
// listens to, with unknown event values, then checks the result's type and,
// when the value is fully known at load time, its content.
func (c *checker) checkTemplate(a *hcl.Attribute, spec attrSpec, types []*EventType) {
	reported := map[string]bool{}
	var results []cty.Value
	for _, et := range types {
		v, diags := a.Expr.Value(c.checkContext(et))
		for _, d := range diags {
			key := fmt.Sprint(d.Subject, d.Summary, d.Detail)
			if reported[key] {
				continue
			}
			reported[key] = true
			if d.Summary == "Unsupported attribute" {
				d.Detail = strings.TrimSuffix(d.Detail, ".") + "." + fieldSuggestion(d.Detail, et)
			}
			if len(types) > 1 {
				d.Detail += fmt.Sprintf(" (for event type %s)", et.Name)
			}
			c.diags = append(c.diags, d)
		}
		if !diags.HasErrors() {
			diags = interpolationDiags(a.Expr, c.checkContext(et))
			for _, d := range diags {
				if key := fmt.Sprint(d.Subject, d.Detail); !reported[key] {
					reported[key] = true
					c.diags = append(c.diags, d)
				}
			}
			results = append(results, v)
		}
	}
	if len(results) == 0 {
		return
	}
	strs, problem := stringsOf(results[0], spec.kind)
	if problem != "" {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + spec.name,
			Detail:   fmt.Sprintf("%s must be %s.", spec.name, problem),
			Subject:  a.Expr.Range().Ptr(),
		})
		return
	}
	if spec.literal == nil {
		return
	}
	for _, s := range strs {
		if msg := spec.literal(s); msg != "" {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for " + spec.name,
				Detail:   msg,
				Subject:  a.Expr.Range().Ptr(),
			})
		}
	}
}

// stringsOf checks that v fits kind and returns the strings of it that are
// known and not secret, for literal checks.
func stringsOf(v cty.Value, kind attrKind) ([]string, string) {
	want := map[attrKind]string{
		attrText: "a string",
		attrList: "a string or a list of strings",
		attrMap:  `a map of strings, such as { "X-Api-Key" = env("CRM_API_KEY") }`,
	}[kind]
	ty := v.Type()
	var elems []cty.Value
	switch {
	case ty == cty.DynamicPseudoType:
		return nil, ""
	case kind == attrText:
		elems = []cty.Value{v}
	case kind == attrList && (ty.IsListType() || ty.IsTupleType() || ty.IsSetType()):
		if !v.IsWhollyKnown() {
			return nil, ""
		}
		if v.IsNull() {
			return nil, want
		}
		elems = v.AsValueSlice()
	case kind == attrList:
		elems = []cty.Value{v}
	case kind == attrMap && (ty.IsMapType() || ty.IsObjectType()):
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

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func checkPhone(s string) string {
	if e164.MatchString(s) {
		return ""
	}
	return fmt.Sprintf("%q is not a phone number in E.164 form, such as +15550100: a plus sign, the country code and the number, digits only.", s)
}

// SMSMaxLength is Twilio's limit on a message body, in characters.
const SMSMaxLength = 1600

func checkSMSBody(s string) string {
	if n := len([]rune(s)); n > SMSMaxLength {
		return fmt.Sprintf("The message is %d characters long; Twilio accepts at most %d.", n, SMSMaxLength)
	}
	return ""
}

func checkURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Sprintf("%q is not a valid URL: %v.", s, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must start with https:// or http://.", s)
	case u.Host == "":
		return fmt.Sprintf("%q has no host name.", s)
	}
	return checkHeaderValue(s)
}

func checkEmail(s string) string {
	if _, err := mail.ParseAddress(s); err != nil {
		return fmt.Sprintf("%q is not a valid e-mail address (%v); write it as name@example.com or \"Name <name@example.com>\".", s, err)
	}
	return ""
}

func checkHeaderValue(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return "The value contains a line break, which would let it inject headers; remove it."
	}
	return ""
}

func checkSigningSecret(s string) string {
	return "signing_secret must not be written in a rule file: read it with env(\"NAME\") so it stays out of git."
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

var attrNamed = regexp.MustCompile(`attribute named "([^"]+)"`)

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
