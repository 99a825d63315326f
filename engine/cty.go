package engine

import (
	"math/big"
	"sort"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/zclconf/go-cty/cty"

	"github.com/hookline/hookline/rules"
)

// ctyValue converts a decoded native value to the cty value templates see,
// walking the schema type directly (no JSON round trip). Absent values
// become the type's zero value, matching what filters see, so that a
// message renders "" for a missing name rather than failing.
func ctyValue(v any, t *rules.Type) cty.Value {
	switch t.Kind {
	case rules.KindString:
		s, _ := v.(string)
		return cty.StringVal(s)
	case rules.KindTimestamp:
		tm, _ := v.(time.Time)
		if tm.IsZero() {
			return cty.StringVal("")
		}
		return cty.StringVal(tm.Format(time.RFC3339Nano))
	case rules.KindInteger:
		n, _ := v.(int64)
		return cty.NumberIntVal(n)
	case rules.KindNumber:
		f, _ := v.(float64)
		return cty.NumberVal(new(big.Float).SetFloat64(f))
	case rules.KindBool:
		b, _ := v.(bool)
		return cty.BoolVal(b)
	case rules.KindList:
		elemType := rules.CtyType(t.Elem)
		list, _ := v.([]any)
		if len(list) == 0 {
			return cty.ListValEmpty(elemType)
		}
		vals := make([]cty.Value, len(list))
		for i, e := range list {
			vals[i] = ctyValue(e, t.Elem)
		}
		return cty.ListVal(vals)
	case rules.KindMap:
		elemType := rules.CtyType(t.Elem)
		m, _ := v.(map[string]any)
		if len(m) == 0 {
			return cty.MapValEmpty(elemType)
		}
		vals := make(map[string]cty.Value, len(m))
		for k, e := range m {
			vals[k] = ctyValue(e, t.Elem)
		}
		if elemType == cty.DynamicPseudoType {
			return cty.ObjectVal(vals) // map(any): elements may differ in type
		}
		return cty.MapVal(vals)
	case rules.KindObject:
		m, _ := v.(map[string]any)
		attrs := make(map[string]cty.Value, len(t.Object.Fields))
		for _, f := range t.Object.Fields {
			attrs[f.Name] = ctyValue(m[f.Name], f.Type)
		}
		return cty.ObjectVal(attrs)
	}
	return ctyAny(v)
}

// ctyPruned is ctyValue restricted to the fields some template of the set
// reads: the other attributes are simply left out of objects. Templates
// were checked against the full types at load, and every attribute they
// reference is in use, so they cannot tell the difference.
func ctyPruned(v any, t *rules.Type, use *rules.FieldUse) cty.Value {
	if use == nil || use.Whole || t.Kind != rules.KindObject {
		return ctyValue(v, t)
	}
	m, _ := v.(map[string]any)
	attrs := make(map[string]cty.Value, len(use.Fields))
	for name, fu := range use.Fields {
		if f := t.Object.Field(name); f != nil {
			attrs[name] = ctyPruned(m[name], f.Type, fu)
		}
	}
	return cty.ObjectVal(attrs)
}

// ctyAny converts free-form JSON (an `any` field).
func ctyAny(v any) cty.Value {
	switch x := v.(type) {
	case nil:
		return cty.NullVal(cty.DynamicPseudoType)
	case string:
		return cty.StringVal(x)
	case float64:
		return cty.NumberFloatVal(x)
	case bool:
		return cty.BoolVal(x)
	case []any:
		if len(x) == 0 {
			return cty.EmptyTupleVal
		}
		vals := make([]cty.Value, len(x))
		for i, e := range x {
			vals[i] = ctyAny(e)
		}
		return cty.TupleVal(vals)
	case map[string]any:
		if len(x) == 0 {
			return cty.EmptyObjectVal
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make(map[string]cty.Value, len(x))
		for _, k := range keys {
			vals[k] = ctyAny(x[k])
		}
		return cty.ObjectVal(vals)
	}
	return cty.NullVal(cty.DynamicPseudoType)
}

// addVariables converts the named event variables to cty, once per event.
func addVariables(ctx *hcl.EvalContext, set *rules.Set, ev *Event, names []string) {
	for _, name := range names {
		if _, done := ctx.Variables[name]; done {
			continue
		}
		if name == "event" {
			var ts string
			if !ev.Time.IsZero() {
				ts = ev.Time.Format(time.RFC3339Nano)
			}
			ctx.Variables["event"] = cty.ObjectVal(map[string]cty.Value{
				"id":      cty.StringVal(ev.ID),
				"type":    cty.StringVal(ev.Type),
				"source":  cty.StringVal(ev.Source),
				"subject": cty.StringVal(ev.Subject),
				"time":    cty.StringVal(ts),
			})
			continue
		}
		for _, f := range ev.schema.Data {
			if f.Name == name {
				ctx.Variables[name] = ctyPruned(ev.Data[name], f.Type, set.Usage(name))
			}
		}
	}
}

// celVariables are the filter variables: native values read through the
// schema-backed CEL type provider. Absent optional objects are an empty
// object, whose fields read as zero values.
func celVariables(ev *Event) map[string]any {
	vars := make(map[string]any, len(ev.schema.Data)+1)
	env := map[string]any{"id": ev.ID, "type": ev.Type, "source": ev.Source}
	if ev.Subject != "" {
		env["subject"] = ev.Subject
	}
	if !ev.Time.IsZero() {
		env["time"] = ev.Time
	}
	vars["event"] = env
	for _, f := range ev.schema.Data {
		if v, ok := ev.Data[f.Name]; ok {
			vars[f.Name] = v
		} else {
			vars[f.Name] = map[string]any{}
		}
	}
	return vars
}
