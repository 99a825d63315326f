package cli

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/pmezard/go-difflib/difflib"
)

// runFmt rewrites rule files with hclwrite, which only changes whitespace
// and alignment: comments and the order of everything are kept.
//
// --diff only prints: a flag for looking at what would change should not
// change it, and `fmt` alone is there to write.
func runFmt(e *env, args []string) int {
	fs := newFlags(e, "fmt", "[PATH...]")
	check := fs.Bool("check", false, "do not write; list unformatted files and exit 1 if there are any")
	diff := fs.Bool("diff", false, "do not write; print what fmt would change as a unified diff (with --check, also exit 1 if a file needs formatting)")
	paths, code := parseFlags(fs, args)
	if code >= 0 {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var files []string
	for _, p := range paths {
		found, err := hclFiles(p)
		if err != nil {
			fmt.Fprintf(e.stderr, "hookline fmt: %v\n", err)
			return exitFailure
		}
		files = append(files, found...)
	}
	status := exitOK
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(e.stderr, "hookline fmt: %v\n", err)
			status = exitFailure
			continue
		}
		if _, diags := hclwrite.ParseConfig(src, name, hcl.InitialPos); diags.HasErrors() {
			// Formatting a file that does not parse could mangle it.
			w := &diagWriter{files: map[string]*hcl.File{name: {Bytes: src}}}
			w.writeText(e.stderr, diags)
			status = exitFailure
			continue
		}
		out := hclwrite.Format(src)
		if bytes.Equal(src, out) {
			continue
		}
		fmt.Fprintln(e.stdout, name)
		if *diff {
			d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
				A: difflib.SplitLines(string(src)), B: difflib.SplitLines(string(out)),
				FromFile: "old/" + filepath.ToSlash(name), ToFile: "new/" + filepath.ToSlash(name), Context: 3,
			})
			fmt.Fprint(e.stdout, d)
		}
		if *check {
			status = exitFailure
			continue
		}
		if *diff {
			continue
		}
		if err := writeFileKeepMode(name, out); err != nil {
			fmt.Fprintf(e.stderr, "hookline fmt: %v\n", err)
			status = exitFailure
		}
	}
	return status
}

// hclFiles lists the .hcl files of a path: itself if it is a file, or every
// .hcl file below it, skipping hidden directories such as .git.
func hclFiles(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{root}, nil
	}
	var out []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".hcl") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// writeFileKeepMode replaces a file's contents through a temporary file and
// a rename, so an interrupted fmt never leaves half a file behind (and a
// running server's watcher sees one complete change).
func writeFileKeepMode(name string, data []byte) error {
	info, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
