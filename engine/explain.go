package engine

import (
	"context"
	"fmt"

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
