package rules

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Kind is the shape of a schema type.
type Kind int

// The kinds a schema field can have.
const (
	KindString Kind = iota + 1
	KindInteger
	KindNumber
	KindBool
	KindTimestamp
	KindAny
	KindList
	KindMap
	KindObject
)

// Type is a field's declared type. Elem is set for lists and maps, Object for
// objects.
type Type struct {
	Kind   Kind
	Elem   *Type
	Object *Object
}

func (t *Type) String() string {
	switch t.Kind {
	case KindString:
		return "string"
	case KindInteger:
		return "integer"
	case KindNumber:
		return "number"
	case KindBool:
		return "bool"
	case KindTimestamp:
		return "timestamp"
	case KindAny:
		return "any"
	case KindList:
		return "list(" + t.Elem.String() + ")"
	case KindMap:
		return "map(" + t.Elem.String() + ")"
	case KindObject:
		return t.Object.Name
	}
	return "invalid"
}

// Field is one named, typed member of an object or of an event's data.
type Field struct {
	Name     string
	Type     *Type
	Optional bool // only for event data: the object may be absent
	Range    hcl.Range

	typeExpr hcl.Expression // resolved once every object is known
}

// Object is a named record type, such as appointment or participant.
type Object struct {
	Name      string
	Fields    []*Field // in source order
	byName    map[string]*Field
	DeclRange hcl.Range

	cty cty.Type // computed by resolve; objects are immutable from then on
}

// Field returns the named field, or nil.
func (o *Object) Field(name string) *Field { return o.byName[name] }

// EventType is one entry of the catalogue: a CloudEvents type and the
// objects its data carries.
type EventType struct {
	Name        string
	Description string
	Data        []*Field // each of kind object
	DeclRange   hcl.Range
	Builtin     bool
}

// Schema is the event catalogue: the built-in schema.hcl plus any event and
// object blocks of the rules directory.
type Schema struct {
	Objects map[string]*Object
	Events  map[string]*EventType
}

// EventNames returns the event types in sorted order.
func (s *Schema) EventNames() []string {
	names := make([]string, 0, len(s.Events))
	for n := range s.Events {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newSchema() *Schema {
	return &Schema{Objects: map[string]*Object{}, Events: map[string]*EventType{}}
}

var eventBlockSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: "data"}},
}

// reservedNames cannot be used for event data because filters and templates
// already give them a meaning.
var reservedNames = map[string]bool{"event": true}

// declareObject records an object block; its field types are resolved later,
// when every object is known, so objects may refer to each other in any order.
func (s *Schema) declareObject(b *hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	name := b.Labels[0]
	if !hclsyntax.ValidIdentifier(name) {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid object name",
			Detail:   fmt.Sprintf("%q is not a valid object name: use letters, digits, underscores and dashes, starting with a letter.", name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
	}
	if prev, ok := s.Objects[name]; ok {
		return append(diags, duplicateDiag("object", name, b.LabelRanges[0], prev.DeclRange))
	}
	attrs, d := b.Body.JustAttributes()
	diags = append(diags, d...)
	obj := &Object{Name: name, byName: map[string]*Field{}, DeclRange: b.DefRange}
	for _, a := range sortedAttrs(attrs) {
		f := &Field{Name: a.Name, Range: a.Range, typeExpr: a.Expr}
		obj.Fields = append(obj.Fields, f)
		obj.byName[a.Name] = f
	}
	s.Objects[name] = obj
	return diags
}

func (s *Schema) declareEvent(b *hcl.Block, builtin bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	name := b.Labels[0]
	if prev, ok := s.Events[name]; ok {
		d := duplicateDiag("event type", name, b.LabelRanges[0], prev.DeclRange)
		if prev.Builtin {
			d.Detail = fmt.Sprintf("The event type %q is built in (schema.hcl); choose another name for your own type.", name)
		}
		return append(diags, d)
	}
	if !validEventName(name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid event type name",
			Detail:   fmt.Sprintf("%q is not a valid event type: use dot-separated words of lower-case letters, digits and underscores, such as \"invoice.paid\".", name),
			Subject:  b.LabelRanges[0].Ptr(),
		})
		return diags
	}
	content, d := b.Body.Content(eventBlockSchema)
	diags = append(diags, d...)
	et := &EventType{Name: name, DeclRange: b.DefRange, Builtin: builtin}
	if a, ok := content.Attributes["description"]; ok {
		diags = append(diags, decodeString(a, &et.Description)...)
	}
	for i, db := range content.Blocks {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate data block",
				Detail:   "An event type has at most one data block.",
				Subject:  db.DefRange.Ptr(),
			})
			continue
		}
		attrs, d := db.Body.JustAttributes()
		diags = append(diags, d...)
		for _, a := range sortedAttrs(attrs) {
			if reservedNames[a.Name] {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Reserved name",
					Detail:   fmt.Sprintf("%q is reserved for the event envelope; give this data field another name.", a.Name),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			et.Data = append(et.Data, &Field{Name: a.Name, Range: a.Range, typeExpr: a.Expr})
		}
	}
	s.Events[name] = et
	return diags
}

func validEventName(name string) bool {
	if name == "" {
		return false
	}
	for _, part := range strings.Split(name, ".") {
		if part == "" {
			return false
		}
		for _, r := range part {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				return false
			}
		}
	}
	return true
}

// resolve turns every pending type expression into a Type. It runs once all
// object and event blocks have been declared.
func (s *Schema) resolve() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(s.Objects) {
		for _, f := range s.Objects[name].Fields {
			if f.typeExpr == nil {
				continue
			}
			t, opt, d := s.parseType(f.typeExpr)
			diags = append(diags, d...)
			if opt {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unexpected optional()",
					Detail:   "Every object field may already be absent or null; optional() is only for an event's data objects.",
					Subject:  f.typeExpr.Range().Ptr(),
				})
			}
			f.Type, f.typeExpr = t, nil
		}
	}
	for _, name := range s.EventNames() {
		for _, f := range s.Events[name].Data {
			if f.typeExpr == nil {
				continue
			}
			t, opt, d := s.parseType(f.typeExpr)
			diags = append(diags, d...)
			if t != nil && t.Kind != KindObject {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Event data must be an object",
					Detail:   fmt.Sprintf("The data field %q has type %s; each data field must name an object, such as appointment.", f.Name, t),
					Subject:  f.typeExpr.Range().Ptr(),
				})
				t = nil
			}
			f.Type, f.Optional, f.typeExpr = t, opt, nil
		}
	}
	if !diags.HasErrors() {
		diags = append(diags, s.checkCycles()...)
	}
	if !diags.HasErrors() {
		// Without cycles every object's cty type is finite. Objects are
		// visited in name order and an object's fields may be objects
		// resolved later, so each type is built from scratch, once.
		for _, name := range sortedKeys(s.Objects) {
			o := s.Objects[name]
			o.cty = buildCtyObject(o)
		}
	}
	return diags
}

var scalarKinds = map[string]Kind{
	"string": KindString, "integer": KindInteger, "number": KindNumber,
	"bool": KindBool, "timestamp": KindTimestamp, "any": KindAny,
}

// parseType reads a type expression: a keyword, an object name, or a call of
// list(), map() or optional(). It reports whether optional() wrapped it.
func (s *Schema) parseType(expr hcl.Expression) (*Type, bool, hcl.Diagnostics) {
	if kw := hcl.ExprAsKeyword(expr); kw != "" {
		if k, ok := scalarKinds[kw]; ok {
			return &Type{Kind: k}, false, nil
		}
		if obj, ok := s.Objects[kw]; ok {
			return &Type{Kind: KindObject, Object: obj}, false, nil
		}
		return nil, false, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown type",
			Detail:   fmt.Sprintf("There is no type or object named %q.%s", kw, didYouMean(kw, append(sortedKeys(scalarKinds), sortedKeys(s.Objects)...))),
			Subject:  expr.Range().Ptr(),
		}}
	}
	call, d := hcl.ExprCall(expr)
	if d.HasErrors() || len(call.Arguments) != 1 || (call.Name != "list" && call.Name != "map" && call.Name != "optional") {
		return nil, false, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid type",
			Detail:   "A type is string, integer, number, bool, timestamp, any, an object name, list(TYPE), map(TYPE), or optional(OBJECT) for event data.",
			Subject:  expr.Range().Ptr(),
		}}
	}
	elem, opt, diags := s.parseType(call.Arguments[0])
	if elem == nil {
		return nil, false, diags
	}
	if opt {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nested optional()",
			Detail:   "optional() may only wrap the whole type of an event data field.",
			Subject:  call.Arguments[0].Range().Ptr(),
		})
	}
	switch call.Name {
	case "list":
		return &Type{Kind: KindList, Elem: elem}, false, diags
	case "map":
		return &Type{Kind: KindMap, Elem: elem}, false, diags
	}
	return elem, true, diags
}

// checkCycles rejects objects that contain themselves: their values would
// be infinite, and so would their cty types.
func (s *Schema) checkCycles() hcl.Diagnostics {
	var diags hcl.Diagnostics
	state := map[*Object]int{} // 1 visiting, 2 done
	var visit func(o *Object) bool
	visit = func(o *Object) bool {
		switch state[o] {
		case 1:
			return false
		case 2:
			return true
		}
		state[o] = 1
		for _, f := range o.Fields {
			t := f.Type
			for t != nil && (t.Kind == KindList || t.Kind == KindMap) {
				t = t.Elem
			}
			if t != nil && t.Kind == KindObject && !visit(t.Object) {
				if state[o] == 1 {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Recursive object",
						Detail:   fmt.Sprintf("The object %q contains itself through field %q; objects cannot be recursive.", o.Name, f.Name),
						Subject:  f.Range.Ptr(),
					})
				}
				state[o] = 2
				return false
			}
		}
		state[o] = 2
		return true
	}
	for _, name := range sortedKeys(s.Objects) {
		visit(s.Objects[name])
	}
	return diags
}
