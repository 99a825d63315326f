package rules

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// What rendering may produce. One event's data must not be able to make a
// template build more than a delivery can reasonably hold: `format("%*s")`
// with a width from the event, `formatlist` or a `for` loop repeating a long
// field once per element of a long list, `join` of such a list. Each is
// refused before the memory is spent, as a render error for its action.

const (
	// DefaultMaxAttrBytes bounds one rendered attribute: an SMS is at most
	// 1,600 characters (6.4 KB), a generous e-mail body 100 KB; the default
	// body of an http action, the event as received, is bounded by the
	// server's --max-body instead and not counted.
	DefaultMaxAttrBytes = 256 << 10
	// DefaultMaxDeliveryBytes bounds the rendered fields of one delivery
	// together (the event as default body not counted): room for an
	// e-mail's text and HTML bodies at the attribute limit, with headers.
	DefaultMaxDeliveryBytes = 1 << 20
	// LoopStepBytes is what each iteration of a `for` loop counts against
	// the attribute's limit besides what it produces: about what HCL
	// allocates for it, and enough to stop a loop that produces nothing
	// long before it has run a million times.
	LoopStepBytes = 64
)

// RenderLimits bound what rendering one event may produce, in bytes.
type RenderLimits struct {
	Attr     int // one attribute, including what its functions and loops build on the way
	Delivery int // the fields of one delivery, the event as default body not counted
}

func (l RenderLimits) withDefaults() RenderLimits {
	if l.Attr <= 0 {
		l.Attr = DefaultMaxAttrBytes
	}
	if l.Delivery <= 0 {
		l.Delivery = DefaultMaxDeliveryBytes
	}
	return l
}

// Limits returns the rendering limits the set was loaded with.
func (s *Set) Limits() RenderLimits { return s.limits }

// ErrRenderLimit is wrapped by every error of rendering stopped at a limit.
var ErrRenderLimit = errors.New("rendering limit")

// tooLarge is the refusal of a function whose result, counted or bounded
// from its arguments (n), could pass the limit.
func tooLarge(what string, n uint64, limit int) error {
	if n < 2*uint64(limit) {
		// Counting stops soon after the limit: n says little more.
		return fmt.Errorf("%w: %s could build more than %d bytes, the limit per attribute", ErrRenderLimit, what, limit)
	}
	return fmt.Errorf("%w: %s could build %d bytes, over the limit of %d bytes per attribute", ErrRenderLimit, what, n, limit)
}

// boundFunctions replaces the functions whose result can be far larger than
// their arguments by versions that compute the result's size first, and
// distinct, which compares every pair of elements, by one that hashes.
func boundFunctions(funcs map[string]function.Function, limit int) {
	funcs["format"] = sizeChecked(stdlib.FormatFunc, cty.String, func(args []cty.Value) error {
		if n, ok := formatSize(str(args[0]), args[1:], limit); ok && n > uint64(limit) {
			return tooLarge("format()", n, limit)
		}
		return nil
	})
	funcs["formatlist"] = sizeChecked(stdlib.FormatListFunc, cty.List(cty.String), func(args []cty.Value) error {
		if n := formatListSize(str(args[0]), args[1:], limit); n > uint64(limit) {
			return tooLarge("formatlist()", n, limit)
		}
		return nil
	})
	funcs["join"] = sizeChecked(stdlib.JoinFunc, cty.String, func(args []cty.Value) error {
		sep := uint64(len(str(args[0])))
		var n uint64
		for _, list := range args[1:] {
			list, _ = list.Unmark()
			if list.IsNull() {
				return nil
			}
			for it := list.ElementIterator(); it.Next() && n <= uint64(limit); {
				if _, v := it.Element(); v.IsKnown() && !v.IsNull() {
					n += uint64(len(str(v))) + sep
				}
			}
		}
		if n > uint64(limit) {
			return tooLarge("join()", n, limit)
		}
		return nil
	})
	funcs["replace"] = sizeChecked(stdlib.ReplaceFunc, cty.String, func(args []cty.Value) error {
		s, old, repl := str(args[0]), str(args[1]), str(args[2])
		n := uint64(len(s))
		if len(repl) > len(old) {
			n += uint64(strings.Count(s, old)) * uint64(len(repl)-len(old))
		}
		if n > uint64(limit) {
			return tooLarge("replace()", n, limit)
		}
		return nil
	})
	funcs["regex_replace"] = sizeChecked(stdlib.RegexReplaceFunc, cty.String, func(args []cty.Value) error {
		if n, ok := regexReplaceSize(str(args[0]), str(args[1]), str(args[2])); ok && n > uint64(limit) {
			return tooLarge("regex_replace()", n, limit)
		}
		return nil
	})
	funcs["indent"] = sizeChecked(stdlib.IndentFunc, cty.String, func(args []cty.Value) error {
		s := str(args[1])
		n0, _ := args[0].Unmark()
		spaces := n0.AsBigFloat()
		lines := strings.Count(s, "\n")
		if lines == 0 || spaces.Sign() <= 0 {
			return nil
		}
		n := uint64(len(s))
		if w, acc := spaces.Uint64(); acc != big.Exact || w > uint64(limit) {
			n = uint64(limit) + 1
		} else {
			n += w * uint64(lines)
		}
		if n > uint64(limit) {
			return tooLarge("indent()", n, limit)
		}
		return nil
	})
	funcs["jsonencode"] = sizeChecked(stdlib.JSONEncodeFunc, cty.String, func(args []cty.Value) error {
		if n := jsonSize(args[0], uint64(limit)+1); n > uint64(limit) {
			return tooLarge("jsonencode()", n, limit)
		}
		return nil
	})
	funcs["distinct"] = distinctFunc
}

// sizeChecked is fn, returning ret, with check run on its arguments first.
// Its parameters are fn's but accept marked values: fn's own call unmarks
// them, and cty walks a list deeply each time it does, which for a list of
// 100,000 elements costs more than the check. So checks unmark as they go.
func sizeChecked(fn function.Function, ret cty.Type, check func(args []cty.Value) error) function.Function {
	params := fn.Params()
	for i := range params {
		params[i].AllowMarked = true
	}
	var varParam *function.Parameter
	if vp := fn.VarParam(); vp != nil {
		p := *vp
		p.AllowMarked = true
		varParam = &p
	}
	return function.New(&function.Spec{
		Description: fn.Description(),
		Params:      params,
		VarParam:    varParam,
		Type:        function.StaticReturnType(ret),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			// Checks skip what is unknown (validation): nothing is built
			// from it. Only the top level is looked at here, since a deep
			// look costs as much as the check.
			for _, a := range args {
				if !a.IsKnown() {
					return fn.Call(args)
				}
			}
			if err := check(args); err != nil {
				return cty.NilVal, err
			}
			return fn.Call(args)
		},
	})
}

// str is a string argument, marked or not.
func str(v cty.Value) string {
	v, _ = v.Unmark()
	return v.AsString()
}

// formatSize bounds the length of format(f, args...) from above, without
// formatting: the literal text, and for each verb its argument's longest
// rendering plus its width (padding) and, for numbers, its precision. ok
// is false when the format is one format() itself will refuse.
func formatSize(f string, args []cty.Value, limit int) (uint64, bool) {
	var n uint64
	next := 0 // index of the next argument
	for i := 0; i < len(f) && n <= uint64(limit); {
		if f[i] != '%' {
			n++
			i++
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			n++
			i++
			continue
		}
		sharp := false
		for i < len(f) && strings.IndexByte("0#-+ ", f[i]) >= 0 {
			sharp = sharp || f[i] == '#'
			i++
		}
		width, i2 := number(f, i)
		i = i2
		prec := uint64(0)
		if i < len(f) && f[i] == '.' {
			prec, i = number(f, i+1)
		}
		if i < len(f) && f[i] == '[' {
			var idx uint64
			idx, i = number(f, i+1)
			if i >= len(f) || f[i] != ']' || idx == 0 || idx > uint64(len(args)) {
				return 0, false
			}
			next = int(idx - 1)
			i++
		}
		if i >= len(f) || next >= len(args) {
			return 0, false
		}
		verb, arg := f[i], args[next]
		i++
		next++
		n += width + verbSize(verb, sharp, prec, arg, limit)
	}
	return n, true
}

// number reads decimal digits at f[i:], saturating past any limit.
func number(f string, i int) (uint64, int) {
	var n uint64
	for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
		if n < 1<<40 {
			n = n*10 + uint64(f[i]-'0')
		}
	}
	return n, i
}

func verbSize(verb byte, sharp bool, prec uint64, arg cty.Value, limit int) uint64 {
	budget := uint64(limit) + 1
	arg, _ = arg.Unmark()
	if !arg.IsKnown() {
		return 0
	}
	if arg.IsNull() {
		return 4 // "null"; other verbs refuse a null
	}
	ty := arg.Type()
	switch verb {
	case 'v':
		switch {
		case sharp:
			return jsonSize(arg, budget)
		case ty == cty.String:
			return uint64(len(arg.AsString()))
		case ty == cty.Number:
			return numberSize(arg.AsBigFloat(), 'g')
		}
		return jsonSize(arg, budget)
	case 't':
		return 5
	case 'b', 'd', 'o', 'x', 'X', 'e', 'E', 'f', 'g', 'G':
		if ty != cty.Number {
			return 64 // a string holding a number: as long as a float64 can be
		}
		return numberSize(arg.AsBigFloat(), verb) + prec
	case 's', 'q':
		// Numbers and bools are converted as format() does; anything else
		// it refuses.
		sv, err := convert.Convert(arg, cty.String)
		if err != nil || !sv.IsKnown() || sv.IsNull() {
			return 0
		}
		if verb == 'q' {
			return jsonStringSize(sv.AsString())
		}
		return uint64(len(sv.AsString()))
	}
	return 0
}

// numberSize bounds the text of a number written with verb: %b writes a
// digit per bit of its binary exponent, %f and JSON every decimal digit of
// the integer part or the leading zeros (a digit per 3.3 bits), the others
// at most the mantissa's significant digits and an exponent.
func numberSize(f *big.Float, verb byte) uint64 {
	if f.IsInf() {
		return 4
	}
	exp := f.MantExp(nil)
	if exp < 0 {
		exp = -exp
	}
	// Significant digits (a bit is 0.302 of a digit, and the shortest
	// exact form may need two more), sign, point and a leading zero.
	digits := uint64(f.Prec())*31/100 + 2 + 3
	switch verb {
	case 'b', 'd', 'o', 'x', 'X':
		return uint64(exp) + 2
	case 'f', 'j': // j: JSON, which cty writes as %f does
		return uint64(exp)*31/100 + 1 + digits
	}
	return digits + 8 // e+NNNNNN
}

// formatListSize bounds formatlist(f, args...): one format per element of
// the list arguments, scalars repeated.
func formatListSize(f string, args []cty.Value, limit int) uint64 {
	length := 1
	args = append([]cty.Value(nil), args...)
	for i, a := range args {
		args[i], _ = a.Unmark()
	}
	for _, a := range args {
		if !a.IsKnown() {
			return 0
		}
		if ty := a.Type(); (ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) && !a.IsNull() {
			length = a.LengthInt()
			break
		}
	}
	var n uint64
	row := make([]cty.Value, len(args))
	iters := make([]cty.ElementIterator, len(args))
	for j, a := range args {
		if ty := a.Type(); (ty.IsListType() || ty.IsSetType() || ty.IsTupleType()) && !a.IsNull() {
			if a.LengthInt() != length {
				return 0 // formatlist() refuses lists of different lengths
			}
			iters[j] = a.ElementIterator()
		}
	}
	for i := 0; i < length && n <= uint64(limit); i++ {
		for j, a := range args {
			if iters[j] == nil {
				row[j] = a
				continue
			}
			iters[j].Next()
			_, row[j] = iters[j].Element()
		}
		m, ok := formatSize(f, row, limit)
		if !ok {
			return 0
		}
		n += m + 16 // and the list element holding it
	}
	return n
}

// regexReplaceSize bounds what regex_replace() builds: each match is
// replaced by the template's literal bytes and, for each $reference, at
// most the whole match. ok is false for a pattern regex_replace() refuses.
func regexReplaceSize(s, pattern, template string) (uint64, bool) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, false
	}
	lits, refs := templateParts(template)
	var matches, matched uint64
	// ReplaceAllStringFunc visits the matches without holding their indexes,
	// and builds at most s.
	re.ReplaceAllStringFunc(s, func(m string) string {
		matches++
		matched += uint64(len(m))
		return ""
	})
	return uint64(len(s)) - matched + matches*lits + matched*refs, true
}

// templateParts counts the literal bytes and the $references of a
// regexp.Expand template.
func templateParts(t string) (lits, refs uint64) {
	for len(t) > 0 {
		i := strings.IndexByte(t, '$')
		if i < 0 {
			return lits + uint64(len(t)), refs
		}
		lits += uint64(i)
		t = t[i+1:]
		if len(t) > 0 && t[0] == '$' {
			lits++
			t = t[1:]
			continue
		}
		if rest, ok := templateRef(t); ok {
			refs++
			t = rest
			continue
		}
		lits++ // a lone $ is copied as it is
	}
	return lits, refs
}

// templateRef reads a name or {name} after a $, as regexp.Expand does.
func templateRef(t string) (string, bool) {
	brace := len(t) > 0 && t[0] == '{'
	if brace {
		t = t[1:]
	}
	i := 0
	for i < len(t) {
		r, size := utf8.DecodeRuneInString(t[i:])
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			break
		}
		i += size
	}
	if i == 0 {
		return "", false
	}
	if brace {
		if i >= len(t) || t[i] != '}' {
			return "", false
		}
		i++
	}
	return t[i:], true
}

// jsonSize bounds the length of v encoded as JSON, counting until it passes
// budget.
func jsonSize(v cty.Value, budget uint64) uint64 {
	if !v.IsKnown() || v.IsNull() {
		return 4
	}
	v, _ = v.Unmark()
	ty := v.Type()
	switch {
	case ty == cty.String:
		return jsonStringSize(v.AsString())
	case ty == cty.Number:
		return numberSize(v.AsBigFloat(), 'j')
	case ty == cty.Bool:
		return 5
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType():
		n := uint64(2)
		for it := v.ElementIterator(); it.Next() && n < budget; {
			_, e := it.Element()
			n += 1 + jsonSize(e, budget-n)
		}
		return n
	case ty.IsMapType() || ty.IsObjectType():
		n := uint64(2)
		for it := v.ElementIterator(); it.Next() && n < budget; {
			k, e := it.Element()
			n += 2 + jsonStringSize(k.AsString())
			if n < budget {
				n += jsonSize(e, budget-n)
			}
		}
		return n
	}
	return 0
}

// jsonStringSize is the length of s as a JSON string from encoding/json,
// which escapes <, > and & too; control characters are counted at their
// longest escape.
func jsonStringSize(s string) uint64 {
	n := uint64(2)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += uint64(size)
		}
		i += size
	}
	return n
}

// distinctFunc is stdlib's distinct, which compares each element with
// every one kept so far: a list of 100,000 strings is 5 billion
// comparisons. Lists of strings, numbers and bools are hashed instead.
var distinctFunc = function.New(&function.Spec{
	Description: stdlib.DistinctFunc.Description(),
	Params:      stdlib.DistinctFunc.Params(),
	Type:        stdlib.DistinctFunc.ReturnTypeForValues,
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		list := args[0]
		elem := retType.ElementType()
		if !list.IsKnown() || !(elem == cty.String || elem == cty.Number || elem == cty.Bool) {
			if list.IsKnown() && list.LengthInt() > maxPairwiseDistinct {
				return cty.NilVal, fmt.Errorf("%w: distinct() compares every pair of elements of lists of %s, and this one has %d; at most %d", ErrRenderLimit, elem.FriendlyName(), list.LengthInt(), maxPairwiseDistinct)
			}
			return stdlib.DistinctFunc.Call(args)
		}
		seen := map[string]bool{} // by the element's text; one type per list
		null := false
		var out []cty.Value
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if !v.IsKnown() {
				return cty.UnknownVal(retType), nil
			}
			var k string
			switch {
			case v.IsNull():
				if null {
					continue
				}
				null = true
				out = append(out, v)
				continue
			case elem == cty.String:
				k = v.AsString()
			case elem == cty.Number:
				k = v.AsBigFloat().Text('p', 0)
			default:
				k = fmt.Sprint(v.True())
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			return cty.ListValEmpty(elem), nil
		}
		return cty.ListVal(out), nil
	},
})

// maxPairwiseDistinct bounds the lists of other values that distinct()
// compares pair by pair: half a million comparisons of structures.
const maxPairwiseDistinct = 1000

// The functions that a `for` loop's collection and each of its results are
// wrapped in (see countLoops). Their names cannot be written in a rule file.
const (
	loopItemsFunc  = "for items"
	loopResultFunc = "for result"
)

// countLoops wraps every `for` of a template so that rendering can count
// what its loops do: HCL evaluates a loop itself, and only a function call
// lets Hookline see it. Loops over a long list repeating a long field, or
// nested loops over lists of the event, would otherwise build without
// bound before anything could look at the result.
func countLoops(expr hcl.Expression) {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return
	}
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		f, ok := n.(*hclsyntax.ForExpr)
		if !ok || isCall(f.CollExpr, loopItemsFunc) {
			return nil
		}
		f.CollExpr = wrapCall(loopItemsFunc, f.CollExpr)
		f.ValExpr = wrapCall(loopResultFunc, f.ValExpr)
		if f.KeyExpr != nil {
			f.KeyExpr = wrapCall(loopResultFunc, f.KeyExpr)
		}
		return nil
	})
}

func isCall(e hclsyntax.Expression, name string) bool {
	c, ok := e.(*hclsyntax.FunctionCallExpr)
	return ok && c.Name == name
}

func wrapCall(name string, e hclsyntax.Expression) hclsyntax.Expression {
	r := e.Range()
	return &hclsyntax.FunctionCallExpr{Name: name, Args: []hclsyntax.Expression{e}, NameRange: r, OpenParenRange: r, CloseParenRange: r}
}

// loopFunctions are the loop wrappers that count nothing: validation and
// constants (which read no event) use them, and they keep the types HCL
// checks the loop's body with.
func loopFunctions() map[string]function.Function {
	pass := function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true}},
		Type:   func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
		Impl:   func(args []cty.Value, _ cty.Type) (cty.Value, error) { return args[0], nil },
	})
	return map[string]function.Function{loopItemsFunc: pass, loopResultFunc: pass}
}

// LoopBudget is what the `for` loops of one attribute may still produce,
// in bytes; rendering sets Left before each attribute and checks Exceeded
// after it.
type LoopBudget struct {
	Left     int64
	Exceeded bool
}

// LoopFunctions returns the loop wrappers that count against b, for the
// render context. Once b is spent they return an unknown value, which HCL
// neither iterates nor joins, so the rest of the attribute's loops end at
// once instead of each reporting an error.
func LoopFunctions(b *LoopBudget) map[string]function.Function {
	param := []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true}}
	charge := func(v cty.Value, n int64) cty.Value {
		if b.Exceeded {
			return cty.DynamicVal
		}
		b.Left -= n
		if b.Left < 0 {
			b.Exceeded = true
			return cty.DynamicVal
		}
		return v
	}
	dynamic := function.StaticReturnType(cty.DynamicPseudoType)
	return map[string]function.Function{
		loopItemsFunc: function.New(&function.Spec{Params: param, Type: dynamic, Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v := args[0]
			raw, _ := v.Unmark()
			if !raw.IsKnown() || raw.IsNull() || !raw.CanIterateElements() {
				return v, nil // HCL reports what is wrong with it
			}
			return charge(v, int64(raw.LengthInt())*LoopStepBytes), nil
		}}),
		loopResultFunc: function.New(&function.Spec{Params: param, Type: dynamic, Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			if b.Exceeded {
				return cty.DynamicVal, nil
			}
			return charge(args[0], int64(valueSize(args[0], uint64(max(b.Left, 0))+1))), nil
		}}),
	}
}

// valueSize is the bytes of the strings in v plus one per element or other
// value, counted until it passes budget.
func valueSize(v cty.Value, budget uint64) uint64 {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() {
		return 1
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return uint64(len(v.AsString()))
	case ty.IsCollectionType() || ty.IsTupleType() || ty.IsObjectType():
		var n uint64
		for it := v.ElementIterator(); it.Next() && n < budget; {
			_, e := it.Element()
			n += 1 + valueSize(e, budget-n)
		}
		return n
	}
	return 1
}
