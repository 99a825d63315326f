package cli

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// initFiles is the rule set `hookline init` starts from: one rule per
// common use case, their tests and a fixture, a README, and the pull-request
// workflow. {{RULES}} in the README and the workflow becomes the rules
// directory's path from the repository's root.
//
//go:embed initdata
var initFiles embed.FS

// workflowPath is where GitHub looks for workflows, from the repository's root.
const workflowPath = ".github/workflows/hookline.yml"

func runInit(e *env, args []string) int {
	flags := newFlags(e, "init", "[DIR]")
	pos, code := parseFlags(flags, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(e.stderr, "hookline init: give at most one directory")
		return exitUsage
	}
	dir := "rules"
	if len(pos) == 1 {
		dir = pos[0]
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		fmt.Fprintf(e.stderr, "hookline init: %s already holds files; init only writes a new or empty directory, so that nothing of yours is overwritten.\n", dir)
		return exitFailure
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(e.stderr, "hookline init: %v\n", err)
		return exitFailure
	}
	root, rel := repoRoot(dir)
	var written []string
	err := fs.WalkDir(initFiles, "initdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "initdata/workflow.yml" {
			return err
		}
		data, err := initFiles.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "initdata/")))
		written = append(written, name)
		return writeNew(name, strings.ReplaceAll(string(data), "{{RULES}}", rel))
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline init: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "Created %s: a rule for each common use case, their tests and a fixture.\n", dir)
	for _, name := range written {
		fmt.Fprintf(e.stdout, "  %s\n", name)
	}
	workflow := filepath.Join(root, filepath.FromSlash(workflowPath))
	switch _, err := os.Stat(workflow); {
	case strings.HasPrefix(rel, "../") || rel == "..":
		fmt.Fprintf(e.stdout, "No pull-request workflow: %s is outside the repository at %s.\n", dir, root)
	case err == nil:
		fmt.Fprintf(e.stdout, "Kept %s as it was; the check it could run is in Hookline's README.\n", workflow)
	default:
		data, _ := initFiles.ReadFile("initdata/workflow.yml")
		if err := writeNew(workflow, strings.ReplaceAll(string(data), "{{RULES}}", rel)); err != nil {
			fmt.Fprintf(e.stderr, "hookline init: %v\n", err)
			return exitFailure
		}
		shown := workflow
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, workflow); err == nil && !strings.HasPrefix(r, "..") {
				shown = r
			}
		}
		fmt.Fprintf(e.stdout, "  %s (the pull-request check: validate, test, and the plan as a comment)\n", shown)
	}
	fmt.Fprintf(e.stdout, "\nNext: change the recipients (+15550100, staff@example.com, ...) to yours, then\n"+
		"  hookline validate %[1]s   # and set the secrets it lists where the server runs\n"+
		"  hookline test %[1]s\n"+
		"  hookline serve --sandbox %[1]s\n", dir)
	return exitOK
}

// repoRoot is the root of the git repository dir is (or will be) in, else
// the current directory; rel is dir from there, with slashes, for the
// workflow and the README.
func repoRoot(dir string) (root, rel string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ".", filepath.ToSlash(dir)
	}
	root, _ = os.Getwd()
	for p := filepath.Dir(abs); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			if top, err := git(p, "rev-parse", "--show-toplevel"); err == nil {
				root = strings.TrimSpace(top)
			}
			break
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	// git answers with symlinks resolved; so must the path compared with it.
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err == nil {
		abs = filepath.Join(parent, filepath.Base(abs))
	}
	if r, err := filepath.Rel(root, abs); err == nil {
		rel = filepath.ToSlash(r)
	}
	if rel == "" {
		rel = filepath.ToSlash(dir)
	}
	return root, path.Clean(rel)
}

// writeNew writes a file that must not exist yet, with its directories.
func writeNew(name, data string) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
