package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"cel.dev/cel-go/cel"
	"github.com/hashicorp/hcl/v2"
)

// Sentences for the filter and template mistakes people make most: the
// parser's own words ("mismatched input 'or' expecting <EOF>") name what it
// expected, not what to write.

// celFix is a syntax error explained: where (CEL line from 1, column from 0,
// in characters), how wide, and the sentence.
type celFix struct {
	line, col, width int
	detail           string
}

var (
	recognitionAt = regexp.MustCompile(`^Syntax error: token recognition error at: '(.*)'$`)
	inputAt       = regexp.MustCompile(`^Syntax error: (?:mismatched|extraneous) input '(.*)' expecting`)
	missingParen  = regexp.MustCompile(`^Syntax error: missing '\)' at`)
	undeclaredRef = regexp.MustCompile(`undeclared reference to '([^']+)'`)
)

// explainSyntax turns the first syntax error of src into a sentence with
// the fix, or reports false when it is not one of the common mistakes. The
// parser's later errors are most often consequences of the first, so only
// the first is explained.
func explainSyntax(src string, errs []*cel.Error) (celFix, bool) {
	if len(errs) == 0 {
		return celFix{}, false
	}
	e := errs[0]
	// An empty source has no location: CEL says line 1, column -1.
	line, col := max(1, e.Location.Line()), max(0, e.Location.Column())
	text := celLine(src, line)
	if m := recognitionAt.FindStringSubmatch(e.Message); m != nil {
		tok := m[1]
		switch {
		case strings.HasPrefix(tok, "'") || strings.HasPrefix(tok, `"`):
			q := tok[:1]
			return celFix{line, col, 1, fmt.Sprintf("This string is never closed: add the closing %s where it ends (a string starts and ends with the same quote).", q)}, true
		case strings.HasPrefix(tok, "="):
			if r := []rune(text); col > 0 && col <= len(r) && r[col-1] == '=' {
				return celFix{line, col, 1, "CEL compares with ==: remove the third =."}, true
			}
			return celFix{line, col, 1, "= is not an operator in CEL: compare with == (and != for \"is not\")."}, true
		}
	}
	if m := inputAt.FindStringSubmatch(e.Message); m != nil {
		tok := m[1]
		switch strings.ToLower(tok) {
		case "or":
			return celFix{line, col, len([]rune(tok)), fmt.Sprintf("CEL writes %q as ||: a || b is true when either is.", tok)}, true
		case "and":
			return celFix{line, col, len([]rune(tok)), fmt.Sprintf("CEL writes %q as &&: a && b is true when both are.", tok)}, true
		case ")":
			return celFix{line, col, 1, "This ) closes nothing: remove it, or add the ( it belongs to."}, true
		case "<eof>":
			if fix, ok := unclosedParen(src); ok {
				return fix, true
			}
			if l, c, last, ok := lastToken(src); ok {
				return celFix{l, c, len([]rune(last)), fmt.Sprintf("The filter ends after %s, which needs a value on its right.", last)}, true
			}
		}
		if c, word := wordBefore(text, col); strings.ToLower(word) == "not" {
			return celFix{line, c, 3, notSentence}, true
		}
	}
	if missingParen.MatchString(e.Message) {
		if fix, ok := unclosedParen(src); ok {
			return fix, true
		}
	}
	return celFix{}, false
}

const notSentence = "CEL writes \"not\" as !: !(a == b), or a != b."

// unclosedParen finds the last ( that no ) closes, outside strings.
func unclosedParen(src string) (celFix, bool) {
	type pos struct{ line, col int }
	var open []pos
	line, col := 1, 0
	var quote rune
	escaped := false
	for _, r := range src {
		switch {
		case quote != 0:
			switch {
			case escaped:
				escaped = false
			case r == '\\':
				escaped = true
			case r == quote:
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '(':
			open = append(open, pos{line, col})
		case r == ')' && len(open) > 0:
			open = open[:len(open)-1]
		}
		if r == '\n' {
			line, col = line+1, 0
		} else {
			col++
		}
	}
	if len(open) == 0 {
		return celFix{}, false
	}
	p := open[len(open)-1]
	return celFix{p.line, p.col, 1, "This ( is never closed: add a ) where the expression inside it ends."}, true
}

// lastToken returns the last operator or word of src, and where it starts.
func lastToken(src string) (line, col int, tok string, ok bool) {
	lines := strings.Split(src, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		r := []rune(strings.TrimRightFunc(lines[i], unicode.IsSpace))
		if len(r) == 0 {
			continue
		}
		end := len(r)
		start := end - 1
		word := isIdentRune(r[start])
		for start > 0 && !unicode.IsSpace(r[start-1]) && isIdentRune(r[start-1]) == word && (word || strings.ContainsRune("&|=!<>", r[start-1])) {
			start--
		}
		return i + 1, start, string(r[start:end]), true
	}
	return 0, 0, "", false
}

// wordBefore returns the word that ends before col on a line, skipping
// spaces, and the column it starts at.
func wordBefore(text string, col int) (int, string) {
	r := []rune(text)
	end := max(0, min(col, len(r)))
	for end > 0 && unicode.IsSpace(r[end-1]) {
		end--
	}
	start := end
	for start > 0 && isIdentRune(r[start-1]) {
		start--
	}
	return start, string(r[start:end])
}

func isIdentRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

func celLine(src string, line int) string {
	lines := strings.Split(src, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}

// notInEvent is the Extra of a diagnostic about a variable or field that a
// trigger's event type does not carry. A trigger is checked once per event
// type in its `on`; such diagnostics that differ only in the type are
// merged into one naming every type (mergeNotInEvent).
type notInEvent struct {
	key    string   // what is missing, the same whatever the type
	types  []string // the event types that lack it
	detail func(types string) string
}

// missingVariable explains a variable the event type does not carry, and
// which event types carry it.
func missingVariable(s *Schema, et *EventType, name string) (string, *notInEvent) {
	var carriers []string
	for _, n := range s.EventNames() {
		for _, f := range s.Events[n].Data {
			if f.Name == name {
				carriers = append(carriers, n)
			}
		}
	}
	var detail func(string) string
	if len(carriers) > 0 {
		detail = func(types string) string {
			return fmt.Sprintf("`%s` is not part of %s events; it is carried by %s.", name, types, joinOr(carriers, "and"))
		}
	} else {
		have := []string{"event"}
		for _, f := range et.Data {
			have = append(have, f.Name)
		}
		suggest := didYouMean(name, have)
		detail = func(types string) string {
			return fmt.Sprintf("`%s` is not part of %s events, which carry %s.%s", name, types, joinOr(have, "and"), suggest)
		}
	}
	x := &notInEvent{key: "var " + name, types: []string{et.Name}, detail: detail}
	return x.detail(et.Name), x
}

// missingField explains a field that path (a variable and fields, such as
// "appointment.calendar") does not have. It reports false when path does
// not lead to an object of the event type.
func missingField(et *EventType, path, name string) (string, *notInEvent, bool) {
	o := objectAt(et, path)
	if o == nil {
		return "", nil, false
	}
	names := make([]string, len(o.Fields))
	for i, f := range o.Fields {
		names[i] = f.Name
	}
	suggest := didYouMean(name, names)
	x := &notInEvent{key: "field " + path + "." + name, types: []string{et.Name}, detail: func(types string) string {
		return fmt.Sprintf("`%s.%s` is not part of %s events: %s has no field %q.%s", path, name, types, o.Name, name, suggest)
	}}
	return x.detail(et.Name), x, true
}

// objectAt resolves a path of fields from an event variable to the object
// it names, or nil.
func objectAt(et *EventType, path string) *Object {
	parts := strings.Split(path, ".")
	var t *Type
	if parts[0] == "event" {
		t = &Type{Kind: KindObject, Object: envelopeObject()}
	}
	for _, f := range et.Data {
		if f.Name == parts[0] {
			t = f.Type
		}
	}
	for _, p := range parts[1:] {
		if t == nil || t.Kind != KindObject {
			return nil
		}
		f := t.Object.Field(p)
		if f == nil {
			return nil
		}
		t = f.Type
	}
	if t == nil || t.Kind != KindObject {
		return nil
	}
	return t.Object
}

// pathBefore reads the dotted path that ends just before a selection (the
// "appointment.calendar" of "appointment.calendar.nme"), from the source.
func pathBefore(src []byte, dot int) string {
	if dot > len(src) || dot <= 0 {
		return ""
	}
	i := dot
	for i > 0 && (src[i-1] == '.' || src[i-1] == '_' || src[i-1] < 0x80 && isIdentRune(rune(src[i-1]))) {
		i--
	}
	return strings.Trim(string(src[i:dot]), ".")
}

// mergeNotInEvent merges diagnostics about the same missing name at the
// same place that differ only in the event type, into one naming them all.
func mergeNotInEvent(diags hcl.Diagnostics) hcl.Diagnostics {
	type key struct {
		at   string
		what string
	}
	first := map[key]*hcl.Diagnostic{}
	var out hcl.Diagnostics
	for _, d := range diags {
		x, ok := d.Extra.(*notInEvent)
		if !ok || d.Subject == nil {
			out = append(out, d)
			continue
		}
		k := key{d.Subject.String(), x.key}
		if f, seen := first[k]; seen {
			fx := f.Extra.(*notInEvent)
			fx.types = append(fx.types, x.types...)
			f.Detail = fx.detail(joinOr(fx.types, "or"))
			continue
		}
		first[k] = d
		out = append(out, d)
	}
	return out
}

// joinOr lists words as "a, b and c" (or "a, b or c").
func joinOr(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}

// unknownCELFunction explains a call of a function the filter environment
// does not have.
func unknownCELFunction(env *cel.Env, name string) string {
	names := make([]string, 0, len(env.Functions()))
	for n := range env.Functions() {
		if !strings.HasPrefix(n, "_") && !strings.Contains(n, "@") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return fmt.Sprintf("There is no function %q in filters.%s", name, didYouMean(name, names))
}
