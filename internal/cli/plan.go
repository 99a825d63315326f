package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

func runPlan(e *env, args []string) int {
	fs := newFlags(e, "plan", "[DIR] (--base DIR | --base-ref GITREF)")
	base := fs.String("base", "", "compare with the rules in this directory")
	baseRef := fs.String("base-ref", "", "compare with the rules at this git revision, e.g. origin/main; fetched from the remote when a shallow clone lacks it")
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
	p := &plan{base: *base}
	var before *rules.Set
	if *base != "" {
		c, ok := loadRules(e, *base)
		if !ok {
			return exitFailure
		}
		before = c.Set()
	} else {
		p.base = *baseRef
		var ok bool
		if before, p.baseMissing, ok = loadGitRules(e, dir, *baseRef); !ok {
			return exitFailure
		}
		if p.baseMissing {
			p.dir = dir
		}
	}
	compiled, ok := loadRules(e, dir)
	if !ok {
		return exitFailure
	}
	p.changes = rules.Diff(before, compiled.Set())
	p.newSecrets, p.oldSecrets = rules.Secrets(before, compiled.Set())
	switch *format {
	case "json":
		if err := writePlanJSON(e.stdout, p); err != nil {
			fmt.Fprintf(e.stderr, "hookline plan: %v\n", err)
			return exitFailure
		}
	case "markdown":
		writePlanMarkdown(e.stdout, p)
	default:
		writePlanText(e.stdout, p)
	}
	if *detailed && len(p.changes) > 0 {
		return 2
	}
	return exitOK
}

// plan is what plan prints, whatever the format.
type plan struct {
	base        string // the directory or revision compared with
	baseMissing bool   // the revision has no rules directory yet
	dir         string // the rules directory, when baseMissing
	changes     []rules.Change
	// newSecrets are env() names the base does not read: they must be set
	// where the server runs before the change is deployed.
	newSecrets, oldSecrets []string
}

// loadGitRules loads the rules directory as it was at a git revision,
// through the same rules.Load as everything else, from an in-memory copy.
// A revision without the directory (the change that introduces Hookline)
// is an empty rule set: missing says so.
func loadGitRules(e *env, dir, ref string) (set *rules.Set, missing, ok bool) {
	fail := func(format string, args ...any) (*rules.Set, bool, bool) {
		fmt.Fprintf(e.stderr, "hookline plan: "+format+"\n", args...)
		return nil, false, false
	}
	top, err := git(dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return fail("%s is not in a git repository: %v", dir, err)
	}
	top = strings.TrimSpace(top)
	rev, ok := resolveBase(e, top, ref)
	if !ok {
		return nil, false, false
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return fail("%v", err)
	}
	absDir, _ = filepath.EvalSymlinks(absDir)
	rel, err := filepath.Rel(top, absDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return fail("%s is outside its git repository", dir)
	}
	rel = filepath.ToSlash(rel)
	root := ref + ":" + rel
	if rel != "." {
		if _, err := git(top, "cat-file", "-e", rev+":"+rel); err != nil {
			set, _, diags := engine.Load(fstest.MapFS{}, root, rules.Options{Types: e.types})
			if diags.HasErrors() {
				return fail("loading an empty rule set: %s", diags.Error())
			}
			return set, true, true
		}
	}
	// Pathspecs are relative to the working directory: archive from the top.
	out, err := gitBytes(top, "archive", "--format=tar", rev, "--", rel)
	if err != nil {
		return fail("reading %s at %s: %v", dir, ref, err)
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
	set, _, diags := engine.Load(fsys, root, rules.Options{Types: e.types})
	if diags.HasErrors() {
		w := &diagWriter{}
		if set != nil {
			w.files = set.Files
		}
		w.writeText(e.stderr, rules.OnlyErrors(diags))
		fmt.Fprintf(e.stderr, "the rules at %s are invalid; a plan needs both sides valid.\n", ref)
		return nil, false, false
	}
	return set, false, true
}

// resolveBase returns a revision git can read for ref. A shallow clone
// (what GitHub Actions' checkout makes by default) holds only the commit it
// checked out, so a missing base is fetched from the remote, one commit
// deep; when that fails, the message says what to add to the pipeline.
func resolveBase(e *env, top, ref string) (string, bool) {
	if _, err := git(top, "rev-parse", "--verify", "--quiet", ref+"^{commit}"); err == nil {
		return ref, true
	}
	shallow := ""
	if out, _ := git(top, "rev-parse", "--is-shallow-repository"); strings.TrimSpace(out) == "true" {
		shallow = " (a shallow clone, as GitHub Actions' checkout makes by default, holds only the commit it checked out)"
	}
	if strings.ContainsAny(ref, "~^:@{ ") {
		// HEAD~1 and the like are history, not something a remote has by
		// that name.
		fmt.Fprintf(e.stderr, "hookline plan: unknown git revision %q: it is not in this clone%s.\n"+
			"Fetch the history it needs before running plan: set fetch-depth: 0 on actions/checkout, or run git fetch --unshallow.\n", ref, shallow)
		return "", false
	}
	remote, name := fetchSource(top, ref)
	if remote == "" {
		fmt.Fprintf(e.stderr, "hookline plan: unknown git revision %q: it is not in this repository, which has no remote to fetch it from.\n", ref)
		return "", false
	}
	fetch := fmt.Sprintf("git fetch --depth=1 %s %s", remote, name)
	rev, err := fetchRevision(top, remote, name)
	if err == nil {
		fmt.Fprintf(e.stderr, "hookline plan: %s was not in this clone; fetched it (%s).\n", ref, fetch)
		return rev, true
	}
	fmt.Fprintf(e.stderr, "hookline plan: unknown git revision %q: it is not in this clone%s, and %s failed: %v.\n"+
		"Fetch the base before running plan: set fetch-depth: 0 on actions/checkout, or run %s.\n",
		ref, shallow, fetch, oneLine(err.Error(), 300), fetch)
	return "", false
}

// fetchSource tells which remote and name to fetch ref from: "origin/main"
// is main on origin; a name without a remote's prefix ("main", a tag, a
// commit id) is fetched from origin, or from the only remote.
func fetchSource(top, ref string) (remote, name string) {
	out, err := git(top, "remote")
	if err != nil {
		return "", ""
	}
	remotes := strings.Fields(out)
	short := strings.TrimPrefix(ref, "refs/remotes/")
	for _, r := range remotes {
		if rest, ok := strings.CutPrefix(short, r+"/"); ok && rest != "" {
			return r, rest
		}
	}
	switch {
	case slices.Contains(remotes, "origin"):
		return "origin", strings.TrimPrefix(ref, "refs/heads/")
	case len(remotes) == 1:
		return remotes[0], strings.TrimPrefix(ref, "refs/heads/")
	}
	return "", ""
}

// fetchRevision fetches one commit of name from remote: a branch into its
// remote-tracking ref (so the next plan finds it), else a tag or commit id.
func fetchRevision(top, remote, name string) (string, error) {
	tracking := "refs/remotes/" + remote + "/" + name
	_, errBranch := gitFetch(top, remote, "+refs/heads/"+name+":"+tracking)
	if errBranch == nil {
		return tracking, nil
	}
	if _, err := gitFetch(top, remote, name); err != nil {
		return "", errBranch
	}
	out, err := git(top, "rev-parse", "--verify", "--quiet", "FETCH_HEAD^{commit}")
	if err != nil {
		return "", errBranch
	}
	return strings.TrimSpace(out), nil
}

func git(dir string, args ...string) (string, error) {
	b, err := gitBytes(dir, args...)
	return string(b), err
}

// gitFetch fetches one commit deep. It never asks for a password: in CI
// nobody would answer, and plan would hang instead of saying what to do.
func gitFetch(dir, remote, refspec string) ([]byte, error) {
	cmd := exec.Command("git", "fetch", "--quiet", "--depth=1", "--no-tags", remote, refspec)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	return runGit(cmd, dir)
}

func gitBytes(dir string, args ...string) ([]byte, error) {
	return runGit(exec.Command("git", args...), dir)
}

func runGit(cmd *exec.Cmd, dir string) ([]byte, error) {
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

// longText is the length from which an attribute's change is shown word
// by word rather than as the whole old and new text.
const longText = 60

// planLines renders the changes; words reports whether some attribute was
// shown word by word, which the output then explains.
func planLines(changes []rules.Change) (lines []string, words bool) {
	for i, c := range changes {
		if i > 0 {
			lines = append(lines, "")
		}
		if c.File != "" {
			lines = append(lines, fmt.Sprintf("# %s:%d", c.File, c.Line))
		}
		head := fmt.Sprintf("%s %s %s", changeSymbol[c.Change], c.Kind, c.Address)
		if c.Kind == "trigger" || c.Kind == "test" {
			head = fmt.Sprintf("%s %s %q", changeSymbol[c.Change], c.Kind, c.Address)
		}
		if en := c.Enabling(); en != "" {
			head += " (will be " + en + ")"
		}
		lines = append(lines, head)
		if c.Change == "delete" {
			continue // the address says it all
		}
		attrs := c.Attrs()
		width := 0
		for _, a := range attrs {
			width = max(width, len(a))
		}
		for _, a := range attrs {
			b, inB := c.Shown(a, false)
			v, inA := c.Shown(a, true)
			switch {
			case !inB:
				lines = append(lines, fmt.Sprintf("    + %-*s = %s", width, a, indentValue(v)))
			case !inA:
				lines = append(lines, fmt.Sprintf("    - %-*s = %s", width, a, indentValue(b)))
			case c.ContentChanged(a):
				lines = append(lines, fmt.Sprintf("    ~ %-*s = %s (file content changed)", width, a, indentValue(v)))
			case b == v:
				// The source is the same and only a masked value moved:
				// say so rather than show two equal texts.
				lines = append(lines, fmt.Sprintf("    ~ %-*s = (sensitive value changed)", width, a))
			default:
				if len(b) >= longText || len(v) >= longText || strings.Contains(b+v, "\n") {
					if wd, ok := rules.WordDiff(b, v); ok {
						words = true
						lines = append(lines, fmt.Sprintf("    ~ %-*s = %s", width, a, indentValue(wd)))
						continue
					}
				}
				lines = append(lines, fmt.Sprintf("    ~ %-*s = %s -> %s", width, a, indentValue(b), indentValue(v)))
			}
		}
	}
	return lines, words
}

func indentValue(v string) string { return strings.ReplaceAll(v, "\n", "\n        ") }

// summary counts the changes to what a server runs; test blocks, which only
// `hookline test` reads, are counted apart.
func summary(changes []rules.Change) string {
	n := map[string]int{}
	tests := 0
	for _, c := range changes {
		if c.Kind == "test" {
			tests++
			continue
		}
		n[c.Change]++
	}
	s := fmt.Sprintf("%d to create, %d to update, %d to delete", n["create"], n["update"], n["delete"])
	if tests > 0 {
		s += fmt.Sprintf("; %s changed", pluralize(tests, "test"))
	}
	return s
}

const wordDiffLegend = "Long text shows what changed word by word: [-removed-] {+added+}."

func (p *plan) comparedWith(quote string) string {
	s := "Compared with " + quote + p.base + quote
	if p.baseMissing {
		s += fmt.Sprintf(", where %s%s%s does not exist yet", quote, filepath.ToSlash(p.dir), quote)
	}
	return s
}

func writePlanText(w io.Writer, p *plan) {
	if len(p.changes) == 0 {
		fmt.Fprintf(w, "No changes: the rules are the same as %s.\n", p.base)
		return
	}
	fmt.Fprintf(w, "%s, these rules will change:\n\n", p.comparedWith(""))
	lines, words := planLines(p.changes)
	for _, l := range lines {
		if l == "" {
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "  %s\n", l)
	}
	fmt.Fprintf(w, "\nPlan: %s.\n", summary(p.changes))
	if len(p.newSecrets) > 0 {
		fmt.Fprintf(w, "New secrets to set where the server runs before deploying: %s (env() names; values are never shown).\n", strings.Join(p.newSecrets, ", "))
	}
	if len(p.oldSecrets) > 0 {
		fmt.Fprintf(w, "Secrets no longer read: %s.\n", strings.Join(p.oldSecrets, ", "))
	}
	if words {
		fmt.Fprintln(w, wordDiffLegend)
	}
}

func writePlanMarkdown(w io.Writer, p *plan) {
	if len(p.changes) == 0 {
		fmt.Fprintf(w, "### Hookline plan: no changes\n\nThe rules are the same as `%s`.\n", p.base)
		return
	}
	fmt.Fprintf(w, "### Hookline plan: %s\n\n%s:\n\n", summary(p.changes), p.comparedWith("`"))
	if len(p.newSecrets) > 0 {
		fmt.Fprintf(w, "**New secrets to set before deploying:** %s (env() names; values are never shown)\n\n", codeList(p.newSecrets))
	}
	if len(p.oldSecrets) > 0 {
		fmt.Fprintf(w, "Secrets no longer read: %s\n\n", codeList(p.oldSecrets))
	}
	fmt.Fprintln(w, "```diff")
	lines, words := planLines(p.changes)
	for _, l := range lines {
		fmt.Fprintln(w, strings.ReplaceAll(l, "```", "`\u200b``"))
	}
	fmt.Fprintln(w, "```")
	if words {
		fmt.Fprintf(w, "\n%s\n", wordDiffLegend)
	}
}

func codeList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}

type jsonChange struct {
	Address   string              `json:"address"`
	Kind      string              `json:"kind"`
	Change    string              `json:"change"`
	Before    map[string]string   `json:"before"`
	After     map[string]string   `json:"after"`
	File      string              `json:"file,omitempty"`
	Line      int                 `json:"line,omitempty"`
	EnvBefore map[string][]string `json:"env_before,omitempty"`
	EnvAfter  map[string][]string `json:"env_after,omitempty"`
}

func writePlanJSON(w io.Writer, p *plan) error {
	out := struct {
		Changes     []jsonChange `json:"changes"`
		NewSecrets  []string     `json:"new_secrets"`
		OldSecrets  []string     `json:"removed_secrets"`
		BaseMissing bool         `json:"base_missing,omitempty"`
	}{Changes: []jsonChange{}, NewSecrets: []string{}, OldSecrets: []string{}, BaseMissing: p.baseMissing}
	out.NewSecrets = append(out.NewSecrets, p.newSecrets...)
	out.OldSecrets = append(out.OldSecrets, p.oldSecrets...)
	for _, c := range p.changes {
		out.Changes = append(out.Changes, jsonChange{c.Address, c.Kind, c.Change, c.Before, c.After, c.File, c.Line, c.EnvBefore, c.EnvAfter})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
