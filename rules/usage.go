package rules

import "github.com/hashicorp/hcl/v2"

// FieldUse is the part of an event variable that some template reads. The
// engine converts only that part to cty: converting whole objects is most
// of the cost of rendering, and a message usually reads three fields.
type FieldUse struct {
	// Whole is set when a template uses the value itself (passes an object
	// to jsonencode, indexes a map, iterates a list), not just fields of it.
	Whole  bool
	Fields map[string]*FieldUse
}

// Field returns the use of a child field, or nil when none is read.
func (u *FieldUse) Field(name string) *FieldUse { return u.Fields[name] }

// record adds one traversal (after its root) to the use.
func (u *FieldUse) record(steps hcl.Traversal) {
	for _, step := range steps {
		if u.Whole {
			return
		}
		attr, ok := step.(hcl.TraverseAttr)
		if !ok { // an index or splat needs the whole collection
			break
		}
		if u.Fields == nil {
			u.Fields = map[string]*FieldUse{}
		}
		next := u.Fields[attr.Name]
		if next == nil {
			next = &FieldUse{}
			u.Fields[attr.Name] = next
		}
		u = next
	}
	u.Whole = true
}

// Usage returns what the set's templates read of an event variable
// ("appointment", "event", ...), or nil when no template reads it.
func (s *Set) Usage(root string) *FieldUse { return s.usage[root] }

// recordUsage adds an expression's traversals to the set's usage.
func (s *Set) recordUsage(expr hcl.Expression) {
	for _, tr := range expr.Variables() {
		root := tr.RootName()
		u := s.usage[root]
		if u == nil {
			u = &FieldUse{}
			s.usage[root] = u
		}
		u.record(tr[1:])
	}
}
