package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const sha = "0123456789abcdef0123456789abcdef01234567"
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name                  string
		version, commit, date string // as -ldflags -X sets them
		info                  *debug.BuildInfo
		want                  buildVersion
	}{{
		name:    "release build: -ldflags win over the build information",
		version: "v1.2.0", commit: sha, date: "2026-05-01T12:00:00Z",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "ffff", "vcs.time", "2020-01-01T00:00:00Z", "vcs.modified", "true")},
		want: buildVersion{Version: "v1.2.0", Commit: sha, Date: "2026-05-01T12:00:00Z", Go: "go1.26.8"},
	}, {
		name: "go install …@v1.2.0: the module version, nothing else known",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
		want: buildVersion{Version: "v1.2.0", Go: "go1.26.8"},
	}, {
		name: "go install …@main: commit and time from the pseudo-version",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.1-0.20260501120000-0123456789ab"}},
		want: buildVersion{Version: "v1.2.1-0.20260501120000-0123456789ab", Commit: "0123456789ab", Date: "2026-05-01T12:00:00Z", Go: "go1.26.8"},
	}, {
		name: "go build in a clone with changes (Go 1.24+)",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260501120000-0123456789ab+dirty"},
			Settings: settings("vcs", "git", "vcs.revision", sha, "vcs.time", "2026-05-01T12:00:00Z", "vcs.modified", "true")},
		want: buildVersion{Version: "v0.0.0-20260501120000-0123456789ab+dirty", Commit: sha, Date: "2026-05-01T12:00:00Z", Modified: true, Go: "go1.26.8"},
	}, {
		name: "go build in a clone, a tagged commit",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"},
			Settings: settings("vcs.revision", sha, "vcs.time", "2026-05-01T12:00:00Z", "vcs.modified", "false")},
		want: buildVersion{Version: "v1.2.0", Commit: sha, Date: "2026-05-01T12:00:00Z", Go: "go1.26.8"},
	}, {
		name: "VCS information but no module version (before Go 1.24): named after the commit",
		info: &debug.BuildInfo{GoVersion: "go1.23.0", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", sha, "vcs.modified", "true")},
		want: buildVersion{Version: "devel-0123456789ab+dirty", Commit: sha, Modified: true, Go: "go1.23.0"},
	}, {
		name: "-buildvcs=false or a git worktree: devel, the rest unknown",
		info: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
		want: buildVersion{Version: "devel", Go: "go1.26.8"},
	}, {
		name: "no build information at all",
		want: buildVersion{Version: "unknown", Go: runtime.Version()},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.Platform = platform
			if got := describeBuild(tc.version, tc.commit, tc.date, tc.info); got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestVersionOfBuiltBinaries builds hookline as a release build does
// (-ldflags -X) and as a build from a clone does, and reads what
// `hookline version` says in each.
func TestVersionOfBuiltBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary twice")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := func(dir, out string, args ...string) buildVersion {
		t.Helper()
		cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), "./cmd/hookline")...)
		cmd.Dir = dir
		// -buildvcs=auto: the go command's default, which a GOFLAGS of
		// the machine running the tests may have turned off.
		cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=auto")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		b, err := exec.Command(out, "version", "--format", "json").Output()
		if err != nil {
			t.Fatalf("%s version: %v", out, err)
		}
		var v buildVersion
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s version --format json: %v\n%s", out, err, b)
		}
		return v
	}

	t.Run("ldflags", func(t *testing.T) {
		const pkg = "github.com/hookline/hookline/internal/cli"
		got := build(root, filepath.Join(bin, "release"), "-ldflags",
			"-X "+pkg+".version=v1.2.3 -X "+pkg+".commit=0123456789abcdef0123456789abcdef01234567 -X "+pkg+".date=2026-05-01T12:00:00Z")
		want := buildVersion{Version: "v1.2.3", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-05-01T12:00:00Z",
			Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
		if got != want {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	})

	t.Run("clone", func(t *testing.T) {
		// A repository of its own holding the working tree's files, since
		// the go command reads no VCS information from a git worktree
		// (whose .git is a file) and the tree may hold uncommitted work.
		clone := t.TempDir()
		git := func(dir string, args ...string) string {
			t.Helper()
			cmd := exec.Command("git", args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
				"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
				"GIT_COMMITTER_DATE=2026-05-01T12:00:00Z", "GIT_AUTHOR_DATE=2026-05-01T12:00:00Z")
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("git %s: %v", strings.Join(args, " "), err)
			}
			return strings.TrimSpace(string(b))
		}
		files := git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
		for _, f := range strings.Split(files, "\x00") {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				continue // deleted in the working tree
			}
			dst := filepath.Join(clone, f)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		git(clone, "init", "-q")
		git(clone, "add", "-A")
		git(clone, "commit", "-q", "-m", "snapshot")
		sha := git(clone, "rev-parse", "HEAD")

		got := build(clone, filepath.Join(bin, "clone"))
		if got.Commit != sha || got.Date != "2026-05-01T12:00:00Z" || got.Modified {
			t.Errorf("got %+v, want commit %s of 2026-05-01T12:00:00Z, unmodified", got, sha)
		}
		if want := "v0.0.0-20260501120000-" + sha[:12]; got.Version != want {
			t.Errorf("version %q, want %q", got.Version, want)
		}
	})
}
