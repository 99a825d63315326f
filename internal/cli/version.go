package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"time"
)

// Set by release builds (.goreleaser.yaml) with
//
//	-ldflags "-X github.com/hookline/hookline/internal/cli.version=v1.2.0
//	          -X github.com/hookline/hookline/internal/cli.commit=<sha>
//	          -X github.com/hookline/hookline/internal/cli.date=<RFC 3339>"
//
// Empty otherwise: `go install …@vX` and builds from a clone are described
// by the build information the go command writes into every binary.
var (
	version string
	commit  string
	date    string
)

// buildVersion is what `hookline version` prints.
type buildVersion struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`   // "" when the build does not say
	Date     string `json:"date"`     // the commit's time, RFC 3339; "" when unknown
	Modified bool   `json:"modified"` // built from a checkout with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"` // GOOS/GOARCH
}

// currentVersion describes this binary.
func currentVersion() buildVersion {
	info, _ := debug.ReadBuildInfo()
	return describeBuild(version, commit, date, info)
}

// pseudoVersion matches the end of a Go pseudo-version
// (v0.0.0-20260501120000-0123456789ab, v1.2.1-0.20260501120000-…), which
// `go install …@main` and Go 1.24+ builds from an untagged clone carry: the
// commit's UTC time and the first 12 digits of its hash.
var pseudoVersion = regexp.MustCompile(`[-.](\d{14})-([0-9a-f]{12})(\+[a-z]+)?$`)

// describeBuild works out the version from what a release build set by
// -ldflags (version, commit, date), else from the go command's build
// information (nil when there is none): the main module's version, which
// is the tag for `go install …@v1.2.0` and a pseudo-version for a commit,
// and the vcs.* settings of a build from a clone (vcs.revision, vcs.time,
// vcs.modified). It never answers "(devel)" alone: whatever it cannot
// tell is left empty and printed as unknown.
func describeBuild(version, commit, date string, info *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info == nil {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	if info.GoVersion != "" {
		v.Go = info.GoVersion
	}
	var vcsTime, vcsModified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			if v.Commit == "" {
				v.Commit = s.Value
			}
		case "vcs.time":
			vcsTime = s.Value
		case "vcs.modified":
			vcsModified = s.Value
		}
	}
	if v.Date == "" {
		v.Date = vcsTime
	}
	if version == "" {
		v.Modified = vcsModified == "true"
	}
	mod := info.Main.Version
	if v.Version == "" && mod != "" && mod != "(devel)" {
		v.Version = mod
	}
	if m := pseudoVersion.FindStringSubmatch(mod); m != nil {
		// `go install …@<commit>` has no vcs.* settings: the module
		// version is all there is.
		if v.Commit == "" {
			v.Commit = m[2]
		}
		if t, err := time.Parse("20060102150405", m[1]); err == nil && v.Date == "" {
			v.Date = t.UTC().Format(time.RFC3339)
		}
		if m[3] == "+dirty" && version == "" {
			// A release build (-ldflags) says what it is; the tree it
			// was built in does not.
			v.Modified = true
		}
	}
	if v.Version == "" {
		// Go before 1.24, or -buildvcs=false: name the commit if known.
		v.Version = "devel"
		if v.Commit != "" {
			v.Version += "-" + v.Commit[:min(12, len(v.Commit))]
			if v.Modified {
				v.Version += "+dirty"
			}
		}
	}
	return v
}

func runVersion(e *env, args []string) int {
	fs := newFlags(e, "version", "")
	format := fs.String("format", "text", "output format: text or json")
	if _, code := parseFlags(fs, args); code >= 0 {
		return code
	}
	v := currentVersion()
	switch *format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
	case "text":
		v.writeText(e)
	default:
		fmt.Fprintf(e.stderr, "hookline version: unknown --format %q (use text or json)\n", *format)
		return exitUsage
	}
	return exitOK
}

func (v buildVersion) writeText(e *env) {
	commit, date := v.Commit, v.Date
	if commit == "" {
		commit = "unknown"
	}
	if v.Modified {
		commit += " (with uncommitted changes)"
	}
	if date == "" {
		date = "unknown"
	}
	fmt.Fprintf(e.stdout, "hookline %s\ncommit:  %s\ndate:    %s\ngo:      %s %s\n", v.Version, commit, date, v.Go, v.Platform)
}
