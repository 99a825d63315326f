package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hookline/hookline/actions"
	"github.com/zclconf/go-cty/cty"
)

// Trigger is one `trigger` block: which events it listens to, an optional
// CEL filter, and its actions.
type Trigger struct {
	Name        string
	Description string
	On          []string
	Enabled     bool
	When        string    // CEL source; "" means every event matches
	WhenRange   hcl.Range // of the string holding the CEL source
	Actions     []*Action // in source order
	Retry       *Retry    // the trigger's retry block: the default for its actions
	Schedule    *Schedule // the trigger's schedule block: the default for its actions
	DeclRange   hcl.Range

	// Programs holds the compiled filter per event type in On (types differ
	// in the variables they declare, so each is checked on its own).
	Programs map[string]cel.Program
	// ASTs are the checked filters, for explaining why a filter was false.
	ASTs map[string]*cel.Ast
	// Tracked is set when the filter's worst case, estimated at load for
	// events of up to Options.MaxEventBytes, might pass FilterCostLimit.
	// Only then do its programs run with CEL's cost tracker and need the
	// deadline, which together cost several times a simple filter's
	// evaluation; the others cannot reach the limit.
	Tracked bool
}

// Action is one `action "TYPE" "NAME"` block. Its templated attributes stay
// expressions: they are rendered per event by the engine.
type Action struct {
	Trigger string
	Type    string        // Spec.Name
	Spec    *actions.Type // what the type declares: attributes, provider, executor
	Name    string
	Address string // TRIGGER.TYPE.NAME
	Enabled bool
	Attrs   map[string]*hcl.Attribute // templated attributes only
	// Consts holds the templated attributes that read no event field,
	// evaluated once at load so that delivery skips them.
	Consts map[string]cty.Value
	// Roots lists the event variables the templates read, so the engine
	// converts only those for this action.
	Roots []string
	// Static holds the values of static attributes (Choice, Duration,
	// Number), defaults included, as text.
	Static map[string]string
	Retry  *Retry // the action's own retry block, else the trigger's; nil: the server default
	// Schedule is the action's own schedule block, else the trigger's;
	// nil: the action runs when its event arrives.
	Schedule  *Schedule
	DeclRange hcl.Range
}

var triggerSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "description"},
		{Name: "on", Required: true},
		{Name: "when"},
		{Name: "enabled"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "action", LabelNames: []string{"type", "name"}},
		{Type: "retry"},
		{Type: "schedule"},
	},
}

func (c *checker) decodeTrigger(b *hcl.Block) *Trigger {
	name := b.Labels[0]
	if !c.validName("trigger", name, b.LabelRanges[0]) {
		return nil
	}
	t := &Trigger{Name: name, Enabled: true, DeclRange: b.DefRange}
	content, diags := b.Body.Content(triggerSchema)
	c.diags = append(c.diags, diags...)
	if a, ok := content.Attributes["description"]; ok {
		c.diags = append(c.diags, decodeString(a, &t.Description)...)
	}
	if a, ok := content.Attributes["enabled"]; ok {
		c.diags = append(c.diags, decodeBool(a, &t.Enabled)...)
	}
	var types []*EventType
	if a, ok := content.Attributes["on"]; ok {
		types = c.decodeOn(t, a)
	}
	if a, ok := content.Attributes["when"]; ok {
		c.compileWhen(t, a, types)
	}
	var retry *Retry
	var actionBlocks []*hcl.Block
	for _, blk := range content.Blocks {
		if blk.Type == "schedule" {
			if t.Schedule != nil {
				c.diags = append(c.diags, duplicateDiag("schedule block", "schedule", blk.DefRange, t.Schedule.DeclRange))
				continue
			}
			t.Schedule = c.decodeScheduleBlock(blk, types)
			continue
		}
		if blk.Type == "retry" {
			if retry != nil {
				c.diags = append(c.diags, duplicateDiag("retry block", "retry", blk.DefRange, retry.DeclRange))
				continue
			}
			retry = c.decodeRetry(blk)
			continue
		}
		actionBlocks = append(actionBlocks, blk)
	}
	t.Retry = retry
	seen := map[string]hcl.Range{}
	for _, ab := range actionBlocks {
		if act := c.decodeAction(t, ab, types); act != nil && c.firstOf(seen, "action", act.Address, ab.LabelRanges[1], act.DeclRange) {
			t.Actions = append(t.Actions, act)
		}
	}
	if len(actionBlocks) == 0 && !diags.HasErrors() && !c.broken[b.DefRange.Filename] {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Trigger has no actions",
			Detail:   fmt.Sprintf("The trigger %q does nothing when it matches; add an action block.", name),
			Subject:  b.DefRange.Ptr(),
		})
	}
	return t
}

// decodeOn reads `on`, a list of event types, pointing at the exact element
// that names an unknown type.
func (c *checker) decodeOn(t *Trigger, a *hcl.Attribute) []*EventType {
	var exprs []hcl.Expression
	if tuple, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok {
		for _, e := range tuple.Exprs {
			exprs = append(exprs, e)
		}
	} else {
		exprs = []hcl.Expression{a.Expr}
	}
	var types []*EventType
	for _, e := range exprs {
		var name string
		attr := &hcl.Attribute{Name: "on", Expr: e, Range: e.Range()}
		if d := decodeString(attr, &name); d.HasErrors() {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value for on",
				Detail:   `on must be a list of event type names, such as ["participant.confirmed"].`,
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		et, ok := c.set.Schema.Events[name]
		if !ok {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown event type",
				Detail:   fmt.Sprintf("There is no event type %q in schema.hcl or in this rules directory.%s", name, didYouMean(name, c.set.Schema.EventNames())),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		if contains(t.On, name) {
			c.diags = append(c.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate event type",
				Detail:   fmt.Sprintf("%q is listed twice in on; remove one.", name),
				Subject:  e.Range().Ptr(),
			})
			continue
		}
		t.On = append(t.On, name)
		types = append(types, et)
	}
	if len(exprs) == 0 {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Empty on",
			Detail:   "A trigger must listen to at least one event type.",
			Subject:  a.Expr.Range().Ptr(),
		})
	}
	return types
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *checker) validName(what, name string, rng hcl.Range) bool {
	if hclsyntax.ValidIdentifier(name) {
		return true
	}
	c.diags = append(c.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid " + what + " name",
		Detail:   fmt.Sprintf("%q is not a valid %s name: use letters, digits, underscores and dashes, starting with a letter, since it becomes part of action addresses.", name, what),
		Subject:  rng.Ptr(),
	})
	return false
}

// compileWhen compiles the filter once per event type of the trigger.
func (c *checker) compileWhen(t *Trigger, a *hcl.Attribute, types []*EventType) {
	src, ok := c.celSource(a, "Invalid filter", `when = "participant.email != ''"`)
	if !ok {
		return
	}
	t.When, t.WhenRange = src, a.Expr.Range()
	t.Programs = map[string]cel.Program{}
	t.ASTs = map[string]*cel.Ast{}
	var envs []*cel.Env
	var found onceEach
	for _, et := range types {
		ast, diags := c.compileCEL(t.When, t.WhenRange, et, len(types) > 1)
		found.add(diags)
		if ast == nil {
			continue
		}
		env, _ := c.cel.forType(et) // compileCEL built it
		t.ASTs[et.Name] = ast
		envs = append(envs, env)
		// Loops are tracked whatever their estimate: an iteration costs
		// CEL a few units but takes hundreds of nanoseconds, so only the
		// deadline, checked inside them, keeps them short.
		t.Tracked = t.Tracked || hasComprehension(ast.NativeRep().Expr()) || needsTracking(env, ast, c.maxEvent)
	}
	c.diags = append(c.diags, mergeNotInEvent(found.diags)...)
	// One mode for every event type, so that the engine can tell it from
	// the trigger.
	i := 0
	for _, et := range types {
		ast, ok := t.ASTs[et.Name]
		if !ok {
			continue
		}
		prg, err := c.cel.filterProgram(envs[i], ast, t.Tracked)
		i++
		if err != nil {
			c.diags = append(c.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid filter", Detail: fmt.Sprintf("CEL: %v.", err), Subject: t.WhenRange.Ptr()})
			delete(t.ASTs, et.Name)
			continue
		}
		t.Programs[et.Name] = prg
	}
}

func hasComprehension(e celast.Expr) bool {
	switch e.Kind() {
	case celast.ComprehensionKind:
		return true
	case celast.CallKind:
		c := e.AsCall()
		if c.IsMemberFunction() && hasComprehension(c.Target()) {
			return true
		}
		for _, a := range c.Args() {
			if hasComprehension(a) {
				return true
			}
		}
	case celast.SelectKind:
		return hasComprehension(e.AsSelect().Operand())
	case celast.ListKind:
		for _, el := range e.AsList().Elements() {
			if hasComprehension(el) {
				return true
			}
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			if hasComprehension(me.Key()) || hasComprehension(me.Value()) {
				return true
			}
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			if hasComprehension(f.AsStructField().Value()) {
				return true
			}
		}
	}
	return false
}

// onceEach collects the diagnostics of one expression compiled per event
// type, keeping the same mistake once however many types make it.
type onceEach struct {
	seen  map[string]bool
	diags hcl.Diagnostics
}

func (o *onceEach) add(diags hcl.Diagnostics) {
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	for _, d := range diags {
		key := d.Subject.String() + strings.Split(d.Detail, " (for event type")[0]
		if !o.seen[key] {
			o.seen[key] = true
			o.diags = append(o.diags, d)
		}
	}
}

// celSource reads an attribute holding CEL source (when, correlate): a
// literal string, since CEL, not HCL, evaluates it. example is the
// attribute written well, for the message.
func (c *checker) celSource(a *hcl.Attribute, summary, example string) (string, bool) {
	tmpl, ok := a.Expr.(*hclsyntax.TemplateExpr)
	v, diags := a.Expr.Value(nil)
	if !ok || diags.HasErrors() || !tmpl.IsStringLiteral() || v.IsNull() {
		c.diags = append(c.diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("%s must be a literal string holding a CEL expression, such as %s.", a.Name, example),
			Subject:  a.Expr.Range().Ptr(),
		})
		return "", false
	}
	return v.AsString(), true
}
