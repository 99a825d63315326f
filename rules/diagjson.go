package rules

import (
	"bytes"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// JSONDiagnostic is a diagnostic in the shape of `terraform validate
// -json`, which CI tools and editors already read. validate prints it and
// the server's reload API returns it.
type JSONDiagnostic struct {
	Severity string     `json:"severity"` // "error" or "warning"
	Summary  string     `json:"summary"`
	Detail   string     `json:"detail,omitempty"`
	Range    *JSONRange `json:"range,omitempty"`
	Snippet  *string    `json:"snippet,omitempty"` // the source line
}

// JSONRange is where a diagnostic points.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position: line and column from 1, byte offset from 0.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONDiagnostics converts diagnostics; files (may be nil) supply snippets.
func JSONDiagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
		}
		if r := d.Subject; r != nil {
			jd.Range = &JSONRange{
				Filename: r.Filename,
				Start:    JSONPos{r.Start.Line, r.Start.Column, r.Start.Byte},
				End:      JSONPos{r.End.Line, r.End.Column, r.End.Byte},
			}
			if line := SourceLine(files, r.Filename, r.Start.Line); line != "" {
				jd.Snippet = &line
			}
		}
		out = append(out, jd)
	}
	return out
}

// SourceLine returns line n (from 1) of a parsed file, or "".
func SourceLine(files map[string]*hcl.File, name string, n int) string {
	f, ok := files[name]
	if !ok || n < 1 {
		return ""
	}
	lines := bytes.Split(f.Bytes, []byte("\n"))
	if n > len(lines) {
		return ""
	}
	return strings.TrimRight(string(lines[n-1]), "\r")
}
