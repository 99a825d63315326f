package rules

import (
	"fmt"
	"math/big"
	"sort"

	"github.com/agext/levenshtein"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Suggest returns the candidate closest to given, if any is close enough to
// be a likely typo.
func Suggest(given string, candidates []string) string {
	best, bestDist := "", 3 // the same threshold HCL uses for attribute names
	for _, c := range candidates {
		if d := levenshtein.Distance(given, c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// OnlyErrors drops warnings: what a reload or a refused start reports is
// why the rules could not be used.
func OnlyErrors(diags hcl.Diagnostics) hcl.Diagnostics {
	var out hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			out = append(out, d)
		}
	}
	return out
}

// didYouMean is a sentence to append to a Detail, or "".
func didYouMean(given string, candidates []string) string {
	if s := Suggest(given, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}

// firstOf reports whether name is new among the blocks seen so far, and
// reports a duplicate (at, pointing back at the first) when it is not.
func (c *checker) firstOf(seen map[string]hcl.Range, what, name string, at, decl hcl.Range) bool {
	if prev, ok := seen[name]; ok {
		c.diags = append(c.diags, duplicateDiag(what, name, at, prev))
		return false
	}
	seen[name] = decl
	return true
}

func duplicateDiag(what, name string, here, prev hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Duplicate " + what,
		Detail:   fmt.Sprintf("The %s %q is already declared at %s; each name must be unique. Rename or remove one of them.", what, name, prev),
		Subject:  here.Ptr(),
		Context:  prev.Ptr(),
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sortedAttrs returns attributes in source order: HCL hands them over as a
// map, but diagnostics and field lists should follow the file.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Range.Filename != out[j].Range.Filename {
			return out[i].Range.Filename < out[j].Range.Filename
		}
		return out[i].Range.Start.Byte < out[j].Range.Start.Byte
	})
	return out
}

// staticValue evaluates an attribute that may not depend on events and
// converts it to ty; want completes "NAME must be ..." in the error.
func staticValue(a *hcl.Attribute, ty cty.Type, want string) (cty.Value, hcl.Diagnostics) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	v, err := convert.Convert(v, ty)
	if err != nil || !v.IsKnown() || v.IsNull() {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + a.Name,
			Detail:   fmt.Sprintf("%s must be %s.", a.Name, want),
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	return v, nil
}

// decodeString evaluates a static string attribute.
func decodeString(a *hcl.Attribute, dst *string) hcl.Diagnostics {
	v, diags := staticValue(a, cty.String, "a string")
	if diags.HasErrors() {
		return diags
	}
	*dst = v.AsString()
	return nil
}

// decodeBool evaluates a static bool attribute.
func decodeBool(a *hcl.Attribute, dst *bool) hcl.Diagnostics {
	v, diags := staticValue(a, cty.Bool, "true or false")
	if diags.HasErrors() {
		return diags
	}
	*dst = v.True()
	return nil
}

// decodeInt evaluates a static whole number from lo to hi; example
// completes the error's sentence ("such as 587").
func decodeInt(a *hcl.Attribute, lo, hi int, example string, dst *int) hcl.Diagnostics {
	want := fmt.Sprintf("a whole number from %d to %d%s", lo, hi, example)
	v, diags := staticValue(a, cty.Number, want)
	if diags.HasErrors() {
		return diags
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact || n < int64(lo) || n > int64(hi) {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for " + a.Name,
			Detail:   fmt.Sprintf("%s must be %s.", a.Name, want),
			Subject:  a.Expr.Range().Ptr(),
		}}
	}
	*dst = int(n)
	return nil
}
