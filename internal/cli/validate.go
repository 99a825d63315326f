package cli

import (
	"fmt"
	"slices"

	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

func runValidate(e *env, args []string) int {
	fs := newFlags(e, "validate", "[DIR]")
	format := fs.String("format", "text", "output format: text, json or github")
	dir, code := parseDir(e, fs, args)
	if code >= 0 {
		return code
	}
	if !slices.Contains(diagFormats, *format) {
		fmt.Fprintf(e.stderr, "hookline validate: unknown --format %q (use text, json or github)\n", *format)
		return exitUsage
	}
	set, _, diags := engine.LoadDir(dir, rules.Options{Types: e.types})
	w := &diagWriter{format: *format}
	if set != nil {
		w.files = set.Files
	}
	errs, warns := countDiags(diags)
	switch *format {
	case "json":
		if err := w.writeJSON(e.stdout, diags); err != nil {
			fmt.Fprintf(e.stderr, "hookline validate: %v\n", err)
			return exitFailure
		}
	case "github":
		w.writeGitHub(e.stdout, diags)
	default:
		w.writeText(e.stderr, diags)
		if errs == 0 {
			actions, disabled := 0, 0
			for _, t := range set.Triggers {
				for _, a := range t.Actions {
					actions++
					if !a.Enabled || !t.Enabled {
						disabled++
					}
				}
			}
			fmt.Fprintf(e.stdout, "%s is valid: %s, %s (%d disabled), %s.\n",
				dir, pluralize(len(set.Triggers), "trigger"), pluralize(actions, "action"), disabled, pluralize(warns, "warning"))
		} else {
			fmt.Fprintf(e.stderr, "%s is invalid: %s, %s.\n", dir, pluralize(errs, "error"), pluralize(warns, "warning"))
		}
	}
	if errs > 0 {
		return exitFailure
	}
	return exitOK
}
