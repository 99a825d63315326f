package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
	"github.com/rogpeppe/go-internal/txtar"
)

// TestDiagnostics loads each testdata/diags/*.txtar archive as a rules
// directory and compares every diagnostic with the archive's "want" file:
// one line per diagnostic, "FILE:LINE:COL: SEVERITY: SUMMARY[: DETAIL PART]",
// in order. The detail part must appear in the diagnostic's detail.
func TestDiagnostics(t *testing.T) {
	t.Parallel()
	archives, err := filepath.Glob("testdata/diags/*.txtar")
	if err != nil || len(archives) == 0 {
		t.Fatalf("no archives: %v", err)
	}
	for _, path := range archives {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			t.Parallel()
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			fsys := fstest.MapFS{}
			var want []string
			env := map[string]string{}
			for _, f := range ar.Files {
				switch f.Name {
				case "want":
					want = nonEmptyLines(string(f.Data))
				case "env":
					for _, l := range nonEmptyLines(string(f.Data)) {
						k, v, _ := strings.Cut(l, "=")
						env[k] = v
					}
				default:
					fsys[f.Name] = &fstest.MapFile{Data: f.Data}
				}
			}
			_, diags := Load(fsys, "", Options{Types: builtin.Types(), LookupEnv: mapEnv(env), RequireEnv: strings.Contains(string(ar.Comment), "require-env")})
			got := make([]string, len(diags))
			for i, d := range diags {
				got[i] = diagLine(d)
			}
			if len(got) != len(want) {
				t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
			}
			for i, w := range want {
				head, detail := w, ""
				if parts := strings.SplitN(w, ": ", 4); len(parts) == 4 {
					head, detail = strings.Join(parts[:3], ": "), parts[3]
				}
				if !strings.HasPrefix(got[i], head) || !strings.Contains(diags[i].Detail, detail) {
					t.Errorf("diagnostic %d:\n got: %s\nwant: %s", i, got[i], w)
				}
			}
		})
	}
}

func diagLine(d *hcl.Diagnostic) string {
	sev := "error"
	if d.Severity == hcl.DiagWarning {
		sev = "warning"
	}
	loc := "-"
	if d.Subject != nil {
		loc = fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
	}
	return fmt.Sprintf("%s: %s: %s: %s", loc, sev, d.Summary, d.Detail)
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestExamplesAreValid(t *testing.T) {
	t.Parallel()
	dirs, _ := filepath.Glob("../examples/*")
	if len(dirs) == 0 {
		t.Fatal("no examples found")
	}
	for _, dir := range dirs {
		set, diags := LoadDir(dir, Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "set", true }})
		if diags.HasErrors() || len(diags) > 0 {
			t.Errorf("%s: %s", dir, diags.Error())
			continue
		}
		if len(set.Triggers) == 0 {
			t.Errorf("%s: no triggers loaded", dir)
		}
	}
}

func TestLoadDirMissing(t *testing.T) {
	t.Parallel()
	_, diags := LoadDir(filepath.Join(t.TempDir(), "nope"), Options{Types: builtin.Types()})
	if !diags.HasErrors() || !strings.Contains(diags.Error(), "is not a directory") {
		t.Fatalf("want a clear error, got %v", diags)
	}
}

// TestLoadSkipsHiddenDirs covers Kubernetes ConfigMap mounts: the files
// live in ..data, reached through symlinks at the top, and must load once.
func TestLoadSkipsHiddenDirs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_11_27")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	rule := []byte("trigger \"a\" {\n  on = [\"appointment.created\"]\n  action \"http\" \"x\" { url = \"https://example.com\" }\n}\n")
	if err := os.WriteFile(filepath.Join(data, "a.hcl"), rule, 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "a.hcl"), filepath.Join(dir, "a.hcl")))
	must(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, ".git", "junk.hcl"), []byte("not hcl {"), 0o644))
	set, diags := LoadDir(dir, Options{Types: builtin.Types()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if len(set.Triggers) != 1 || len(set.TriggersFor("appointment.created")) != 1 {
		t.Fatalf("want trigger a loaded once, got %d", len(set.Triggers))
	}
}

func TestHashFollowsContent(t *testing.T) {
	t.Parallel()
	a := fstest.MapFS{"a.hcl": {Data: []byte(`trigger "a" {
  on = ["appointment.created"]
  action "http" "x" { url = "https://example.com" }
}`)}}
	b := fstest.MapFS{"a.hcl": {Data: append([]byte("# comment\n"), a["a.hcl"].Data...)}}
	s1, d1 := Load(a, "", Options{Types: builtin.Types()})
	s2, _ := Load(a, "", Options{Types: builtin.Types()})
	s3, _ := Load(b, "", Options{Types: builtin.Types()})
	if d1.HasErrors() {
		t.Fatal(d1.Error())
	}
	if s1.Hash != s2.Hash || s1.Hash == s3.Hash {
		t.Fatalf("hash must depend on contents only: %s %s %s", s1.Hash, s2.Hash, s3.Hash)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rangeOf is the range from the first occurrence of prefix to the end of
// src, on line 1.
func rangeOf(src []byte, prefix string) hcl.Range {
	i := strings.Index(string(src), prefix)
	return hcl.Range{
		Start: hcl.Pos{Line: 1, Column: 1 + len([]rune(string(src[:i]))), Byte: i},
		End:   hcl.Pos{Line: 1, Column: 1 + len([]rune(string(src))), Byte: len(src)},
	}
}

func TestHashMatchesLoad(t *testing.T) {
	t.Parallel()
	fsys := os.DirFS("../examples/apptoto")
	set, diags := Load(fsys, "", Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "", true }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	h, err := Hash(fsys)
	if err != nil || h != set.Hash {
		t.Fatalf("Hash = %q, %v; Load gave %q", h, err, set.Hash)
	}
}

// TestREADMEExampleIsValid keeps the README's complete rule file true.
func TestREADMEExampleIsValid(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "## A complete rule file")
	if i < 0 {
		t.Fatal("the README has no complete rule file section")
	}
	s = s[i:]
	start := strings.Index(s, "```hcl\n")
	end := strings.Index(s[start+7:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no hcl block in the section")
	}
	src := s[start+7 : start+7+end]
	set, diags := Load(fstest.MapFS{"front-desk.hcl": {Data: []byte(src)}}, "", Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "x", true }})
	if diags.HasErrors() || len(diags) > 0 {
		t.Fatalf("the README's rule file: %s", diags.Error())
	}
	if len(set.Triggers) != 2 || set.Providers["twilio"] == nil || set.Providers["smtp"] == nil {
		t.Fatalf("loaded %d triggers", len(set.Triggers))
	}
}

func TestProviderBlockMayNotTakeARuleFileBlockName(t *testing.T) {
	clash := &actions.Type{
		Name:     "clash",
		Provider: &actions.Provider{Block: "test"},
		New:      func(actions.Runtime) (actions.Executor, error) { return nil, nil },
	}
	types, err := actions.NewTypes(append(builtin.List(), clash)...)
	if err != nil {
		t.Fatal(err)
	}
	set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(`test "t" {}`)}}, "", Options{Types: types})
	if set != nil || !diags.HasErrors() || !strings.Contains(diags[0].Detail, `names its provider block "test"`) {
		t.Fatalf("Load: %v %v", set, diags)
	}
}

// Filters run with CEL's cost tracker and the deadline's context only when
// they loop or their worst case, for the largest event served, might pass
// the cost limit; the common ones, the README's included, run without.
func TestFilterTracking(t *testing.T) {
	t.Parallel()
	filters := map[string]bool{ // filter -> tracked
		"appointment.calendar.name == 'Dr. Rivera' && participant.name != ''":           false,
		"message.body.trim().lowerAscii() == 'cancel'":                                  false,
		"participant.email.endsWith('@example.com') && has(participant.email)":          false,
		"participant.reminder_state in ['confirmed', 'sent']":                           false,
		"message.body.matches('(?i)^\\\\s*cancel')":                                     false,
		"appointment.start_time > timestamp('2026-01-01T00:00:00Z')":                    false,
		"appointment.custom_data.exists(k, k == 'room')":                                true, // a loop
		"[1, 2].exists(x, x == appointment.id)":                                         true,
		"message.body.contains(participant.name)":                                       true, // 1 MiB by 1 MiB
		"appointment.title.matches(message.body)":                                       true,
		"message.body.split(' ').distinct().size() > 1":                                 true,
		"message.body.lowerAscii().trim().upperAscii().lowerAscii().trim() == 'cancel'": true, // five passes over 1 MiB
	}
	var src strings.Builder
	var names []string
	for f := range filters {
		names = append(names, f)
	}
	sort.Strings(names)
	for i, f := range names {
		fmt.Fprintf(&src, "trigger \"t%d\" {\n  on   = [\"participant.replied\"]\n  when = %q\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n", i, f)
	}
	set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(src.String())}}, "", Options{Types: builtin.Types()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	for i, f := range names {
		if got := set.Trigger(fmt.Sprintf("t%d", i)).Tracked; got != filters[f] {
			t.Errorf("%s: tracked %v, want %v", f, got, filters[f])
		}
	}
	// The estimate follows the largest event: with 64 KiB events even the
	// five passes cannot reach the limit.
	set, _ = Load(fstest.MapFS{"r.hcl": {Data: []byte(src.String())}}, "", Options{Types: builtin.Types(), MaxEventBytes: 64 << 10})
	for i, f := range names {
		if strings.HasPrefix(f, "message.body.lowerAscii().trim()") && set.Trigger(fmt.Sprintf("t%d", i)).Tracked {
			t.Errorf("%s: tracked for 64 KiB events", f)
		}
	}
}
