package engine

import (
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/rules"
)

// Compiled is a rule set prepared for matching: what can be worked out once
// per set and event type instead of once per event (guards, the fast form
// of templates, constant attributes rendered). Compile builds all of it
// when rules are loaded or reloaded, before they serve an event; after
// that it is only read, so any number of events may share it.
type Compiled struct {
	set    *rules.Set
	byType map[string]*compiledType // by event type name
	// cancelers lists, by event type, the actions whose schedule that
	// type cancels (cancel_on).
	cancelers map[string][]*rules.Action
}

// Set returns the rule set it was compiled from.
func (c *Compiled) Set() *rules.Set { return c.set }

// compiledType follows set.TriggersFor(type): guards[i] is the guard of the
// i-th trigger's filter (nil: none) and actions[i][j] its j-th action.
type compiledType struct {
	et      *rules.EventType // the schema entry events are decoded against
	calls   int              // distinct function calls of fast templates
	guards  []*guard
	fields  [][]string // the event fields guards read, each listed once
	actions [][]*compiledAction
}

// compiledAction is one action's attributes, prepared, in the order its
// type declares them. Pre-rendered values are shared by every delivery of
// the action; deliveries are plain data that nothing modifies.
type compiledAction struct {
	attrs []compiledAttr
	roots []string // as Action.Roots: what HCL needs when a fast form gives up
}

// compiledAttr is how one attribute renders: to a constant, through its
// fast form, through HCL, or (unset) to the event or nothing.
type compiledAttr struct {
	spec  *actions.Attr
	konst *actions.Value // the same for every event
	size  int            // konst's, counted against the render limits
	fast  fastExpr       // nil: HCL evaluates it
	attr  *hcl.Attribute // nil: not set in the rule
	// fromEvent: rendered per event from an expression that reads it, so
	// its text is marked as the event's (actions.Part.Ev).
	fromEvent bool
}

// Compile prepares set for matching. It fails only when the set is not one
// Load accepted without errors (a filter missing for an event type), which
// the caller treats like a set that failed to load.
func Compile(set *rules.Set) (*Compiled, error) {
	c := &Compiled{set: set, byType: map[string]*compiledType{}, cancelers: map[string][]*rules.Action{}}
	for _, t := range set.Triggers {
		for _, a := range t.Actions {
			if a.Schedule == nil {
				continue
			}
			for _, typ := range a.Schedule.CancelOn {
				c.cancelers[typ] = append(c.cancelers[typ], a)
			}
		}
	}
	// Only signatures matter when compiling, and the date helpers have the
	// same ones in every zone. They shadow the set's functions, as the
	// child context of evalContext does.
	funcs := map[string]function.Function{}
	for name, fn := range set.EvalContext().Functions {
		funcs[name] = fn
	}
	for name, fn := range rules.DateFunctions(time.UTC) {
		funcs[name] = fn
	}
	for _, name := range set.Schema.EventNames() {
		triggers := set.TriggersFor(name)
		if len(triggers) == 0 {
			continue
		}
		ct, err := compileType(set, set.Schema.Events[name], triggers, funcs)
		if err != nil {
			return nil, err
		}
		c.byType[name] = ct
	}
	return c, nil
}

func compileType(set *rules.Set, et *rules.EventType, triggers []*rules.Trigger, funcs map[string]function.Function) (*compiledType, error) {
	fc := &compiler{et: et, funcs: funcs, calls: map[string]int{}}
	ct := &compiledType{et: et, guards: make([]*guard, len(triggers)), actions: make([][]*compiledAction, len(triggers))}
	for i, t := range triggers {
		if t.When != "" && t.Programs[et.Name] == nil {
			return nil, fmt.Errorf("trigger %s: its filter was not compiled for event type %s", t.Name, et.Name)
		}
		ct.guards[i] = ct.compileGuard(t, et)
		ct.actions[i] = make([]*compiledAction, len(t.Actions))
		for j, a := range t.Actions {
			if a.Spec == nil {
				return nil, fmt.Errorf("action %s has no type", a.Address)
			}
			ct.actions[i][j] = compileAction(set, a, fc)
		}
	}
	ct.calls = len(fc.calls)
	return ct, nil
}

func compileAction(set *rules.Set, a *rules.Action, fc *compiler) *compiledAction {
	ca := &compiledAction{roots: a.Roots, attrs: make([]compiledAttr, 0, len(a.Spec.Attrs))}
	for i := range a.Spec.Attrs {
		spec := &a.Spec.Attrs[i]
		c := compiledAttr{spec: spec, attr: a.Attrs[spec.Name], fromEvent: a.Attrs[spec.Name] != nil && !isConst(a, spec.Name)}
		switch {
		case spec.Kind.Static():
			v, ok := a.Static[spec.Name]
			if !ok {
				continue
			}
			c.konst = &actions.Value{Text: actions.Literal(v)}
		case c.attr == nil:
			if !spec.EventDefault {
				continue
			}
		case isConst(a, spec.Name):
			c.konst = preRender(set, a, spec)
			if c.konst == nil {
				c.fast = fc.compile(c.attr.Expr)
			} else {
				c.size = valueSize(*c.konst)
			}
		default:
			c.fast = fc.compile(c.attr.Expr)
		}
		ca.attrs = append(ca.attrs, c)
	}
	return ca
}

func isConst(a *rules.Action, name string) bool {
	_, ok := a.Consts[name]
	return ok
}

// preRender renders a constant attribute the way render would, or returns
// nil when that fails: render then reports it for each event as before.
// Slices are clipped, so that appending to one delivery's copy can never
// write into another's.
func preRender(set *rules.Set, a *rules.Action, spec *actions.Attr) *actions.Value {
	r := renderer{set: set, consts: a.Consts}
	v := r.value(&compiledAttr{spec: spec, attr: a.Attrs[spec.Name]})
	if r.err != nil || valueSize(v) > set.Limits().Attr {
		return nil
	}
	v.Text = slices.Clip(v.Text)
	v.List = slices.Clip(v.List)
	for i := range v.List {
		v.List[i] = slices.Clip(v.List[i])
	}
	v.Map = slices.Clip(v.Map)
	for i := range v.Map {
		v.Map[i].Value = slices.Clip(v.Map[i].Value)
	}
	return &v
}

// eventScope is what rendering shares between the actions of one event.
type eventScope struct {
	e     *Engine
	set   *rules.Set
	ev    *Event
	comp  *compiledType
	ctx   *hcl.EvalContext             // for HCL; built on first use
	funcs map[string]function.Function // the set's
	dates map[string]function.Function // bound to the event's time zone
	raw   string                       // ev.Raw, the default body of http actions
	buf   []byte                       // scratch space of fast templates
	calls []memo                       // by fastCall.slot, made on first use

	limits rules.RenderLimits
	loop   rules.LoopBudget // what the loops of the attribute being rendered may still build
	root   fastExpr         // the fast form of the attribute being rendered
	big    bool             // its template stopped at the attribute limit
	// limitErr is a function's refusal, in a fast form, to build past it.
	limitErr error
}

func (s *eventScope) datesFunctions() map[string]function.Function {
	if s.dates == nil {
		s.dates = s.e.dateFunctions(eventZone(s.ev))
	}
	return s.dates
}

// function looks a name up as HCL would in the render context.
func (s *eventScope) function(name string) (function.Function, bool) {
	if fn, ok := s.datesFunctions()[name]; ok {
		return fn, true
	}
	if s.funcs == nil {
		s.funcs = s.set.EvalContext().Functions
	}
	fn, ok := s.funcs[name]
	return fn, ok
}

// evalContext returns the render context with the variables in roots
// converted to cty.
func (s *eventScope) evalContext(roots []string) *hcl.EvalContext {
	if s.ctx == nil {
		// set <- dates <- loop counters and variables: the date helpers
		// are shared by every event of the zone, so the counters, which
		// are this event's, get a context of their own.
		dates := s.set.EvalContext().NewChild()
		dates.Functions = s.datesFunctions()
		s.ctx = dates.NewChild()
		s.ctx.Variables = make(map[string]cty.Value, len(s.ev.schema.Data)+1)
		s.ctx.Functions = rules.LoopFunctions(&s.loop)
	}
	addVariables(s.ctx, s.set, s.ev, roots)
	return s.ctx
}

func (s *eventScope) rawBody() string {
	if s.raw == "" {
		s.raw = string(s.ev.Raw)
	}
	return s.raw
}
