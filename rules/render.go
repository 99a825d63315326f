package rules

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline/actions"
)

// What the engine needs to render actions with exactly the functions and
// secret handling that validation checked.

// EvalContext returns the parent context for rendering: the function set
// with env() producing secret references. The engine adds the event's
// variables and date helpers in a child context. It must not be modified.
func (s *Set) EvalContext() *hcl.EvalContext {
	return &hcl.EvalContext{Functions: s.funcs}
}

// Text turns a rendered string value into an actions.Text, splitting out
// references to env() secrets.
func (s *Set) Text(v cty.Value) (actions.Text, error) {
	raw, marks := v.Unmark()
	if !raw.IsKnown() || raw.IsNull() || raw.Type() != cty.String {
		return nil, fmt.Errorf("expected a string, got %s", raw.Type().FriendlyName())
	}
	return secretText(raw.AsString(), marks)
}

// DateFunctions returns the date helpers bound to a default location.
func DateFunctions(loc *time.Location) map[string]function.Function {
	return dateFunctions(loc)
}

// ExplainProgram compiles t's filter for an event type with evaluation
// state tracking, so a caller can tell which clause of a false filter was
// false. It is for dry runs; delivery uses t.Programs.
func (s *Set) ExplainProgram(t *Trigger, eventType string) (cel.Program, error) {
	ast, ok := t.ASTs[eventType]
	et := s.Schema.Events[eventType]
	if !ok || et == nil {
		return nil, fmt.Errorf("trigger %s has no filter for %s", t.Name, eventType)
	}
	env, ok := s.cel.byType[et.Name]
	if !ok {
		// Every filter's type was compiled at load; never write to a set
		// that events share.
		var err error
		if env, err = s.cel.extend(et); err != nil {
			return nil, err
		}
	}
	return env.Program(ast,
		cel.CostLimit(FilterCostLimit),
		cel.InterruptCheckFrequency(filterInterruptEvery),
		cel.EvalOptions(cel.OptTrackState, cel.OptExhaustiveEval),
		//lint:ignore SA1019 see celEnvs.filterProgram
		cel.Functions(s.cel.guardsFor(ast)...),
	)
}
