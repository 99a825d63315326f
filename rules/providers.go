package rules

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hookline/hookline/actions"
)

// Provider is a provider block, such as `twilio`: how the actions of one
// type reach the outside. Values read with env() are kept as references in
// the Text and resolved by the server; static values are literal texts.
type Provider struct {
	Block     string
	Type      *actions.Type // the action type that sends through it
	Values    map[string]actions.Text
	DeclRange hcl.Range
}

// decodeProvider evaluates a provider block's attributes. They may use
// env() and the standard functions, but no event fields.
func (c *checker) decodeProvider(b *hcl.Block, t *actions.Type) *Provider {
	spec := t.Provider
	p := &Provider{Block: b.Type, Type: t, Values: map[string]actions.Text{}, DeclRange: b.DefRange}
	schema := &hcl.BodySchema{}
	for _, a := range spec.Attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a.Name, Required: a.Required})
	}
	content, diags := b.Body.Content(schema)
	c.diags = append(c.diags, diags...)
	funcs := stdFunctions(c.set.limits.Attr)
	funcs["env"] = envFunction(secretValue)
	ctx := &hcl.EvalContext{Functions: funcs}
	for i := range spec.Attrs {
		at := &spec.Attrs[i]
		a, ok := content.Attributes[at.Name]
		if at.Kind.Static() {
			if v, set := c.decodeStatic(a, ok, at); set {
				p.Values[at.Name] = actions.Literal(v)
			}
			continue
		}
		if !ok {
			continue
		}
		if text, ok := c.providerText(ctx, a, at); ok {
			p.Values[at.Name] = text
		}
	}
	if spec.Check != nil {
		// Written in the block, with a value: `username = ""` is no
		// username, and a default is not the author's choice.
		has := func(name string) bool {
			_, written := content.Attributes[name]
			return written && !p.Values[name].IsZero()
		}
		if msg := spec.Check(has); msg != "" {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Invalid %s block", b.Type),
				Detail:   msg,
				Subject:  b.DefRange.Ptr(),
			})
		}
	}
	return p
}

// providerText evaluates one string attribute of a provider block.
func (c *checker) providerText(ctx *hcl.EvalContext, a *hcl.Attribute, at *actions.Attr) (actions.Text, bool) {
	c.collectEnv(a.Expr)
	v, d := a.Expr.Value(ctx)
	c.diags = append(c.diags, d...)
	if d.HasErrors() {
		return nil, false
	}
	invalid := func(detail string) (actions.Text, bool) {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + at.Name,
			Detail:   detail,
			Subject:  a.Expr.Range().Ptr(),
		})
		return nil, false
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil || !s.IsWhollyKnown() || s.IsNull() {
		return invalid(at.Name + " must be a string.")
	}
	raw, marks := s.Unmark()
	text, err := secretText(raw.AsString(), marks)
	if err != nil {
		return invalid(err.Error() + ".")
	}
	if at.Check != nil && !text.Sensitive() {
		if msg := at.Check(raw.AsString()); msg != "" {
			return invalid(msg)
		}
	}
	return text, true
}

// checkProviders reports actions whose type sends through a provider block
// that the rule set lacks.
func (c *checker) checkProviders() {
	for _, t := range c.set.Triggers {
		for _, a := range t.Actions {
			p := a.Spec.Provider
			if p == nil || c.set.Providers[p.Block] != nil {
				continue
			}
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("No %s block", p.Block),
				Detail:   fmt.Sprintf("The %s action %s needs a %s block to send with; add %s to any file of the rules directory.", a.Type, a.Address, p.Block, p.Example),
				Subject:  a.DeclRange.Ptr(),
			})
		}
	}
}
