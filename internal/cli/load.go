package cli

import (
	"flag"
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

// parseDir parses a command's flags and its one optional rules directory
// (default "."). code is -1 to go on, else the exit status.
func parseDir(e *env, fs *flag.FlagSet, args []string) (dir string, code int) {
	pos, code := parseFlags(fs, args)
	switch {
	case code >= 0:
		return "", code
	case len(pos) == 0:
		return ".", -1
	case len(pos) == 1:
		return pos[0], -1
	}
	fmt.Fprintf(e.stderr, "hookline %s: give at most one rules directory\n", fs.Name())
	return "", exitUsage
}
