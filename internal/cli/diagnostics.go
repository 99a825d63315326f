package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/rules"
)

// diagWriter prints diagnostics in one of the formats CI and people read.
type diagWriter struct {
	format string // "text", "json" or "github"
	files  map[string]*hcl.File
}

var diagFormats = []string{"text", "json", "github"}

// writeText prints each diagnostic compiler-style: a "file:line:col:" first
// line that editors and terminals turn into a link, the source line with the
// range underlined, then the full sentence.
func (w *diagWriter) writeText(out io.Writer, diags hcl.Diagnostics) {
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		if d.Subject != nil {
			fmt.Fprintf(out, "%s:%d:%d: %s: %s\n", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, sev, d.Summary)
			w.writeSnippet(out, d.Subject)
		} else {
			fmt.Fprintf(out, "%s: %s\n", sev, d.Summary)
		}
		if d.Detail != "" {
			fmt.Fprintf(out, "  %s\n", d.Detail)
		}
		fmt.Fprintln(out)
	}
}

func (w *diagWriter) writeSnippet(out io.Writer, rng *hcl.Range) {
	line := sourceLine(w.files, rng.Filename, rng.Start.Line)
	if line == "" {
		return
	}
	// Copy the line's own tabs into the marker line, so the carets stay
	// aligned whatever the terminal's tab width.
	var marker strings.Builder
	col := 1
	for _, r := range line {
		if col >= rng.Start.Column {
			break
		}
		if r == '\t' {
			marker.WriteRune('\t')
		} else {
			marker.WriteByte(' ')
		}
		col++
	}
	width := 1
	if rng.End.Line == rng.Start.Line && rng.End.Column > rng.Start.Column {
		width = rng.End.Column - rng.Start.Column
	} else if rng.End.Line > rng.Start.Line {
		width = max(1, utf8.RuneCountInString(line)-rng.Start.Column+1)
	}
	marker.WriteString(strings.Repeat("^", width))
	num := fmt.Sprint(rng.Start.Line)
	fmt.Fprintf(out, "  %s | %s\n  %s | %s\n", num, line, strings.Repeat(" ", len(num)), marker.String())
}

func sourceLine(files map[string]*hcl.File, name string, n int) string {
	return rules.SourceLine(files, name, n)
}

// jsonDiagnostics is the shape of `terraform validate -json`, which CI
// tools and editor integrations already parse.
type jsonDiagnostics struct {
	FormatVersion string                 `json:"format_version"`
	Valid         bool                   `json:"valid"`
	ErrorCount    int                    `json:"error_count"`
	WarningCount  int                    `json:"warning_count"`
	Diagnostics   []rules.JSONDiagnostic `json:"diagnostics"`
	// Secrets is Hookline's addition: the env() names the rules read.
	Secrets []secretUse `json:"secrets"`
}

func (w *diagWriter) writeJSON(out io.Writer, diags hcl.Diagnostics, secrets []secretUse) error {
	errs, warns := countDiags(diags)
	doc := jsonDiagnostics{
		FormatVersion: "1.0",
		Valid:         errs == 0,
		ErrorCount:    errs,
		WarningCount:  warns,
		Diagnostics:   rules.JSONDiagnostics(diags, w.files),
		Secrets:       secrets,
	}
	if doc.Secrets == nil {
		doc.Secrets = []secretUse{}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// writeGitHub prints GitHub Actions workflow commands, which annotate the
// pull request's diff at the offending line.
func (w *diagWriter) writeGitHub(out io.Writer, diags hcl.Diagnostics) {
	for _, d := range diags {
		sev := "error"
		if d.Severity == hcl.DiagWarning {
			sev = "warning"
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if r := d.Subject; r != nil {
			fmt.Fprintf(out, "::%s file=%s,line=%d,col=%d,endLine=%d,endColumn=%d,title=%s::%s\n",
				sev, ghProp(r.Filename), r.Start.Line, r.Start.Column, r.End.Line, r.End.Column, ghProp(d.Summary), ghData(msg))
		} else {
			fmt.Fprintf(out, "::%s title=%s::%s\n", sev, ghProp(d.Summary), ghData(msg))
		}
	}
}

// ghData and ghProp escape per the workflow-command rules.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func countDiags(diags hcl.Diagnostics) (errs, warns int) {
	for _, d := range diags {
		if d.Severity == hcl.DiagWarning {
			warns++
		} else {
			errs++
		}
	}
	return errs, warns
}

func pluralize(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
