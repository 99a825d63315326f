package engine

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/hookline/hookline/rules"
)

// guard is the first clause of a filter when it compares a string or an
// integer field of the event with a literal of its type, as in
// `appointment.calendar.name == 'X' && ...` or `appointment.calendar.id ==
// 7 && ...` (a calendar or an account per trigger is what large rule sets
// look like).
// CEL evaluates the clauses of && from the left and stops at the first
// false one, so when the field differs the filter is false without running
// it, exactly as CEL would have found. Many triggers of a type tend to test
// the same field; it is read once per event for all of them.
type guard struct {
	field int    // into compiledType.fields
	value string // the literal, for a string field
	num   int64  // the literal, for an integer field
	isInt bool
	whole bool // the clause is the whole filter, so it decides both ways
}

// compileGuard finds t's guard for events of type et, or returns nil.
func (tp *compiledType) compileGuard(t *rules.Trigger, et *rules.EventType) *guard {
	checked, ok := t.ASTs[et.Name]
	if !ok || t.Programs[et.Name] == nil {
		return nil
	}
	native := checked.NativeRep()
	clauses := conjuncts(native.Expr())
	c := clauses[0]
	if c.Kind() != ast.CallKind || c.AsCall().FunctionName() != operators.Equals || len(c.AsCall().Args()) != 2 {
		return nil
	}
	lhs, rhs := c.AsCall().Args()[0], c.AsCall().Args()[1]
	if lhs.Kind() == ast.LiteralKind {
		lhs, rhs = rhs, lhs
	}
	if rhs.Kind() != ast.LiteralKind {
		return nil
	}
	g := &guard{field: -1, whole: len(clauses) == 1}
	var kind rules.Kind
	switch lit := rhs.AsLiteral().(type) {
	case types.String:
		if !native.GetType(lhs.ID()).IsExactType(types.StringType) {
			return nil
		}
		g.value, kind = string(lit), rules.KindString
	case types.Int:
		if !native.GetType(lhs.ID()).IsExactType(types.IntType) {
			return nil
		}
		g.num, g.isInt, kind = int64(lit), true, rules.KindInteger
	default:
		return nil
	}
	path := guardFieldPath(native, lhs, et, kind)
	if path == nil {
		return nil
	}
	for i, f := range tp.fields {
		if equalPaths(f, path) {
			g.field = i
		}
	}
	if g.field < 0 {
		g.field = len(tp.fields)
		tp.fields = append(tp.fields, path)
	}
	return g
}

// guardFieldPath returns the variable and field names of a chain of
// selections ending in a field of kind (e.g. appointment, calendar, name),
// or nil when e is anything else, has() included.
func guardFieldPath(native *ast.AST, e ast.Expr, et *rules.EventType, kind rules.Kind) []string {
	var rev []string
	for e.Kind() == ast.SelectKind {
		sel := e.AsSelect()
		if sel.IsTestOnly() {
			return nil
		}
		rev = append(rev, sel.FieldName())
		e = sel.Operand()
	}
	if e.Kind() != ast.IdentKind {
		return nil
	}
	if ref, ok := native.ReferenceMap()[e.ID()]; !ok || ref.Value != nil || ref.Name != e.AsIdent() {
		return nil // not a plain variable
	}
	path := []string{e.AsIdent()}
	for i := len(rev) - 1; i >= 0; i-- {
		path = append(path, rev[i])
	}
	if path[0] == "event" {
		if kind == rules.KindString && len(path) == 2 && path[1] != "time" && isEnvelopeField(path[1]) {
			return path
		}
		return nil
	}
	var t *rules.Type
	for _, f := range et.Data {
		if f.Name == path[0] {
			t = f.Type
		}
	}
	for _, name := range path[1:] {
		if t == nil || t.Kind != rules.KindObject {
			return nil
		}
		f := t.Object.Field(name)
		if f == nil {
			return nil
		}
		t = f.Type
	}
	if t == nil || t.Kind != kind {
		return nil
	}
	return path
}

func equalPaths(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// guardFields reads the fields of an event that guards compare, once each.
type guardFields struct {
	ev   *Event
	comp *compiledType
	vals []any // a string or an int64, nil when absent
	read []bool
}

// holds reports whether g's comparison is true for the event. Absent
// fields compare as their type's zero value, as filters read them
// (celVariables and the schema's CEL provider).
func (f *guardFields) holds(g *guard) bool {
	if f.vals == nil {
		f.vals = make([]any, len(f.comp.fields))
		f.read = make([]bool, len(f.comp.fields))
	}
	if !f.read[g.field] {
		f.vals[g.field] = readField(f.ev, f.comp.fields[g.field])
		f.read[g.field] = true
	}
	if g.isInt {
		n, _ := f.vals[g.field].(int64)
		return n == g.num
	}
	s, _ := f.vals[g.field].(string)
	return s == g.value
}

// readField reads a field of the event as decoded: a string or an int64
// for the kinds guards compare, nil when it or an object on its way is
// absent.
func readField(ev *Event, path []string) any {
	if path[0] == "event" {
		switch path[1] {
		case "id":
			return ev.ID
		case "type":
			return ev.Type
		case "source":
			return ev.Source
		}
		return ev.Subject
	}
	v := ev.Data[path[0]]
	for _, name := range path[1:] {
		m, _ := v.(map[string]any)
		v = m[name]
	}
	return v
}
