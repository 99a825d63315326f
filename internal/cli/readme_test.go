package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// Marks on the line before a README code block: fragmentMark says the
// block is part of a rule file rather than a whole one (a retry block): it
// is checked for layout only. withRulesMark says it goes beside the
// README's complete rule file (the block that starts "# rules/"), with
// examples/apptoto's fixtures: test blocks, which are then run too.
const (
	fragmentMark  = "<!-- fragment"
	withRulesMark = "<!-- with the complete rule file"
)

// TestReadmeRules checks every ```hcl block of the README as `hookline fmt
// --check` and `hookline validate` would: the front page shows what people
// copy first, so it must never drift from what the program accepts.
func TestReadmeRules(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := hclBlocks(string(readme))
	if len(blocks) < 2 {
		t.Fatalf("found %d hcl blocks in README.md; the extraction is broken", len(blocks))
	}
	var complete string
	for _, b := range blocks {
		if strings.HasPrefix(b.src, "# rules/") {
			complete = b.src
			break
		}
	}
	if complete == "" {
		t.Fatal(`README.md has no complete rule file (an hcl block starting "# rules/")`)
	}
	fixtures, err := filepath.Glob("../../examples/apptoto/events/*.json")
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, b := range blocks {
		name := fmt.Sprintf("README.md:%d", b.line)
		if _, diags := hclwrite.ParseConfig([]byte(b.src), name, hcl.InitialPos); diags.HasErrors() {
			t.Errorf("%s: does not parse: %s", name, diags.Error())
			continue
		}
		if out := hclwrite.Format([]byte(b.src)); !bytes.Equal(out, []byte(b.src)) {
			t.Errorf("%s: not in hookline fmt's layout; formatted, it reads:\n%s", name, out)
		}
		if b.fragment {
			continue
		}
		fsys := fstest.MapFS{"readme.hcl": {Data: []byte(b.src)}}
		if b.withRules {
			fsys["rules.hcl"] = &fstest.MapFile{Data: []byte(complete)}
			for _, f := range fixtures {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				fsys["events/"+filepath.Base(f)] = &fstest.MapFile{Data: data}
			}
		}
		set, compiled, diags := engine.Load(fsys, name, rules.Options{
			Types: builtin.Types(),
			// Secrets are the reader's: only their names are checked.
			LookupEnv: func(string) (string, bool) { return "set", true },
		})
		if len(diags) > 0 {
			w := &diagWriter{}
			if set != nil {
				w.files = set.Files
			}
			var out bytes.Buffer
			w.writeText(&out, diags)
			t.Errorf("%s: hookline validate reports (mark a partial example with %s -->):\n%s", name, fragmentMark, out.String())
			continue
		}
		eng := engine.New(engine.Options{})
		for _, test := range set.Tests {
			if r := eng.RunTest(context.Background(), compiled, test); !r.Passed() {
				t.Errorf("%s: test %q fails: %s", name, test.Name, strings.Join(r.Failures, "; "))
			}
		}
	}
}

type readmeBlock struct {
	line      int // of the first line of code, from 1
	src       string
	fragment  bool
	withRules bool
}

func hclBlocks(md string) []readmeBlock {
	var out []readmeBlock
	lines := strings.Split(md, "\n")
	prev := "" // the last non-blank line before a fence
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) != "```hcl" {
			if strings.TrimSpace(l) != "" {
				prev = strings.TrimSpace(l)
			}
			continue
		}
		b := readmeBlock{line: i + 2, fragment: strings.HasPrefix(prev, fragmentMark), withRules: strings.HasPrefix(prev, withRulesMark)}
		var src strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			src.WriteString(lines[i] + "\n")
		}
		b.src = src.String()
		out = append(out, b)
		prev = ""
	}
	return out
}
