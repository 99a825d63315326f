package rules

import (
	"fmt"
	"sort"
	"strings"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// checker holds what checking a rule set needs once: CEL environments and
// evaluation contexts per event type.
type checker struct {
	set   *Set
	cel   *celEnvs
	ctxs  map[string]*hcl.EvalContext
	diags hcl.Diagnostics
	// broken files had syntax errors; warnings about their half-parsed
	// contents would only be noise.
	broken map[string]bool
	// maxEvent bounds each value of an event when filter costs are
	// estimated (Options.MaxEventBytes).
	maxEvent uint64
}

func newChecker(set *Set, broken map[string]bool) (*checker, error) {
	envs, err := newCELEnvs(set.Schema)
	if err != nil {
		return nil, err
	}
	return &checker{set: set, cel: envs, ctxs: map[string]*hcl.EvalContext{}, broken: broken, maxEvent: DefaultMaxEventBytes}, nil
}

// checkContext evaluates templates against unknown values of the event
// type's declared types: HCL then reports references to fields that do not
// exist, unknown functions and type errors, without any real event.
func (c *checker) checkContext(et *EventType) *hcl.EvalContext {
	if ctx, ok := c.ctxs[et.Name]; ok {
		return ctx
	}
	vars := map[string]cty.Value{"event": cty.UnknownVal(ctyObject(envelopeObject()))}
	for _, f := range et.Data {
		vars[f.Name] = cty.UnknownVal(CtyType(f.Type))
	}
	funcs := stdFunctions(c.set.limits.Attr)
	for name, fn := range dateFunctions(nil) {
		funcs[name] = fn
	}
	funcs["env"] = envFunction(func(string) cty.Value { return cty.UnknownVal(cty.String) })
	ctx := &hcl.EvalContext{Variables: vars, Functions: funcs}
	c.ctxs[et.Name] = ctx
	return ctx
}

// CtyType is the cty type templates see for a schema type. Timestamps are
// their RFC 3339 text, so they print as sent and feed the date helpers.
func CtyType(t *Type) cty.Type {
	switch t.Kind {
	case KindString, KindTimestamp:
		return cty.String
	case KindInteger, KindNumber:
		return cty.Number
	case KindBool:
		return cty.Bool
	case KindList:
		return cty.List(CtyType(t.Elem))
	case KindMap:
		return cty.Map(CtyType(t.Elem))
	case KindObject:
		return ctyObject(t.Object)
	}
	return cty.DynamicPseudoType
}

// ctyObject is the cty object type of a schema object: the one resolve
// computed, or, for objects built outside a schema (the envelope), a new
// one. It never writes: sets are shared by concurrent events.
func ctyObject(o *Object) cty.Type {
	if o.cty != cty.NilType {
		return o.cty
	}
	return buildCtyObject(o)
}

func buildCtyObject(o *Object) cty.Type {
	attrs := make(map[string]cty.Type, len(o.Fields))
	for _, f := range o.Fields {
		attrs[f.Name] = CtyType(f.Type)
	}
	return cty.Object(attrs)
}

func (c *checker) compileCEL(src string, rng hcl.Range, et *EventType, multi bool) (*cel.Ast, hcl.Diagnostics) {
	ast, diags := c.compileCELExpr(src, rng, et, multi, "Invalid filter")
	if ast == nil {
		return nil, diags
	}
	forType := ""
	if multi {
		forType = fmt.Sprintf(" (for event type %s)", et.Name)
	}
	if out := ast.OutputType(); !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Filter is not a condition",
			Detail:   fmt.Sprintf("when must evaluate to true or false, but this expression gives %s%s.", out, forType),
			Subject:  rng.Ptr(),
		}}
	}
	return ast, nil
}

// compileCELValue compiles a CEL expression giving a value to compare:
// a string or a number.
func (c *checker) compileCELValue(src string, rng hcl.Range, et *EventType, multi bool) (*cel.Ast, hcl.Diagnostics) {
	ast, diags := c.compileCELExpr(src, rng, et, multi, "Invalid correlate")
	if ast == nil {
		return nil, diags
	}
	out := ast.OutputType()
	for _, ok := range []*cel.Type{cel.StringType, cel.IntType, cel.UintType, cel.DynType} {
		if out.IsExactType(ok) {
			return ast, nil
		}
	}
	forType := ""
	if multi {
		forType = fmt.Sprintf(" (for event type %s)", et.Name)
	}
	return nil, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid correlate",
		Detail:   fmt.Sprintf("correlate must give a string or a number to compare, such as appointment.id, but this expression gives %s%s.", out, forType),
		Subject:  rng.Ptr(),
	}}
}

// compileCELExpr compiles src for events of type et, turning CEL's errors
// into diagnostics headed summary.
func (c *checker) compileCELExpr(src string, rng hcl.Range, et *EventType, multi bool, summary string) (*cel.Ast, hcl.Diagnostics) {
	env, err := c.cel.forType(et)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Internal error", Detail: err.Error(), Subject: rng.Ptr()}}
	}
	forType := ""
	if multi {
		forType = fmt.Sprintf(" (for event type %s)", et.Name)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		var fileBytes []byte
		if f := c.set.Files[rng.Filename]; f != nil {
			fileBytes = f.Bytes
		}
		at := func(line, col, width int) *hcl.Range {
			return &hcl.Range{Filename: rng.Filename, Start: celPos(fileBytes, rng, line, col), End: celPos(fileBytes, rng, line, col+width)}
		}
		if fix, ok := explainSyntax(src, iss.Errors()); ok {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: fix.detail, Subject: at(fix.line, fix.col, fix.width), Context: rng.Ptr()}}
		}
		var diags hcl.Diagnostics
		for _, e := range iss.Errors() {
			line, col, width := e.Location.Line(), e.Location.Column(), 1
			detail := ""
			var extra *notInEvent
			if name, ok := undefinedField(e.Message); ok {
				// CEL places a selection at its dot; point at the name instead.
				path := pathBefore([]byte(src), celOffset(src, line, col))
				col, width = col+1, len([]rune(name))
				if d, x, ok := missingField(et, path, name); ok {
					detail, extra = d, x
				}
			} else if m := undeclaredRef.FindStringSubmatch(e.Message); m != nil {
				name := m[1]
				text := []rune(celLine(src, line))
				switch {
				case col >= 0 && col < len(text) && text[col] == '(':
					// A call is placed at its parenthesis.
					start, _ := wordBefore(string(text), col)
					col, width = start, len([]rune(name))
					if name == "not" {
						detail = notSentence
					} else {
						detail = unknownCELFunction(env, name)
					}
				default:
					width = len([]rune(name))
					detail, extra = missingVariable(c.set.Schema, et, name)
				}
			}
			if detail == "" {
				detail = celDetail(e.Message, et, forType)
			}
			d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: at(line, col, width), Context: rng.Ptr()}
			if extra != nil {
				d.Extra = extra
			}
			diags = append(diags, d)
		}
		return nil, diags
	}
	return ast, nil
}

// celDetail is a CEL error that no sentence explains, in CEL's words;
// CEL's terse "undefined field 'phon'" gets a suggestion drawn from the
// schema.
func celDetail(msg string, et *EventType, forType string) string {
	name, ok := undefinedField(msg)
	if !ok {
		return fmt.Sprintf("CEL: %s%s.", strings.ReplaceAll(msg, celTypePrefix, ""), forType)
	}
	var candidates []string
	for _, f := range et.Data {
		collectFieldNames(f.Type, &candidates, map[*Object]bool{})
	}
	collectFieldNames(&Type{Kind: KindObject, Object: envelopeObject()}, &candidates, map[*Object]bool{})
	return fmt.Sprintf("There is no field named %q in %s events.%s", name, et.Name, didYouMean(name, candidates))
}

// celOffset is the byte offset in src of a CEL position (line from 1,
// column from 0 in characters).
func celOffset(src string, line, col int) int {
	off := 0
	for i, l := range strings.SplitAfter(src, "\n") {
		if i+1 == line {
			r := []rune(l)
			return off + len(string(r[:min(col, len(r))]))
		}
		off += len(l)
	}
	return len(src)
}

func undefinedField(msg string) (string, bool) {
	const undefined = "undefined field '"
	i := strings.Index(msg, undefined)
	if i < 0 {
		return "", false
	}
	return strings.TrimSuffix(msg[i+len(undefined):], "'"), true
}

func collectFieldNames(t *Type, out *[]string, seen map[*Object]bool) {
	for t != nil && (t.Kind == KindList || t.Kind == KindMap) {
		t = t.Elem
	}
	if t == nil || t.Kind != KindObject || seen[t.Object] {
		return
	}
	seen[t.Object] = true
	for _, f := range t.Object.Fields {
		*out = append(*out, f.Name)
		collectFieldNames(f.Type, out, seen)
	}
}

// collectEnv records every env("NAME") in an expression. env() must be
// given a literal name so that validate can tell which secrets a rule set
// needs without running it.
func (c *checker) collectEnv(expr hcl.Expression) {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return
	}
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		call, ok := n.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "env" {
			return nil
		}
		var name string
		if len(call.Args) == 1 {
			if v, d := call.Args[0].Value(nil); !d.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
				name = v.AsString()
			}
		}
		if name == "" {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid env() call",
				Detail:   `env() takes one literal variable name, such as env("CRM_API_KEY"), so that validate can check it.`,
				Subject:  call.Range().Ptr(),
			})
			return nil
		}
		c.set.EnvRefs[name] = append(c.set.EnvRefs[name], call.Range())
		return nil
	})
}

// checkEnv reports env() variables that are not set. At validate time that
// is a warning (CI rarely has production secrets); serve makes it an error.
func (c *checker) checkEnv(opts Options) {
	for _, name := range sortedKeys(c.set.EnvRefs) {
		if _, ok := opts.LookupEnv(name); ok {
			continue
		}
		sev, tail := hcl.DiagWarning, "the server will refuse to start until it is set."
		if opts.RequireEnv {
			sev, tail = hcl.DiagError, "set it in the server's environment."
		}
		refs := c.set.EnvRefs[name]
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: sev,
			Summary:  "Environment variable not set",
			Detail:   fmt.Sprintf("The environment variable %s is not set (used %d time%s); %s", name, len(refs), plural(len(refs)), tail),
			Subject:  refs[0].Ptr(),
			Extra:    UnsetEnv{Name: name},
		})
	}
}

// UnsetEnv is the Extra of the diagnostic about an env() variable that is
// not set, so that a caller can tell that diagnostic from the others
// without reading its text: hcl.DiagnosticExtra[rules.UnsetEnv](d).
type UnsetEnv struct{ Name string }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// sortDiags orders diagnostics by file and position, errors and warnings
// interleaved, so output reads top to bottom like the files.
func sortDiags(diags hcl.Diagnostics) {
	sort.SliceStable(diags, func(i, j int) bool {
		a, b := diags[i].Subject, diags[j].Subject
		if a == nil || b == nil {
			return a == nil && b != nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})
}
