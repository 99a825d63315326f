package cli

import (
	"fmt"

	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// loadRules is how every command but validate loads a rules directory: the
// one engine.Load path, with errors printed as validate would print them.
// Only errors are printed: warnings are validate's business, and eval, test
// and plan output should be about their own subject.
func loadRules(e *env, dir string) (*engine.Compiled, bool) {
	set, compiled, diags := engine.LoadDir(dir, rules.Options{Types: e.types})
	if !diags.HasErrors() {
		return compiled, true
	}
	w := &diagWriter{}
	if set != nil {
		w.files = set.Files
	}
	w.writeText(e.stderr, rules.OnlyErrors(diags))
	errs, _ := countDiags(diags)
	fmt.Fprintf(e.stderr, "%s is invalid: %s; run 'hookline validate %s' for details.\n", dir, pluralize(errs, "error"), dir)
	return nil, false
}

// dirArg returns the single optional directory argument.
func dirArg(e *env, cmd string, pos []string) (string, bool) {
	switch len(pos) {
	case 0:
		return ".", true
	case 1:
		return pos[0], true
	}
	fmt.Fprintf(e.stderr, "hookline %s: give at most one rules directory\n", cmd)
	return "", false
}
