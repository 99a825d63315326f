package rules

import (
	"fmt"
	"strings"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// What a filter may cost, and how that is enforced without slowing down
// the filters that can never come near it.
//
// CEL's cost tracker charges a call after it returns, from the sizes of its
// arguments and result; it stops a filter once the total passes the limit,
// and the context (the request's deadline) is checked only between
// comprehension iterations. Both are too late for one call whose work grows
// faster than its arguments: distinct() and sort() compare every pair of
// elements, sets.contains() every element of one list with every element of
// the other, and replace(), join(), flatten() or format() can build far more
// than they were given. So those calls are guarded: before doing the work,
// a guard computes what the tracker will charge for it (or the size of what
// it will build) and stops the filter when that alone passes the limit. A
// guard therefore changes no result, it only spares the work whose result
// would have been a cost-limit error anyway.
//
// The tracker itself costs about four times a simple comparison, so it runs
// only for filters that need it: at load every filter's worst case is
// estimated with each string, list and map of an event as large as the
// largest event served allows (Options.MaxEventBytes), and a filter whose
// estimate stays within the limit cannot pass it, so it runs untracked.

const (
	// FilterCostLimit is the most one evaluation of a filter may cost, in
	// CEL's cost units: about one per comparison, field read, element
	// visited or byte a function builds, a tenth per byte scanned. Filters
	// that compare fields cost tens; the costliest realistic ones transform
	// a string field twice (message.body.trim().lowerAscii() == 'cancel'),
	// 2.3 million for a 1 MiB field, which this lets run untracked and
	// never stops. At the limit one filter has done about 55 ms of work on
	// the development machine (3 million element comparisons in
	// sets.contains); loops are stopped by the event's deadline before.
	FilterCostLimit = 3_000_000
	// filterInterruptEvery is how many comprehension iterations pass between
	// checks of the evaluation context's deadline.
	filterInterruptEvery = 100
	// DefaultMaxEventBytes is the size of event the estimates assume when
	// Options.MaxEventBytes is not set: the server's default largest body
	// and net/http's largest header block (binary mode carries the envelope
	// in headers).
	DefaultMaxEventBytes = 1 << 20
)

// filterProgram builds the program of a checked filter; tracked programs
// have the cost limit and check the deadline in comprehensions.
func (c *celEnvs) filterProgram(env *cel.Env, ast *cel.Ast, tracked bool) (cel.Program, error) {
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if g := c.guardsFor(ast); len(g) > 0 {
		//lint:ignore SA1019 a program's own overloads are the one way to replace a singleton binding (sort, matches); cel.Function refuses to redefine one
		opts = append(opts, cel.Functions(g...))
	}
	if tracked {
		opts = append(opts, cel.CostLimit(FilterCostLimit), cel.InterruptCheckFrequency(filterInterruptEvery))
	}
	return env.Program(ast, opts...)
}

// guardsFor returns the guarded bindings of the functions ast calls: most
// filters call none, and their programs skip the dispatcher they would
// need.
func (c *celEnvs) guardsFor(ast *cel.Ast) []*functions.Overload {
	var out []*functions.Overload
	seen := map[string]bool{}
	celast.PostOrderVisit(ast.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() != celast.CallKind {
			return
		}
		name := e.AsCall().FunctionName()
		if !seen[name] {
			seen[name] = true
			out = append(out, c.guards[name]...)
		}
	}))
	return out
}

// needsTracking estimates a filter's worst case over events of up to
// maxEvent bytes; true means it might pass FilterCostLimit.
func needsTracking(env *cel.Env, ast *cel.Ast, maxEvent uint64) bool {
	est, err := env.EstimateCost(ast, eventSizes{max: maxEvent})
	return err != nil || est.Max > FilterCostLimit
}

// eventSizes bounds the values a filter reads from an event: none can be
// larger than the event. A string of n bytes has at most n code points, a
// JSON list of n bytes fewer than n/2 elements ("0,") and a map fewer than
// n/5 entries (`"k":0,` with distinct keys).
type eventSizes struct{ max uint64 }

func (s eventSizes) EstimateSize(node cost.AstNode) *cost.SizeEstimate {
	if len(node.Path()) == 0 {
		return nil
	}
	n := s.max
	switch node.Type().Kind() {
	case types.ListKind:
		n /= 2
	case types.MapKind:
		n /= 5
	}
	est := cost.RangedSizeEstimate(0, n)
	return &est
}

func (eventSizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// celGuard says what a call would cost before it is made, and what it is,
// for the error.
type celGuard func(args []ref.Val) (need uint64, what string)

// celGuards are the guarded functions, by name; every overload of each is
// guarded.
var celGuards = map[string]celGuard{
	"distinct":              selfCompare("distinct()", 0),
	"sort":                  selfCompare("sort()", 0),
	"@sortByAssociatedKeys": selfCompare("sortBy()", 1),
	"sets.contains":         pairs("sets.contains()", 1),
	"sets.intersects":       pairs("sets.intersects()", 1),
	"sets.equivalent":       pairs("sets.equivalent()", 2),
	"hasAll":                pairs("hasAll()", 1),
	"hasAny":                pairs("hasAny()", 1),
	"hasOnly":               pairs("hasOnly()", 1),
	"hasExactly":            pairs("hasExactly()", 2),
	"matches":               regexCost,
	"replace":               replaceSize,
	"join":                  joinSize,
	"flatten":               flattenSize,
	"format":                deepSizeOf("format()"),
	"json.encode":           deepSizeOf("json.encode()"),
	"yaml.encode":           deepSizeOf("yaml.encode()"),
}

// guardFunctions returns the bindings of the guarded functions, wrapped,
// under every name the dispatcher knows them by (overload ids, and the
// function's own name for a singleton binding).
func guardFunctions(env *cel.Env) (map[string][]*functions.Overload, error) {
	out := map[string][]*functions.Overload{}
	found := 0
	for name, fn := range env.Functions() {
		guard, ok := celGuards[name]
		if !ok {
			continue
		}
		found++
		bindings, err := fn.Bindings()
		if err != nil {
			return nil, err
		}
		for _, b := range bindings {
			out[name] = append(out[name], guarded(b, guard))
		}
	}
	if found != len(celGuards) {
		return nil, fmt.Errorf("guarding CEL functions: %d of %d found", found, len(celGuards))
	}
	return out, nil
}

// guarded wraps an overload's implementation.
func guarded(b *functions.Overload, guard celGuard) *functions.Overload {
	check := func(args ...ref.Val) {
		if need, what := guard(args); need > FilterCostLimit {
			// The tracker's own way of stopping a filter: cel-go recovers
			// this panic at the top of the evaluation and returns it as the
			// filter's error, so no || or && can absorb it.
			panic(interpreter.EvalCancelledError{
				Cause:   interpreter.CostLimitExceeded,
				Message: fmt.Sprintf("%s would cost %d, over the filter cost limit of %d", what, need, FilterCostLimit),
			})
		}
	}
	g := *b
	if op := b.Unary; op != nil {
		g.Unary = func(a ref.Val) ref.Val { check(a); return op(a) }
	}
	if op := b.Binary; op != nil {
		g.Binary = func(a, c ref.Val) ref.Val { check(a, c); return op(a, c) }
	}
	if op := b.Function; op != nil {
		g.Function = func(args ...ref.Val) ref.Val { check(args...); return op(args...) }
	}
	return &g
}

func size(v ref.Val) uint64 {
	if s, ok := v.(traits.Sizer); ok {
		if n, ok := s.Size().(types.Int); ok && n > 0 {
			return uint64(n)
		}
	}
	return 0
}

func mul(a, b uint64) uint64 {
	if a != 0 && b > ^uint64(0)/a {
		return ^uint64(0)
	}
	return a * b
}

// selfCompare is the charge of sort() and distinct(): every pair of the
// elements of args[i], twice.
func selfCompare(name string, i int) celGuard {
	return func(args []ref.Val) (uint64, string) {
		if i >= len(args) {
			return 0, ""
		}
		n := size(args[i])
		return mul(2, mul(n, n)), fmt.Sprintf("%s on a list of %d elements", name, n)
	}
}

// pairs is the charge of the set functions: each element of one list
// against each of the other, factor times.
func pairs(name string, factor uint64) celGuard {
	return func(args []ref.Val) (uint64, string) {
		if len(args) < 2 {
			return 0, ""
		}
		a, b := size(args[0]), size(args[1])
		return mul(factor, mul(a, b)), fmt.Sprintf("%s on lists of %d and %d elements", name, a, b)
	}
}

// regexCost is the charge of matches() with a pattern that is not a
// literal (a literal one is compiled at load and does not come here).
func regexCost(args []ref.Val) (uint64, string) {
	if len(args) < 2 {
		return 0, ""
	}
	s, re := size(args[0]), size(args[1])
	// The tracker's 0.1 per character scanned times 0.25 per pattern
	// character.
	return mul(s+1, re) / 40, fmt.Sprintf("matches() of a %d-character pattern on %d characters", re, s)
}

// replaceSize is the length of what replace() would build, which the
// tracker charges by the byte: replacing "" inserts at every character.
func replaceSize(args []ref.Val) (uint64, string) {
	if len(args) < 3 {
		return 0, ""
	}
	s, ok1 := args[0].(types.String)
	old, ok2 := args[1].(types.String)
	repl, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return 0, ""
	}
	n := uint64(strings.Count(string(s), string(old)))
	if len(args) > 3 {
		if limit, ok := args[3].(types.Int); ok && limit >= 0 && uint64(limit) < n {
			n = uint64(limit)
		}
	}
	out := uint64(len(s))
	if len(repl) > len(old) {
		out += mul(n, uint64(len(repl)-len(old)))
	}
	return out, fmt.Sprintf("replace() building %d bytes", out)
}

// joinSize is the length of what join() would build.
func joinSize(args []ref.Val) (uint64, string) {
	l, ok := args[0].(traits.Lister)
	if !ok {
		return 0, ""
	}
	var sep uint64
	if len(args) > 1 {
		if s, ok := args[1].(types.String); ok {
			sep = uint64(len(s))
		}
	}
	var out uint64
	for it := l.Iterator(); it.HasNext() == types.True && out <= FilterCostLimit; {
		if s, ok := it.Next().(types.String); ok {
			out += uint64(len(s))
		}
		out += sep
	}
	return out, fmt.Sprintf("join() building more than %d bytes", min(out, FilterCostLimit))
}

// flattenSize counts the elements flatten() would produce, stopping once
// past the limit: a list built by map() may hold the same long list many
// times over.
func flattenSize(args []ref.Val) (uint64, string) {
	depth := int64(1)
	if len(args) > 1 {
		if d, ok := args[1].(types.Int); ok {
			depth = int64(d)
		}
	}
	var n uint64
	var count func(v ref.Val, d int64)
	count = func(v ref.Val, d int64) {
		l, ok := v.(traits.Lister)
		if !ok || d < 0 {
			n++
			return
		}
		for it := l.Iterator(); it.HasNext() == types.True && n <= FilterCostLimit; {
			n++ // visiting an element costs, even an empty list's
			count(it.Next(), d-1)
		}
	}
	count(args[0], depth)
	return n, fmt.Sprintf("flatten() producing more than %d elements", min(n, FilterCostLimit))
}

// deepSizeOf measures the bytes and elements of the arguments, a lower
// bound of what encoding or formatting them builds.
func deepSizeOf(name string) celGuard {
	return func(args []ref.Val) (uint64, string) {
		var n uint64
		for _, a := range args {
			n += deepSize(a, FilterCostLimit+1-min(n, FilterCostLimit))
		}
		return n, fmt.Sprintf("%s building more than %d bytes", name, min(n, FilterCostLimit))
	}
}

// deepSize is the bytes of the strings in v plus one per element, counted
// until it passes budget.
func deepSize(v ref.Val, budget uint64) uint64 {
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case types.Bytes:
		return uint64(len(x))
	case traits.Mapper:
		var n uint64
		for it := x.Iterator(); it.HasNext() == types.True && n < budget; {
			k := it.Next()
			n += 1 + deepSize(k, budget-n)
			if n < budget {
				n += deepSize(x.Get(k), budget-n)
			}
		}
		return n
	case traits.Lister:
		var n uint64
		for it := x.Iterator(); it.HasNext() == types.True && n < budget; {
			n += 1 + deepSize(it.Next(), budget-n)
		}
		return n
	}
	return 1
}
