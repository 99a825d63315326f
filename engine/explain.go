package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/parser"

	"github.com/hookline/hookline/rules"
)

// explainFalse re-evaluates a false filter with state tracking and names
// the first clause of a top-level && that was false. It returns "" when the
// filter is not a conjunction or the clause cannot be told.
func explainFalse(ctx context.Context, set *rules.Set, t *rules.Trigger, eventType string, activation any) string {
	checked, ok := t.ASTs[eventType]
	if !ok {
		return ""
	}
	native := checked.NativeRep()
	clauses := conjuncts(native.Expr())
	if len(clauses) < 2 {
		return ""
	}
	prg, err := set.ExplainProgram(t, eventType)
	if err != nil {
		return ""
	}
	_, details, err := prg.ContextEval(ctx, activation)
	if err != nil || details == nil {
		return ""
	}
	for _, c := range clauses {
		v, ok := details.State().Value(c.ID())
		if !ok || v != types.False {
			continue
		}
		src, err := parser.Unparse(c, native.SourceInfo())
		if err != nil {
			return ""
		}
		return fmt.Sprintf("%s is false", src)
	}
	return ""
}

// conjuncts flattens a && b && c into its clauses.
func conjuncts(e ast.Expr) []ast.Expr {
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "_&&_" {
		return []ast.Expr{e}
	}
	var out []ast.Expr
	for _, arg := range e.AsCall().Args() {
		out = append(out, conjuncts(arg)...)
	}
	return out
}

// NotFired is one line of "did not fire": a trigger, or one action of it,
// that an event did not set off, and why.
type NotFired struct {
	Trigger string
	Action  string // the action's address when only the action did not fire
	Reason  string // e.g. "filter false: participant.status == \"confirmed\""
	// OtherType is set for a trigger that does not listen to the event's
	// type: the least interesting reason, which pages may fold away.
	OtherType bool
}

// NotFired merges the result's skips and failures into one list in trigger
// order, failures (the more specific reason) first within a trigger. It is
// what every dry run shows, `hookline eval` and the console alike.
func (r *Result) NotFired() []NotFired {
	var out []NotFired
	for _, f := range r.Failures {
		out = append(out, NotFired{Trigger: f.Trigger, Action: f.Action, Reason: fmt.Sprintf("%s: %v", f.Kind, f.Err)})
	}
	for _, s := range r.Skipped {
		reason := string(s.Reason)
		if s.Detail != "" {
			reason += ": " + s.Detail
		}
		out = append(out, NotFired{Trigger: s.Trigger, Action: s.Action, Reason: reason, OtherType: s.Reason == SkipOtherType})
	}
	slices.SortStableFunc(out, func(a, b NotFired) int { return strings.Compare(a.Trigger, b.Trigger) })
	return out
}
