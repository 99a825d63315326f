package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

func runPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "[DIR] (--base DIR | --base-ref GITREF)")
	base := fs.String("base", "", "compare with the rules in this directory")
	baseRef := fs.String("base-ref", "", "compare with the rules at this git revision, e.g. origin/main")
	format := fs.String("format", "text", "output format: text, json or markdown")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing changes, 2 when something does, 1 on error")
	dir, code := parseDir(e, fs, args)
	if code >= 0 {
		return code
	}
	if (*base == "") == (*baseRef == "") {
		fmt.Fprintln(e.stderr, "hookline plan: give exactly one of --base DIR or --base-ref GITREF")
		return exitUsage
	}
	if *format != "text" && *format != "json" && *format != "markdown" {
		fmt.Fprintf(e.stderr, "hookline plan: unknown --format %q (use text, json or markdown)\n", *format)
		return exitUsage
	}
	var before *rules.Set
	baseName := *base
	if *base != "" {
		c, ok := loadRules(e, *base)
		if !ok {
			return exitFailure
		}
		before = c.Set()
	} else {
		baseName = *baseRef
		var ok bool
		if before, ok = loadGitRules(e, dir, *baseRef); !ok {
			return exitFailure
		}
	}
	compiled, ok := loadRules(e, dir)
	if !ok {
		return exitFailure
	}
	changes := rules.Diff(before, compiled.Set())
	switch *format {
	case "json":
		if err := writePlanJSON(e.stdout, changes); err != nil {
			fmt.Fprintf(e.stderr, "hookline plan: %v\n", err)
			return exitFailure
		}
	case "markdown":
		writePlanMarkdown(e.stdout, baseName, changes)
	default:
		writePlanText(e.stdout, baseName, changes)
	}
	if *detailed && len(changes) > 0 {
		return 2
	}
	return exitOK
}

// loadGitRules loads the rules directory as it was at a git revision,
// through the same rules.Load as everything else, from an in-memory copy.
func loadGitRules(e *env, dir, ref string) (*rules.Set, bool) {
	fail := func(format string, args ...any) (*rules.Set, bool) {
		fmt.Fprintf(e.stderr, "hookline plan: "+format+"\n", args...)
		return nil, false
	}
	top, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return fail("%s is not in a git repository: %v", dir, err)
	}
	if _, err := git(dir, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err != nil {
		return fail("unknown git revision %q", ref)
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fail("%v", err)
	}
	absDir, _ = filepath.EvalSymlinks(absDir)
	rel, err := filepath.Rel(strings.TrimSpace(top), absDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fail("%s is outside its git repository", dir)
	}
	rel = filepath.ToSlash(rel)
	// Pathspecs are relative to the working directory: archive from the top.
	out, err := gitBytes(strings.TrimSpace(top), "archive", "--format=tar", ref, "--", rel)
	if err != nil {
		return fail("%s does not exist at %s", dir, ref)
	}
	fsys := fstest.MapFS{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail("reading %s at %s: %v", dir, ref, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := h.Name
		if rel != "." {
			name = strings.TrimPrefix(name, rel+"/")
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fail("reading %s at %s: %v", dir, ref, err)
		}
		fsys[path.Clean(name)] = &fstest.MapFile{Data: data}
	}
	set, _, diags := engine.Load(fsys, ref+":"+rel, rules.Options{Types: e.types})
	if diags.HasErrors() {
		w := &diagWriter{}
		if set != nil {
			w.files = set.Files
		}
		w.writeText(e.stderr, rules.OnlyErrors(diags))
		fmt.Fprintf(e.stderr, "the rules at %s are invalid; a plan needs both sides valid.\n", ref)
		return nil, false
	}
	return set, true
}

func git(dir string, args ...string) (string, error) {
	b, err := gitBytes(dir, args...)
	return string(b), err
}

func gitBytes(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, errors.New(msg)
		}
		return nil, err
	}
	return out, nil
}

var changeSymbol = map[string]string{"create": "+", "update": "~", "delete": "-"}

func planLines(changes []rules.Change) []string {
	var lines []string
	for _, c := range changes {
		head := fmt.Sprintf("%s %s %s", changeSymbol[c.Change], c.Kind, c.Address)
		if c.Kind == "trigger" {
			head = fmt.Sprintf("%s trigger %q", changeSymbol[c.Change], c.Address)
		}
		if en := c.Enabling(); en != "" {
			head += " (will be " + en + ")"
		}
		lines = append(lines, head)
		attrs := c.Attrs()
		width := 0
		for _, a := range attrs {
			width = max(width, len(a))
		}
		for _, a := range attrs {
			b, inB := c.Before[a]
			v, inA := c.After[a]
			switch {
			case c.Change == "delete":
				continue // the address says it all
			case !inB:
				lines = append(lines, fmt.Sprintf("    + %-*s = %s", width, a, indentValue(v)))
			case !inA:
				lines = append(lines, fmt.Sprintf("    - %-*s = %s", width, a, indentValue(b)))
			case b == actions.Redaction || v == actions.Redaction:
				lines = append(lines, fmt.Sprintf("    ~ %-*s = (sensitive value changed)", width, a))
			default:
				lines = append(lines, fmt.Sprintf("    ~ %-*s = %s -> %s", width, a, indentValue(b), indentValue(v)))
			}
		}
	}
	return lines
}

func indentValue(v string) string { return strings.ReplaceAll(v, "\n", "\n        ") }

func summary(changes []rules.Change) string {
	n := map[string]int{}
	for _, c := range changes {
		n[c.Change]++
	}
	return fmt.Sprintf("%d to create, %d to update, %d to delete", n["create"], n["update"], n["delete"])
}

func writePlanText(w io.Writer, base string, changes []rules.Change) {
	if len(changes) == 0 {
		fmt.Fprintf(w, "No changes: the rules are the same as %s.\n", base)
		return
	}
	fmt.Fprintf(w, "Compared with %s, these rules will change:\n\n", base)
	for _, l := range planLines(changes) {
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintf(w, "\nPlan: %s.\n", summary(changes))
}

func writePlanMarkdown(w io.Writer, base string, changes []rules.Change) {
	if len(changes) == 0 {
		fmt.Fprintf(w, "### Hookline plan: no changes\n\nThe rules are the same as `%s`.\n", base)
		return
	}
	fmt.Fprintf(w, "### Hookline plan: %s\n\nCompared with `%s`:\n\n```diff\n", summary(changes), base)
	for _, l := range planLines(changes) {
		fmt.Fprintln(w, strings.ReplaceAll(l, "```", "`\u200b``"))
	}
	fmt.Fprintln(w, "```")
}

type jsonChange struct {
	Address string            `json:"address"`
	Kind    string            `json:"kind"`
	Change  string            `json:"change"`
	Before  map[string]string `json:"before"`
	After   map[string]string `json:"after"`
}

func writePlanJSON(w io.Writer, changes []rules.Change) error {
	out := struct {
		Changes []jsonChange `json:"changes"`
	}{Changes: []jsonChange{}}
	for _, c := range changes {
		out.Changes = append(out.Changes, jsonChange{c.Address, c.Kind, c.Change, c.Before, c.After})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
