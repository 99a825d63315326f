package engine

import (
	"runtime"
	"slices"
	"sync"
	"time"
	"weak"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/rules"
)

// A plan is what the engine works out once per rule set and event type
// instead of once per event: the fast form of templates and the rendered
// constant attributes. Plans are caches, built on the first event of a type.

// setPlan holds the plans of one rule set, by event type. The schema entry
// the event was decoded against is the key, because fast templates read the
// decoded data with its types.
type setPlan struct {
	byType sync.Map // *rules.EventType -> *typePlan
}

// typePlan follows set.TriggersFor(type): guards[i] is the guard of the
// i-th trigger's filter (nil: none) and actions[i][j] the plan of its j-th
// action.
type typePlan struct {
	calls   int // distinct function calls of fast templates
	guards  []*guard
	fields  [][]string // the event fields guards read, each listed once
	actions [][]*actionPlan
}

// actionPlan is one action's attributes, prepared. Pre-rendered values are
// shared by every delivery of the action; deliveries are plain data that
// nothing modifies.
type actionPlan struct {
	fast    map[string]fastExpr
	texts   map[string]actions.Text
	lists   map[string][]actions.Text
	headers map[string][]actions.Header
	roots   []string // as Action.Roots: what HCL needs when a fast form gives up
}

// recentPlan remembers the plans of the set used last: weak.Make takes a
// lock on the set's memory span, which every event would contend for.
type recentPlan struct {
	set  weak.Pointer[rules.Set]
	plan *setPlan
}

// plan returns the plan for events of type et under set. Sets are keyed
// weakly, so a set dropped by a reload takes its plans with it.
func (e *Engine) plan(set *rules.Set, et *rules.EventType) *typePlan {
	var sp *setPlan
	if r := e.recent.Load(); r != nil && r.set.Value() == set {
		sp = r.plan
	} else {
		key := weak.Make(set)
		v, ok := e.plans.Load(key)
		if !ok {
			var loaded bool
			if v, loaded = e.plans.LoadOrStore(key, &setPlan{}); !loaded {
				runtime.AddCleanup(set, func(k weak.Pointer[rules.Set]) { e.plans.Delete(k) }, key)
			}
		}
		sp = v.(*setPlan)
		e.recent.Store(&recentPlan{set: key, plan: sp})
	}
	if tp, ok := sp.byType.Load(et); ok {
		return tp.(*typePlan)
	}
	tp, _ := sp.byType.LoadOrStore(et, newTypePlan(set, et))
	return tp.(*typePlan)
}

func newTypePlan(set *rules.Set, et *rules.EventType) *typePlan {
	// Only signatures matter when compiling, and the date helpers have the
	// same ones in every zone. They shadow the set's functions, as the
	// child context of renderContext does.
	c := &compiler{et: et, funcs: map[string]function.Function{}, calls: map[string]int{}}
	for name, fn := range set.EvalContext().Functions {
		c.funcs[name] = fn
	}
	for name, fn := range rules.DateFunctions(time.UTC) {
		c.funcs[name] = fn
	}
	triggers := set.TriggersFor(et.Name)
	tp := &typePlan{guards: make([]*guard, len(triggers)), actions: make([][]*actionPlan, len(triggers))}
	for i, t := range triggers {
		tp.guards[i] = tp.compileGuard(t, et)
		tp.actions[i] = make([]*actionPlan, len(t.Actions))
		for j, a := range t.Actions {
			tp.actions[i][j] = newActionPlan(set, a, c)
		}
	}
	tp.calls = len(c.calls)
	return tp
}

func newActionPlan(set *rules.Set, a *rules.Action, c *compiler) *actionPlan {
	p := &actionPlan{
		fast:    map[string]fastExpr{},
		texts:   map[string]actions.Text{},
		lists:   map[string][]actions.Text{},
		headers: map[string][]actions.Header{},
		roots:   a.Roots,
	}
	for name, attr := range a.Attrs {
		if _, ok := a.Consts[name]; ok {
			p.preRender(set, a, name)
			continue
		}
		if f := c.compile(attr.Expr); f != nil {
			p.fast[name] = f
		}
	}
	return p
}

// preRender renders a constant attribute the way render would. One that
// fails is left to render, which reports it for each event as before.
// Slices are clipped, so that appending to one delivery's copy can never
// write into another's.
func (p *actionPlan) preRender(set *rules.Set, a *rules.Action, name string) {
	r := renderer{set: set, attrs: a.Attrs, consts: a.Consts, plan: &actionPlan{}}
	switch shapeOf(a.Type, name) {
	case shapeHeaders:
		h := slices.Clip(r.headers(name))
		for i := range h {
			h[i].Value = slices.Clip(h[i].Value)
		}
		if r.err == nil {
			p.headers[name] = h
		}
	case shapeList:
		l := slices.Clip(r.list(name))
		for i := range l {
			l[i] = slices.Clip(l[i])
		}
		if r.err == nil {
			p.lists[name] = l
		}
	default:
		if t := slices.Clip(r.text(name)); r.err == nil {
			p.texts[name] = t
		}
	}
}

// eventScope is what rendering shares between the actions of one event.
type eventScope struct {
	e     *Engine
	set   *rules.Set
	ev    *Event
	plan  *typePlan
	ctx   *hcl.EvalContext             // for HCL; built on first use
	funcs map[string]function.Function // the set's
	dates map[string]function.Function // bound to the event's time zone
	raw   string                       // ev.Raw, the default body of http actions
	buf   []byte                       // scratch space of fast templates
	calls []memo                       // by fastCall.slot, made on first use
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
		s.ctx = s.set.EvalContext().NewChild()
		s.ctx.Variables = make(map[string]cty.Value, len(s.ev.schema.Data)+1)
		s.ctx.Functions = s.datesFunctions()
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
