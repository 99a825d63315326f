package rules

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/hookline/hookline/actions/builtin"
)

// FuzzLoad feeds arbitrary bytes to the loader as a rule file. Whatever the
// input, Load must return diagnostics, never panic or hang: it runs on every
// hot reload of a production server.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*/*.hcl")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`trigger "t" { on = ["participant.replied"] when = "message.body.trim() == \"x\"" action "http" "h" { url = "https://x.example" body = "${participant.name}" } }`))
	f.Add([]byte(`object "o" { a = list(map(o)) } event "x.y" { data { o = optional(o) } }`))
	f.Add([]byte("trigger \"t\" {\n when = <<-EOT\n  a.b\n EOT\n}"))
	f.Add([]byte("test \"\" {\nevent = {}\nfires = []\n}")) // an empty inline event once panicked
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{"fuzz.hcl": {Data: src}}
		set, diags := Load(fsys, "", Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "", false }})
		if set == nil && !diags.HasErrors() {
			t.Fatal("no rule set and no error")
		}
		for _, d := range diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without a summary: %#v", d)
			}
		}
	})
}
