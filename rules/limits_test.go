package rules

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// The size checks must never be below what the functions build: a bound
// that is too small would let through what the limit is for.

func formatArgs(s string, n float64) []cty.Value {
	return []cty.Value{
		cty.StringVal(s),
		cty.NumberFloatVal(n),
		cty.BoolVal(true),
		cty.ListVal([]cty.Value{cty.StringVal(s), cty.StringVal("<&>")}),
		cty.ObjectVal(map[string]cty.Value{"k\n": cty.StringVal(s), "n": cty.NumberIntVal(-7)}),
	}
}

// checkFormatBound tries f with the first k arguments, for every k:
// format() refuses arguments it does not use. It returns how many calls
// succeeded.
func checkFormatBound(t *testing.T, f string, args []cty.Value) int {
	t.Helper()
	// Format strings reach format() as cty strings, in NFC, which may be
	// longer than the text written (U+FB35 is two code points).
	f = cty.StringVal(f).AsString()
	n := 0
	for k := range len(args) + 1 {
		bound, ok := formatSize(f, args[:k], math.MaxInt32)
		if !ok || bound > 1<<20 {
			continue // refused by format() itself, or too large to build here
		}
		out, err := stdlib.FormatFunc.Call(append([]cty.Value{cty.StringVal(f)}, args[:k]...))
		if err != nil {
			continue
		}
		n++
		if got := uint64(len(out.AsString())); got > bound {
			t.Fatalf("format(%q) of %d arguments: %d bytes, bound %d", f, k, got, bound)
		}
	}
	return n
}

func TestFormatSizeBoundsFormat(t *testing.T) {
	t.Parallel()
	checked := 0
	for _, f := range []string{
		"%s", "%10s", "%-10s|", "%010d", "%.3f", "%q", "%v %#v %v", "%[1]s%[1]s%[1]s", "%[4]v", "%[5]v",
		"%b", "%x", "%X", "%o", "%e", "%G", "%t", "%[3]t", "%%%s%%", "%[2]d %[1]s", "%[2]f", "%[2]12.4e",
	} {
		for _, s := range []string{"", "é", `a "quoted" <tag> & more`, strings.Repeat("ab\x01", 50)} {
			for _, n := range []float64{0, -7, 3.25, 1e300, -1e-300, 12345678901234567} {
				checked += checkFormatBound(t, f, formatArgs(s, n))
			}
		}
	}
	if checked < 250 {
		t.Errorf("only %d formats succeeded", checked)
	}
	// A width from the event is counted before any padding is built.
	if n, ok := formatSize("%1000000000s", []cty.Value{cty.StringVal("x")}, DefaultMaxAttrBytes); !ok || n <= DefaultMaxAttrBytes {
		t.Errorf("wide format: %d, %v", n, ok)
	}
}

func FuzzFormatSize(f *testing.F) {
	f.Add("%s %[1]q %10.2f", "x", 1.5)
	f.Add("%#v%[4]v", "<>", -1e-10)
	f.Fuzz(func(t *testing.T, format, s string, n float64) {
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return
		}
		checkFormatBound(t, format, formatArgs(s, n))
	})
}

func checkRegexReplaceBound(t *testing.T, s, pattern, tmpl string) {
	t.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		return
	}
	bound, ok := regexReplaceSize(s, pattern, tmpl)
	if !ok || bound > 1<<20 {
		return
	}
	if got := uint64(len(re.ReplaceAllString(s, tmpl))); got > bound {
		t.Fatalf("regex_replace(%q, %q, %q): %d bytes, bound %d", s, pattern, tmpl, got, bound)
	}
}

func TestRegexReplaceSizeBoundsReplace(t *testing.T) {
	t.Parallel()
	for _, c := range [][3]string{
		{"aaa", "a", "$0$0"}, {"abcabc", "(a)(b)", "${2}x$1"}, {"xyz", "", "-"}, {"a.b.c", `\.`, "$$"},
		{"name=ann", `(?P<k>\w+)=(?P<v>\w+)`, "$v:$k ${k}"}, {"aaa", "a*", "[$0]"}, {"abc", "b", "$9$x${"},
	} {
		checkRegexReplaceBound(t, c[0], c[1], c[2])
	}
	if n, _ := regexReplaceSize(strings.Repeat("a", 1000), "a", "$0$0$0"); n != 3000 {
		t.Errorf("bound %d, want 3000", n)
	}
}

func FuzzRegexReplaceSize(f *testing.F) {
	f.Add("abcabc", "(a)(b)", "${2}x$1")
	f.Fuzz(func(t *testing.T, s, pattern, tmpl string) {
		if len(pattern) > 100 || len(s) > 10_000 {
			return
		}
		checkRegexReplaceBound(t, s, pattern, tmpl)
	})
}

func TestJSONSizeBoundsJSONEncode(t *testing.T) {
	t.Parallel()
	for _, v := range []cty.Value{
		cty.StringVal("a\"b\\c\n\x01<>&\u2028é\xff"),
		cty.NumberFloatVal(1e300), cty.NumberFloatVal(-1e-300), cty.NumberIntVal(42), cty.True, cty.NullVal(cty.String),
		cty.ListVal([]cty.Value{cty.StringVal("x"), cty.StringVal("")}),
		cty.EmptyTupleVal, cty.EmptyObjectVal,
		cty.ObjectVal(map[string]cty.Value{"<k>": cty.TupleVal([]cty.Value{cty.True, cty.NumberFloatVal(0.1)})}),
		cty.MapVal(map[string]cty.Value{"a": cty.NumberIntVal(1), "b\n": cty.NumberIntVal(2)}),
	} {
		out, err := stdlib.JSONEncodeFunc.Call([]cty.Value{v})
		if err != nil {
			t.Fatal(err)
		}
		if got, bound := uint64(len(out.AsString())), jsonSize(v, math.MaxInt32); got > bound {
			t.Errorf("jsonencode(%#v): %d bytes, bound %d", v, got, bound)
		}
	}
}
