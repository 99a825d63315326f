package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
	"github.com/zclconf/go-cty/cty"

	"github.com/hookline/hookline/actions"
)

// Change is one difference between two rule sets, at the level reviewers
// think in: a trigger, an action, a provider block or a test block.
type Change struct {
	Address string // trigger name, action address, "twilio" or "smtp", test name
	Kind    string // "trigger", "action", "provider" or "test"
	Change  string // "create", "update" or "delete"
	// Before and After map attribute names to their source text, formatted.
	// Attributes that read env() hold actions.Redaction instead.
	Before map[string]string
	After  map[string]string
	// SourceBefore and SourceAfter hold the formatted source of the
	// attributes that read env(), which Before and After mask: it names the
	// secrets (env("CRM_API_KEY")) but can never hold their values, which
	// only the server's environment has, so a reviewer may see it.
	SourceBefore map[string]string
	SourceAfter  map[string]string
	// EnvBefore and EnvAfter list, per attribute, the env() names it reads.
	EnvBefore map[string][]string
	EnvAfter  map[string][]string
	// File and Line locate the block: in the new rules, or for a delete in
	// the base.
	File string
	Line int

	changed map[string]bool // for updates: attributes whose source differs
	// contentChanged marks attributes whose text is the same on both sides
	// while what they stand for differs (a test's fixture file).
	contentChanged map[string]bool
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

// Shown is an attribute's text as a plan displays it: its source, env()
// names included, or its Before or After value.
func (c *Change) Shown(attr string, after bool) (string, bool) {
	src, vals := c.SourceBefore, c.Before
	if after {
		src, vals = c.SourceAfter, c.After
	}
	if s, ok := src[attr]; ok {
		return s, true
	}
	v, ok := vals[attr]
	return v, ok
}

// ContentChanged reports whether an attribute reads the same on both sides
// but what it refers to changed, such as a test's fixture file.
func (c *Change) ContentChanged(attr string) bool { return c.contentChanged[attr] }

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
	name      string            // the address shown
	attrs     map[string]string // formatted source, compared
	sensitive map[string]bool   // attributes that read env(): masked in Before and After
	env       map[string][]string
	// extra is compared with attrs but never shown: what an attribute
	// refers to (a fixture file's content).
	extra map[string]string
	decl  hcl.Range
}

// shown is what Before and After hold: sensitive attributes masked.
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

// sources holds the source of the attributes that shown masks.
func (r resource) sources() map[string]string {
	var out map[string]string
	for k := range r.sensitive {
		if r.sensitive[k] {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = r.attrs[k]
		}
	}
	return out
}

func (r resource) envNames() map[string][]string {
	if len(r.env) == 0 {
		return nil
	}
	return r.env
}

func newResource(kind, name string, decl hcl.Range) resource {
	return resource{kind: kind, name: name, attrs: map[string]string{}, sensitive: map[string]bool{}, env: map[string][]string{}, decl: decl}
}

// setExpr records an attribute read from the source.
func (r resource) setExpr(s *Set, name string, expr hcl.Expression) {
	r.attrs[name] = s.exprText(expr)
	if names := envNames(expr); len(names) > 0 {
		r.sensitive[name] = true
		r.env[name] = names
	}
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
		tr := newResource("trigger", t.Name, t.DeclRange)
		tr.attrs = attrs
		out[t.Name] = tr
		for _, a := range t.Actions {
			r := newResource("action", a.Address, a.DeclRange)
			r.attrs["enabled"] = fmt.Sprint(a.Enabled)
			for name, v := range a.Static {
				r.attrs[name] = fmt.Sprintf("%q", v)
			}
			if a.Retry != nil {
				r.attrs["retry"] = a.Retry.String()
			}
			if a.Schedule != nil {
				a.Schedule.describe(s, &r)
			}
			for name, attr := range a.Attrs {
				r.setExpr(s, name, attr.Expr)
			}
			out[a.Address] = r
		}
	}
	for name, p := range s.Providers {
		r := newResource("provider", name, p.DeclRange)
		if b := s.sourceBlock(p.DeclRange); b != nil {
			for name, a := range b.Body.Attributes {
				r.setExpr(s, name, a.Expr)
			}
		}
		out[name] = r
	}
	for _, t := range s.Tests {
		// Tests live in their own namespace: a test may share a trigger's name.
		out[testKey+t.Name] = s.testResource(t)
	}
	return out
}

// testKey prefixes the keys of test blocks in describe's map; it cannot
// start a trigger or provider name.
const testKey = "test:"

// testResource describes a test block by its source: the event, fires, and
// each expectation as `expect["ADDRESS"].FIELD`. A fixture file is compared
// by content too, since editing it changes what the test checks.
func (s *Set) testResource(t *Test) resource {
	r := newResource("test", t.Name, t.DeclRange)
	b := s.sourceBlock(t.DeclRange)
	if b == nil {
		return r
	}
	for name, a := range b.Body.Attributes {
		r.setExpr(s, name, a.Expr)
	}
	if a, ok := b.Body.Attributes["event"]; ok {
		if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String {
			sum := sha256.Sum256(t.Event)
			r.extra = map[string]string{"event": hex.EncodeToString(sum[:])}
		}
	}
	then := 0
	for _, eb := range b.Body.Blocks {
		switch {
		case eb.Type == "then":
			then++
			for name, a := range eb.Body.Attributes {
				r.setExpr(s, fmt.Sprintf("then[%d].%s", then, name), a.Expr)
			}
			if then <= len(t.Then) {
				if a, ok := eb.Body.Attributes["event"]; ok {
					if v, d := a.Expr.Value(nil); !d.HasErrors() && v.Type() == cty.String {
						sum := sha256.Sum256(t.Then[then-1].Event)
						if r.extra == nil {
							r.extra = map[string]string{}
						}
						r.extra[fmt.Sprintf("then[%d].event", then)] = hex.EncodeToString(sum[:])
					}
				}
			}
		case eb.Type == "expect" && len(eb.Labels) == 1:
			for name, a := range eb.Body.Attributes {
				r.setExpr(s, fmt.Sprintf("expect[%q].%s", eb.Labels[0], name), a.Expr)
			}
		}
	}
	return r
}

// sourceBlock finds a top-level block of the set's files by its DefRange.
func (s *Set) sourceBlock(decl hcl.Range) *hclsyntax.Block {
	f := s.Files[decl.Filename]
	if f == nil {
		return nil
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	for _, b := range body.Blocks {
		if b.DefRange() == decl {
			return b
		}
	}
	return nil
}

// exprText is an attribute's source, formatted, for comparison and display.
// It may name secrets (env("CRM_API_KEY")) but never holds their values.
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

// envNames lists the literal names an expression passes to env(), sorted
// and without repeats; what is not a literal name is left out, as Load
// refuses it.
func envNames(expr hcl.Expression) []string {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		call, ok := n.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "env" || len(call.Args) != 1 {
			return nil
		}
		if v, d := call.Args[0].Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			seen[v.AsString()] = true
		}
		return nil
	})
	if len(seen) == 0 {
		return nil
	}
	return sortedKeys(seen)
}

func formatList(items []string) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = fmt.Sprintf("%q", it)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Diff compares two rule sets. Changes come in address order, each trigger
// before its actions; then provider blocks, then test blocks.
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
			out = append(out, Change{Address: ra.name, Kind: ra.kind, Change: "create",
				After: ra.shown(), SourceAfter: ra.sources(), EnvAfter: ra.envNames(),
				File: ra.decl.Filename, Line: ra.decl.Start.Line})
		case !inA:
			out = append(out, Change{Address: rb.name, Kind: rb.kind, Change: "delete",
				Before: rb.shown(), SourceBefore: rb.sources(), EnvBefore: rb.envNames(),
				File: rb.decl.Filename, Line: rb.decl.Start.Line})
		default:
			changed := changedAttrs(rb.attrs, ra.attrs)
			content := map[string]bool{}
			for k, v := range ra.extra {
				if rb.extra[k] != v && !changed[k] {
					changed[k], content[k] = true, true
				}
			}
			if len(changed) > 0 {
				out = append(out, Change{Address: ra.name, Kind: ra.kind, Change: "update",
					Before: rb.shown(), After: ra.shown(),
					SourceBefore: rb.sources(), SourceAfter: ra.sources(),
					EnvBefore: rb.envNames(), EnvAfter: ra.envNames(),
					File: ra.decl.Filename, Line: ra.decl.Start.Line,
					changed: changed, contentChanged: content})
			}
		}
	}
	// Providers after the rules, tests last.
	rank := map[string]int{"provider": 1, "test": 2}
	sort.SliceStable(out, func(i, j int) bool { return rank[out[i].Kind] < rank[out[j].Kind] })
	return out
}

// Secrets compares the env() names two rule sets read: added are those the
// new rules read and the base does not (they must be set where the server
// runs before deploying), removed those no longer read.
func Secrets(before, after *Set) (added, removed []string) {
	for _, name := range sortedKeys(after.EnvRefs) {
		if _, ok := before.EnvRefs[name]; !ok {
			added = append(added, name)
		}
	}
	for _, name := range sortedKeys(before.EnvRefs) {
		if _, ok := after.EnvRefs[name]; !ok {
			removed = append(removed, name)
		}
	}
	return added, removed
}

// WordDiff shows how before became after, word by word, in the style of
// git's --word-diff=plain: [-removed-] and {+added+} around what changed,
// the rest as it was. ok is false when the texts are too long to compare
// that way in reasonable time; show them whole then.
func WordDiff(before, after string) (string, bool) {
	a, b := words(before), words(after)
	if len(a)+len(b) > 20000 {
		return "", false
	}
	// Without autojunk: in a long text, spaces and dots would otherwise be
	// too common to anchor a match, and whole sentences would show as replaced.
	m := difflib.NewMatcherWithJunk(a, b, false, nil)
	var out strings.Builder
	for _, op := range m.GetOpCodes() {
		del := strings.Join(a[op.I1:op.I2], "")
		ins := strings.Join(b[op.J1:op.J2], "")
		switch op.Tag {
		case 'e':
			out.WriteString(del)
		case 'd':
			out.WriteString("[-" + del + "-]")
		case 'i':
			out.WriteString("{+" + ins + "+}")
		case 'r':
			out.WriteString("[-" + del + "-]{+" + ins + "+}")
		}
	}
	return out.String(), true
}

// words splits text into runs of letters and digits, runs of spaces, and
// single other characters, so that a changed word does not take its
// quotes or punctuation with it.
func words(s string) []string {
	var out []string
	class := func(r rune) int {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_':
			return 1
		case unicode.IsSpace(r):
			return 2
		}
		return 0
	}
	start, prev := 0, -1
	for i, r := range s {
		c := class(r)
		if i > start && (c != prev || c == 0) {
			out = append(out, s[start:i])
			start = i
		}
		prev = c
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
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
