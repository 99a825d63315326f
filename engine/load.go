package engine

import (
	"io/fs"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/rules"
)

// Load is the one path by which rules are read: validate, plan, eval, test
// and serve (at start and at every reload) all call it, so whatever
// validates is exactly what runs. It loads fsys with rules.Load and, when
// that found no error, compiles the set. The set is returned whenever it
// was parsed, even with errors, so that callers can show source snippets;
// the compiled form only when there are none.
func Load(fsys fs.FS, root string, opts rules.Options) (*rules.Set, *Compiled, hcl.Diagnostics) {
	set, diags := rules.Load(fsys, root, opts)
	return compileLoaded(set, diags)
}

// LoadDir is Load on a directory.
func LoadDir(dir string, opts rules.Options) (*rules.Set, *Compiled, hcl.Diagnostics) {
	set, diags := rules.LoadDir(dir, opts)
	return compileLoaded(set, diags)
}

func compileLoaded(set *rules.Set, diags hcl.Diagnostics) (*rules.Set, *Compiled, hcl.Diagnostics) {
	if set == nil || diags.HasErrors() {
		return set, nil, diags
	}
	c, err := Compile(set)
	if err != nil {
		return set, nil, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Rules could not be compiled",
			Detail:   err.Error() + ".",
		})
	}
	return set, c, diags
}
