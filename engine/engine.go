// Package engine decides what an event sets off: it decodes a CloudEvent
// against the schema, finds the triggers listening to its type, evaluates
// their CEL filters and renders each enabled action into an
// actions.Delivery. It does no I/O, so the same code serves the server, dry
// runs (eval), rule tests and CI.
package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
	"github.com/valyala/fastjson"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/rules"
)

// Options tune an Engine. The zero value is ready to use.
type Options struct {
	// FilterTimeout bounds the filters of one event together, with the
	// caller's context (the request's): no filter starts after it, and CEL
	// checks it between comprehension iterations of the filters that need
	// the cost tracker (rules.Trigger.Tracked). Default 100 ms.
	FilterTimeout time.Duration
}

// Engine matches and renders events. It is safe for concurrent use and
// holds no rules: every call names the compiled rule set to use, so a hot
// reload is simply a different *Compiled on the next call. What it keeps
// (JSON parsers, date helpers by time zone) does not depend on the rules.
type Engine struct {
	filterTimeout time.Duration
	parsers       fastjson.ParserPool
	zones         sync.Map // time zone name -> map[string]function.Function
}

// New returns an Engine.
func New(opts Options) *Engine {
	if opts.FilterTimeout <= 0 {
		opts.FilterTimeout = 100 * time.Millisecond
	}
	return &Engine{filterTimeout: opts.FilterTimeout}
}

// SkipReason says why a trigger or action did not fire. It is not an error.
type SkipReason string

// Reasons for not firing.
const (
	SkipOtherType       SkipReason = "other event type"
	SkipTriggerDisabled SkipReason = "trigger disabled"
	SkipActionDisabled  SkipReason = "action disabled"
	SkipFilterFalse     SkipReason = "filter false"
)

// Skip is a trigger (or one action of it) that did not fire.
type Skip struct {
	Trigger string
	Action  string // the action's address when only the action was skipped
	Reason  SkipReason
	Detail  string // e.g. the clause of a filter that was false
}

// ErrorKind separates failures from "did not match".
type ErrorKind string

// Kinds of failure.
const (
	FilterError ErrorKind = "filter error"
	RenderError ErrorKind = "render error"
)

// Failure is a trigger whose filter, or an action whose rendering, failed.
type Failure struct {
	Trigger string
	Action  string // set for render errors
	Kind    ErrorKind
	Err     error
}

// Result is what one event sets off.
type Result struct {
	Event    *Event
	Fired    []Fired // in trigger-name, then source order
	Skipped  []Skip
	Failures []Failure
	// Cancels names the waiting deliveries this event cancels (schedules
	// whose cancel_on lists its type); the store cancels them in the
	// transaction that accepts the event.
	Cancels []Cancel
}

// Fired is one action an event set off: the rendered delivery, and the
// action it came from, which says how the delivery is to be run (its
// retry policy).
type Fired struct {
	Delivery *actions.Delivery
	Action   *rules.Action
	// Timing is when it runs, for an action with a schedule; nil: now.
	Timing *Timing
}

// MatchOptions change what Match reports, not what it fires.
type MatchOptions struct {
	// Explain also lists triggers of other event types and, for a false
	// filter made of && clauses, which clause was false. Dry runs use it;
	// the server does not pay for it.
	Explain bool
	// Now is when the event arrived, for schedules; zero means time.Now().
	Now time.Time
}

// Match evaluates every trigger of c that listens to the event's type. The
// event must have been decoded against c's schema.
func (e *Engine) Match(ctx context.Context, c *Compiled, ev *Event, opts MatchOptions) *Result {
	res := &Result{Event: ev}
	set := c.set
	dl := deadline{parent: ctx, start: time.Now(), timeout: e.filterTimeout}
	defer dl.cancel()
	var activation any // built on first use: many events match no filter at all
	// Read only when a fired action has a schedule: most matches need no
	// clock.
	now := func() time.Time {
		if opts.Now.IsZero() {
			opts.Now = time.Now()
		}
		return opts.Now
	}
	getActivation := func() (any, error) {
		if activation == nil {
			act, err := cel.NewActivation(celVariables(ev))
			if err != nil {
				return nil, err
			}
			activation = act
		}
		return activation, nil
	}
	triggers := set.TriggersFor(ev.Type)
	comp := c.byType[ev.Type]
	if len(triggers) > 0 && (comp == nil || comp.et != ev.schema) {
		// Fast templates and guards read the decoded event by its schema
		// entry: one from another rule set could be read wrongly. Only a
		// caller's bug gets here, and carrying on would store the event
		// with none of its deliveries.
		panic("engine: Match was given an event decoded against another rule set")
	}
	guards := guardFields{ev: ev, comp: comp}
	scope := eventScope{e: e, set: set, ev: ev, comp: comp, limits: set.Limits()}
	skip := func(s Skip, i int) {
		if res.Skipped == nil {
			// Most triggers of a type skip most events: one allocation.
			res.Skipped = make([]Skip, 0, len(triggers)-i)
		}
		res.Skipped = append(res.Skipped, s)
	}
	for i, t := range triggers {
		if !t.Enabled {
			skip(Skip{Trigger: t.Name, Reason: SkipTriggerDisabled}, i)
			continue
		}
		if t.When != "" {
			var ok bool
			if g := comp.guards[i]; g != nil && (g.whole || !guards.holds(g)) {
				ok = guards.holds(g)
			} else {
				if _, err := getActivation(); err != nil {
					res.Failures = append(res.Failures, Failure{Trigger: t.Name, Kind: FilterError, Err: err})
					continue
				}
				var err error
				if ok, err = evalFilter(&dl, t.Programs[ev.Type], activation, t.Tracked); err != nil {
					res.Failures = append(res.Failures, Failure{Trigger: t.Name, Kind: FilterError, Err: err})
					continue
				}
			}
			if !ok {
				s := Skip{Trigger: t.Name, Reason: SkipFilterFalse}
				if opts.Explain {
					getActivation()
					s.Detail = explainFalse(dl.context(), set, t, ev.Type, activation)
				}
				skip(s, i)
				continue
			}
		}
		for j, a := range t.Actions {
			if !a.Enabled {
				skip(Skip{Trigger: t.Name, Action: a.Address, Reason: SkipActionDisabled}, i)
				continue
			}
			d, err := render(&scope, a, comp.actions[i][j])
			var timing *Timing
			if err == nil && a.Schedule != nil {
				timing, err = scope.timing(a.Schedule, now(), getActivation)
			}
			if err != nil {
				res.Failures = append(res.Failures, Failure{Trigger: t.Name, Action: a.Address, Kind: RenderError, Err: err})
				continue
			}
			res.Fired = append(res.Fired, Fired{Delivery: d, Action: a, Timing: timing})
		}
	}
	if len(c.cancelers[ev.Type]) > 0 {
		res.Cancels = c.cancels(ev, getActivation)
	}
	if opts.Explain {
		for _, t := range set.Triggers {
			if !listensTo(t, ev.Type) {
				res.Skipped = append(res.Skipped, Skip{Trigger: t.Name, Reason: SkipOtherType, Detail: fmt.Sprintf("listens to %v", t.On)})
			}
		}
	}
	return res
}

// deadline bounds the filters of one event. Every filter checks it before
// it starts; its context, which CEL checks inside comprehensions, is made
// only when a tracked filter needs it: most filters cannot run long, and a
// timer per event costs more than they do.
type deadline struct {
	parent  context.Context
	start   time.Time
	timeout time.Duration
	ctx     context.Context
	stop    context.CancelFunc
}

// err is the context's error, without making the context. time.Since
// reads only the monotonic clock: half the price of time.Now, which shows
// when every filter asks.
func (d *deadline) err() error {
	if d.ctx != nil {
		return d.ctx.Err()
	}
	if err := d.parent.Err(); err != nil {
		return err
	}
	if time.Since(d.start) >= d.timeout {
		return context.DeadlineExceeded
	}
	return nil
}

func (d *deadline) context() context.Context {
	if d.ctx == nil {
		d.ctx, d.stop = context.WithDeadline(d.parent, d.start.Add(d.timeout))
	}
	return d.ctx
}

func (d *deadline) cancel() {
	if d.stop != nil {
		d.stop()
	}
}

func listensTo(t *rules.Trigger, typ string) bool {
	for _, o := range t.On {
		if o == typ {
			return true
		}
	}
	return false
}

// ErrFilterCost is the error of a filter stopped at rules.FilterCostLimit,
// either by CEL's cost tracker or before a call that would alone pass it.
var ErrFilterCost = fmt.Errorf("filter stopped at the cost limit of %d", rules.FilterCostLimit)

// evalFilter runs a filter unless the deadline has passed. Only tracked
// filters run with the deadline's context and the cost tracker: the others
// cannot pass the cost limit, and skipping both keeps a simple comparison
// about four times cheaper.
func evalFilter(dl *deadline, prg cel.Program, activation any, tracked bool) (bool, error) {
	if prg == nil {
		return false, errors.New("the filter was not compiled for this event type")
	}
	if err := dl.err(); err != nil {
		return false, stopped(err)
	}
	var out ref.Val
	var err error
	if tracked {
		ctx := dl.context()
		out, _, err = prg.ContextEval(ctx, activation)
		if err != nil && ctx.Err() != nil {
			return false, stopped(ctx.Err())
		}
	} else {
		out, _, err = prg.Eval(activation)
	}
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return false, fmt.Errorf("%w (%s)", ErrFilterCost, cancelled.Message)
		}
		return false, fmt.Errorf("filter failed: %w", err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("filter returned %s, not true or false", out.Type())
	}
	return bool(b), nil
}

func stopped(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("filter stopped: the event's evaluation deadline passed (%w)", err)
	}
	return fmt.Errorf("filter stopped: the request was cancelled (%w)", err)
}

func (e *Engine) dateFunctions(zone string) map[string]function.Function {
	if fns, ok := e.zones.Load(zone); ok {
		return fns.(map[string]function.Function)
	}
	var loc *time.Location
	if zone != "" {
		var err error
		if loc, err = time.LoadLocation(zone); err != nil {
			// Unknown zone: times keep their own offset. Not cached, so that
			// events cannot grow the cache with made-up names.
			return e.dateFunctions("")
		}
	}
	fns, _ := e.zones.LoadOrStore(zone, rules.DateFunctions(loc))
	return fns.(map[string]function.Function)
}

func eventZone(ev *Event) string {
	for _, obj := range [...]struct{ name, field string }{{"appointment", "time_zone"}, {"booking", "timezone"}} {
		if m, ok := ev.Data[obj.name].(map[string]any); ok {
			if z, ok := m[obj.field].(string); ok && z != "" {
				return z
			}
		}
	}
	return ""
}
