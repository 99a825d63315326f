package rules

import (
	"testing"

	"cel.dev/cel-go/cel"
)

// TestExplainSyntaxNeverPanics feeds every prefix and every one-character
// deletion of some filters, non-ASCII text included, to the syntax
// explanations, which index the source by CEL's positions.
func TestExplainSyntaxNeverPanics(t *testing.T) {
	t.Parallel()
	env, err := cel.NewEnv(cel.Variable("message", cel.DynType), cel.Variable("participant", cel.DynType))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		`message.body.trim().lowerAscii() == 'cancel' && (participant.name != "Zoë" || !(message.to in ['a', 'b']))`,
		"participant.name ==\n  'Ann' &&\n  (message.body == 'é' || size(message.body) > 3)",
	} {
		r := []rune(src)
		var inputs []string
		for i := range r {
			inputs = append(inputs, string(r[:i]), string(r[:i])+string(r[i+1:]))
		}
		for _, in := range inputs {
			if _, iss := env.Compile(in); iss != nil && iss.Err() != nil {
				fix, ok := explainSyntax(in, iss.Errors())
				if ok && (fix.line < 1 || fix.col < 0 || fix.width < 1 || fix.detail == "") {
					t.Errorf("%q: explanation %+v", in, fix)
				}
			}
		}
	}
}
