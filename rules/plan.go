package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/hookline/hookline/actions"
)

// Change is one difference between two rule sets, at the level reviewers
// think in: a trigger, an action, or a provider block.
type Change struct {
	Address string // trigger name, action address, "twilio" or "smtp"
	Kind    string // "trigger", "action" or "provider"
	Change  string // "create", "update" or "delete"
	// Before and After map attribute names to their source text, formatted.
	// Attributes that read env() hold actions.Redaction instead.
	Before map[string]string
	After  map[string]string

	changed map[string]bool // for updates: attributes whose source differs
}

// Attrs lists the attributes that differ, in name order.
func (c *Change) Attrs() []string {
	names := map[string]bool{}
	for k := range c.Before {
		names[k] = true
	}
	for k := range c.After {
		names[k] = true
	}
	var out []string
	for _, k := range sortedKeys(names) {
		if c.Change != "update" || c.changed[k] {
			out = append(out, k)
		}
	}
	return out
}

// Enabling tells whether an update only flips `enabled`, and which way:
// "enabled", "disabled" or "".
func (c *Change) Enabling() string {
	if c.Change != "update" || c.Before["enabled"] == c.After["enabled"] {
		return ""
	}
	if c.After["enabled"] == "true" {
		return "enabled"
	}
	return "disabled"
}

type resource struct {
	kind      string
	attrs     map[string]string // formatted source, compared
	sensitive map[string]bool   // attributes that read env(), never shown
}

// shown is what a plan may display: sensitive attributes masked.
func (r resource) shown() map[string]string {
	out := make(map[string]string, len(r.attrs))
	for k, v := range r.attrs {
		if r.sensitive[k] {
			v = actions.Redaction
		}
		out[k] = v
	}
	return out
}

// describe flattens a set into comparable resources. Renames show as a
// delete and a create, as in Terraform.
func (s *Set) describe() map[string]resource {
	out := map[string]resource{}
	for _, t := range s.Triggers {
		attrs := map[string]string{
			"on":      formatList(t.On),
			"enabled": fmt.Sprint(t.Enabled),
		}
		if t.Description != "" {
			attrs["description"] = fmt.Sprintf("%q", t.Description)
		}
		if t.When != "" {
			attrs["when"] = fmt.Sprintf("%q", t.When)
		}
		out[t.Name] = resource{kind: "trigger", attrs: attrs}
		for _, a := range t.Actions {
			attrs := map[string]string{"enabled": fmt.Sprint(a.Enabled)}
			for name, v := range a.Static {
				attrs[name] = fmt.Sprintf("%q", v)
			}
			if a.Retry != nil {
				attrs["retry"] = a.Retry.String()
			}
			sensitive := map[string]bool{}
			for name, attr := range a.Attrs {
				attrs[name] = s.exprText(attr.Expr)
				sensitive[name] = readsEnv(attr.Expr)
			}
			out[a.Address] = resource{kind: "action", attrs: attrs, sensitive: sensitive}
		}
	}
	for name, p := range s.Providers {
		out[name] = s.blockResource(p.DeclRange)
	}
	return out
}

// blockResource reads a provider block's attributes back from its file.
func (s *Set) blockResource(decl hcl.Range) resource {
	r := resource{kind: "provider", attrs: map[string]string{}, sensitive: map[string]bool{}}
	f := s.Files[decl.Filename]
	if f == nil {
		return r
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return r
	}
	for _, b := range body.Blocks {
		if b.DefRange() != decl {
			continue
		}
		for name, a := range b.Body.Attributes {
			r.attrs[name] = s.exprText(a.Expr)
			r.sensitive[name] = readsEnv(a.Expr)
		}
	}
	return r
}

// exprText is an attribute's source, formatted, for comparison. Callers
// mask it with actions.Redaction when it reads env(): the variable's name is not
// secret, but a plan shows values, and reviewers must not learn to expect
// secrets there.
func (s *Set) exprText(expr hcl.Expression) string {
	rng := expr.Range()
	f := s.Files[rng.Filename]
	if f == nil || rng.End.Byte > len(f.Bytes) {
		return "?"
	}
	src := "x = " + string(f.Bytes[rng.Start.Byte:rng.End.Byte]) + "\n"
	formatted := string(hclwrite.Format([]byte(src)))
	return strings.TrimSpace(strings.TrimPrefix(formatted, "x ="))
}

func readsEnv(expr hcl.Expression) bool {
	return callsFunction(expr, func(name string) bool { return name == "env" })
}

func formatList(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = fmt.Sprintf("%q", it)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Diff compares two rule sets. Changes come in address order, each trigger
// before its actions.
func Diff(before, after *Set) []Change {
	b, a := before.describe(), after.describe()
	addrs := map[string]bool{}
	for k := range b {
		addrs[k] = true
	}
	for k := range a {
		addrs[k] = true
	}
	keys := sortedKeys(addrs)
	// A trigger's actions follow it: sort "t.http.x" as "t\x00http.x" so
	// that a trigger named "t-2" cannot fall between "t" and its actions.
	sort.SliceStable(keys, func(i, j int) bool {
		return strings.Replace(keys[i], ".", "\x00", 1) < strings.Replace(keys[j], ".", "\x00", 1)
	})
	var out []Change
	for _, addr := range keys {
		rb, inB := b[addr]
		ra, inA := a[addr]
		switch {
		case !inB:
			out = append(out, Change{Address: addr, Kind: ra.kind, Change: "create", After: ra.shown()})
		case !inA:
			out = append(out, Change{Address: addr, Kind: rb.kind, Change: "delete", Before: rb.shown()})
		default:
			if changed := changedAttrs(rb.attrs, ra.attrs); len(changed) > 0 {
				out = append(out, Change{Address: addr, Kind: ra.kind, Change: "update", Before: rb.shown(), After: ra.shown(), changed: changed})
			}
		}
	}
	// Providers last.
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Kind != "provider" && out[j].Kind == "provider"
	})
	return out
}

func changedAttrs(x, y map[string]string) map[string]bool {
	out := map[string]bool{}
	for k, v := range x {
		if w, ok := y[k]; !ok || w != v {
			out[k] = true
		}
	}
	for k := range y {
		if _, ok := x[k]; !ok {
			out[k] = true
		}
	}
	return out
}
