package rules

import (
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/functions"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// celTypePrefix namespaces schema objects in CEL, so that an object named
// "timestamp" or "list" cannot clash with CEL's own types.
const celTypePrefix = "hookline."

// envelopeObject is the CloudEvents envelope as filters and templates see
// it, under the variable name "event".
var envelopeFields = []struct {
	name string
	kind Kind
}{
	{"id", KindString},
	{"type", KindString},
	{"source", KindString},
	{"subject", KindString},
	{"time", KindTimestamp},
}

// Envelope is the CloudEvents envelope as filters and templates see it,
// under the name event, for listings of what an event carries.
func Envelope() *Object { return envelopeObject() }

func envelopeObject() *Object {
	o := &Object{Name: "event", byName: map[string]*Field{}}
	for _, f := range envelopeFields {
		fd := &Field{Name: f.name, Type: &Type{Kind: f.kind}}
		o.Fields = append(o.Fields, fd)
		o.byName[f.name] = fd
	}
	return o
}

// celProvider exposes schema objects to the CEL type checker and reads their
// fields at run time from the engine's native values (map[string]any).
//
// Absent and null fields read as the zero value of their declared type, as
// protobuf fields do, so that `message.body.trim() == 'cancel'` is simply
// false when a message has no body, never an evaluation error. has() tells
// whether a field was present and non-null.
//
// It embeds the registry so that CEL extensions can still register their own
// types through it.
type celProvider struct {
	*types.Registry
	base    *types.Registry
	objects map[string]*Object // by CEL type name
}

func newCELProvider(s *Schema, envelope *Object) (*celProvider, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &celProvider{Registry: reg, base: reg, objects: map[string]*Object{celTypePrefix + envelope.Name: envelope}}
	for name, o := range s.Objects {
		p.objects[celTypePrefix+name] = o
	}
	return p, nil
}

func (p *celProvider) EnumValue(name string) ref.Val         { return p.base.EnumValue(name) }
func (p *celProvider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }
func (p *celProvider) NewValue(n string, f map[string]ref.Val) ref.Val {
	if _, ok := p.objects[n]; ok {
		return types.NewErr("%s values cannot be constructed in a filter", n)
	}
	return p.base.NewValue(n, f)
}

func (p *celProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.base.FindStructType(name)
}

func (p *celProvider) FindStructFieldNames(name string) ([]string, bool) {
	o, ok := p.objects[name]
	if !ok {
		return p.base.FindStructFieldNames(name)
	}
	names := make([]string, len(o.Fields))
	for i, f := range o.Fields {
		names[i] = f.Name
	}
	return names, true
}

func (p *celProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	o, ok := p.objects[name]
	if !ok {
		return p.base.FindStructFieldType(name, field)
	}
	f := o.Field(field)
	if f == nil {
		return nil, false
	}
	zero := ZeroNative(f.Type)
	return &types.FieldType{
		Type: celType(f.Type),
		IsSet: func(obj any) bool {
			m, _ := obj.(map[string]any)
			return m[field] != nil
		},
		GetFrom: func(obj any) (any, error) {
			m, _ := obj.(map[string]any)
			if v := m[field]; v != nil {
				return v, nil
			}
			return zero, nil
		},
	}, true
}

// celType maps a schema type to its CEL type.
func celType(t *Type) *types.Type {
	switch t.Kind {
	case KindString:
		return types.StringType
	case KindInteger:
		return types.IntType
	case KindNumber:
		return types.DoubleType
	case KindBool:
		return types.BoolType
	case KindTimestamp:
		return types.TimestampType
	case KindList:
		return types.NewListType(celType(t.Elem))
	case KindMap:
		return types.NewMapType(types.StringType, celType(t.Elem))
	case KindObject:
		return types.NewObjectType(celTypePrefix + t.Object.Name)
	}
	return types.DynType
}

// ZeroNative is the native value an absent field of type t reads as. The
// engine's decoder produces the same representations: string, int64,
// float64, bool, time.Time, []any and map[string]any.
func ZeroNative(t *Type) any {
	switch t.Kind {
	case KindString:
		return ""
	case KindInteger:
		return int64(0)
	case KindNumber:
		return float64(0)
	case KindBool:
		return false
	case KindTimestamp:
		return time.Time{}
	case KindList:
		return []any{}
	case KindMap, KindObject:
		return map[string]any{}
	}
	return nil
}

// celEnvs builds one CEL environment per event type, sharing one base.
type celEnvs struct {
	base   *cel.Env
	byType map[string]*cel.Env
	guards map[string][]*functions.Overload // by function name, see guardFunctions
}

func newCELEnvs(s *Schema) (*celEnvs, error) {
	envelope := envelopeObject()
	p, err := newCELProvider(s, envelope)
	if err != nil {
		return nil, err
	}
	base, err := cel.NewEnv(
		cel.CustomTypeAdapter(p.base),
		cel.CustomTypeProvider(p),
		cel.Variable("event", types.NewObjectType(celTypePrefix+envelope.Name)),
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(ext.ListsMaxRangeSize(10_000)),
		ext.Sets(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
	)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	guards, err := guardFunctions(base)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	return &celEnvs{base: base, byType: map[string]*cel.Env{}, guards: guards}, nil
}

// forType returns the CEL environment of an event type. Load builds the
// environment of every type a filter uses; after Load, the map is only read.
func (c *celEnvs) forType(et *EventType) (*cel.Env, error) {
	if env, ok := c.byType[et.Name]; ok {
		return env, nil
	}
	env, err := c.extend(et)
	if err == nil {
		c.byType[et.Name] = env
	}
	return env, err
}

// extend builds the environment of an event type without keeping it.
func (c *celEnvs) extend(et *EventType) (*cel.Env, error) {
	opts := make([]cel.EnvOption, 0, len(et.Data))
	for _, f := range et.Data {
		opts = append(opts, cel.Variable(f.Name, celType(f.Type)))
	}
	env, err := c.base.Extend(opts...)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment for %s: %w", et.Name, err)
	}
	return env, nil
}
