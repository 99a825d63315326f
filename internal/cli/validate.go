package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

func runValidate(e *env, args []string) int {
	fs := newFlags(e, "validate", "[DIR]")
	format := fs.String("format", "text", "output format: text, json or github")
	checkEnv := fs.Bool("check-env", false, "make every env() secret the rules read that is not set here an error, as serve does (for deploy pipelines; CI without production secrets leaves it off)")
	dir, code := parseDir(e, fs, args)
	if code >= 0 {
		return code
	}
	if !slices.Contains(diagFormats, *format) {
		fmt.Fprintf(e.stderr, "hookline validate: unknown --format %q (use text, json or github)\n", *format)
		return exitUsage
	}
	set, _, diags := engine.LoadDir(dir, rules.Options{Types: e.types, RequireEnv: *checkEnv})
	if !*checkEnv {
		// CI rarely has production secrets: a warning per unset env() would
		// bury the real findings. The secrets are listed instead.
		diags = withoutUnsetEnv(diags)
	}
	var secrets []secretUse
	if set != nil {
		secrets = secretUses(set)
	}
	w := &diagWriter{format: *format}
	if set != nil {
		w.files = set.Files
	}
	errs, warns := countDiags(diags)
	switch *format {
	case "json":
		if err := w.writeJSON(e.stdout, diags, secrets); err != nil {
			fmt.Fprintf(e.stderr, "hookline validate: %v\n", err)
			return exitFailure
		}
	case "github":
		w.writeGitHub(e.stdout, diags)
		if len(secrets) > 0 {
			fmt.Fprintf(e.stdout, "::notice title=Secrets the rules read::%s\n", ghData(secretsSentence(secrets, *checkEnv)+": "+secretNames(secrets)+"."))
		}
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
			writeSecrets(e.stdout, secrets, *checkEnv)
		} else {
			fmt.Fprintf(e.stderr, "%s is invalid: %s, %s.\n", dir, pluralize(errs, "error"), pluralize(warns, "warning"))
		}
	}
	if errs > 0 {
		return exitFailure
	}
	return exitOK
}

// withoutUnsetEnv drops the diagnostics about env() variables that are not
// set in this environment.
func withoutUnsetEnv(diags hcl.Diagnostics) hcl.Diagnostics {
	out := diags[:0:0]
	for _, d := range diags {
		if _, unset := hcl.DiagnosticExtra[rules.UnsetEnv](d); !unset {
			out = append(out, d)
		}
	}
	return out
}

// secretUse is one env() name the rules read, and where.
type secretUse struct {
	Name string            `json:"name"`
	Uses []rules.JSONRange `json:"uses"`
}

func secretUses(set *rules.Set) []secretUse {
	out := []secretUse{}
	for name, refs := range set.EnvRefs {
		s := secretUse{Name: name}
		for _, r := range refs {
			s.Uses = append(s.Uses, rules.JSONRange{
				Filename: r.Filename,
				Start:    rules.JSONPos{Line: r.Start.Line, Column: r.Start.Column, Byte: r.Start.Byte},
				End:      rules.JSONPos{Line: r.End.Line, Column: r.End.Column, Byte: r.End.Byte},
			})
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b secretUse) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func secretsSentence(secrets []secretUse, checked bool) string {
	if checked {
		return fmt.Sprintf("The rules read %s with env(), all set here", pluralize(len(secrets), "secret"))
	}
	return fmt.Sprintf("The rules read %s with env(), which must be set where the server runs (--check-env checks them here)", pluralize(len(secrets), "secret"))
}

func secretNames(secrets []secretUse) string {
	names := make([]string, len(secrets))
	for i, s := range secrets {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

// writeSecrets lists the secrets with where each is first read: what a
// deploy needs to provide, as information rather than a warning each.
func writeSecrets(w io.Writer, secrets []secretUse, checked bool) {
	if len(secrets) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", secretsSentence(secrets, checked))
	width := 0
	for _, s := range secrets {
		width = max(width, len(s.Name))
	}
	for _, s := range secrets {
		u := s.Uses[0]
		more := ""
		if len(s.Uses) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(s.Uses)-1)
		}
		fmt.Fprintf(w, "  %-*s  %s:%d%s\n", width, s.Name, u.Filename, u.Start.Line, more)
	}
}
