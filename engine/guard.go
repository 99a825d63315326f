package engine

import (
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/hookline/hookline/rules"
)

// guard is the first clause of a filter when it compares a string field of
// the event with a literal, as in `appointment.calendar.name == 'X' && ...`.
// CEL evaluates the clauses of && from the left and stops at the first
// false one, so when the field differs the filter is false without running
// it, exactly as CEL would have found. Many triggers of a type tend to test
// the same field; it is read once per event for all of them.
type guard struct {
	field int    // into compiledType.fields
	value string // the literal
	whole bool   // the clause is the whole filter, so it decides both ways
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
	lit, ok := rhs.AsLiteral().(types.String)
	if !ok || !native.GetType(lhs.ID()).IsExactType(types.StringType) {
		return nil
	}
	path := stringFieldPath(native, lhs, et)
	if path == nil {
		return nil
	}
	g := &guard{field: -1, value: string(lit), whole: len(clauses) == 1}
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

// stringFieldPath returns the variable and field names of a chain of
// selections ending in a string field (e.g. appointment, calendar, name),
// or nil when e is anything else, has() included.
func stringFieldPath(native *ast.AST, e ast.Expr, et *rules.EventType) []string {
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
		if len(path) == 2 && path[1] != "time" && isEnvelopeField(path[1]) {
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
	if t == nil || t.Kind != rules.KindString {
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
	vals []string
	read []bool
}

// holds reports whether g's comparison is true for the event.
func (f *guardFields) holds(g *guard) bool {
	if f.vals == nil {
		f.vals = make([]string, len(f.comp.fields))
		f.read = make([]bool, len(f.comp.fields))
	}
	if !f.read[g.field] {
		f.vals[g.field] = readString(f.ev, f.comp.fields[g.field])
		f.read[g.field] = true
	}
	return f.vals[g.field] == g.value
}

// readString reads a string field as filters do (celVariables and the
// schema's CEL provider): absent objects and fields read as "".
func readString(ev *Event, path []string) string {
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
	s, _ := v.(string)
	return s
}
