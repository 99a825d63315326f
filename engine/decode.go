package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"github.com/hookline/hookline/rules"
)

// Event is a CloudEvents 1.0 event decoded against the schema of its type.
// It is immutable once decoded and safe to share between goroutines.
type Event struct {
	SpecVersion     string
	ID              string
	Source          string
	Type            string
	Subject         string
	Time            time.Time // zero when the event has no time
	DataContentType string

	// Data holds the declared data objects as native values: string, int64,
	// float64, bool, time.Time, []any and map[string]any. Fields the schema
	// does not declare are left out (they stay in Raw); absent and null
	// fields are absent.
	Data map[string]any

	// Raw is the event as structured-mode JSON, exactly as received when it
	// arrived that way. It is the default body of http actions, so fields the
	// schema does not declare are passed through.
	Raw []byte

	schema *rules.EventType
}

// EventType is the schema entry the event was checked against.
func (e *Event) EventType() *rules.EventType { return e.schema }

// DecodeError says precisely what is wrong with an event and where.
type DecodeError struct {
	Path    string // JSON path, e.g. "data.appointment.start_time"; "" for the document
	Message string
	// UnknownType is set when the event's type is not in the catalogue, which
	// servers answer differently (422) from malformed input (400).
	UnknownType bool
	Syntax      bool // the body is not JSON at all
}

func (e *DecodeError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

// maxDepth bounds nesting in free-form (any) values so that a hostile event
// cannot exhaust the stack.
const maxDepth = 64

// Decode parses a structured-mode CloudEvent and checks it against the
// schema. The returned event keeps a copy of body.
func (e *Engine) Decode(schema *rules.Schema, body []byte) (*Event, error) {
	p := e.parsers.Get()
	defer e.parsers.Put(p)
	root, err := p.ParseBytes(body)
	if err != nil {
		return nil, &DecodeError{Message: "invalid JSON: " + err.Error(), Syntax: true}
	}
	obj, err := root.Object()
	if err != nil {
		return nil, &DecodeError{Message: "an event must be a JSON object"}
	}
	ev := &Event{Raw: append([]byte(nil), body...)}
	attrs := []struct {
		name     string
		dst      *string
		required bool
	}{
		{"specversion", &ev.SpecVersion, true},
		{"id", &ev.ID, true},
		{"source", &ev.Source, true},
		{"type", &ev.Type, true},
		{"subject", &ev.Subject, false},
		{"datacontenttype", &ev.DataContentType, false},
	}
	for _, a := range attrs {
		v := obj.Get(a.name)
		if v == nil || v.Type() == fastjson.TypeNull {
			if a.required {
				return nil, &DecodeError{Path: a.name, Message: "required CloudEvents attribute is missing"}
			}
			continue
		}
		s, err := v.StringBytes()
		if err != nil {
			return nil, &DecodeError{Path: a.name, Message: "must be a string, got " + jsonKind(v)}
		}
		if a.required && len(s) == 0 {
			return nil, &DecodeError{Path: a.name, Message: "must not be empty"}
		}
		*a.dst = string(s)
	}
	if ev.SpecVersion != "1.0" {
		return nil, &DecodeError{Path: "specversion", Message: fmt.Sprintf("unsupported CloudEvents version %q; send \"1.0\"", ev.SpecVersion)}
	}
	if v := obj.Get("time"); v != nil && v.Type() != fastjson.TypeNull {
		t, derr := decodeTimestamp(v)
		if derr != nil {
			return nil, derr.at("time")
		}
		ev.Time = t
	}
	if ct := ev.DataContentType; ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasSuffix(strings.SplitN(ct, ";", 2)[0], "+json") {
		return nil, &DecodeError{Path: "datacontenttype", Message: fmt.Sprintf("data must be JSON; %q is not supported", ct)}
	}
	et, ok := schema.Events[ev.Type]
	if !ok {
		msg := fmt.Sprintf("unknown event type %q", ev.Type)
		if s := suggestType(ev.Type, schema); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		return nil, &DecodeError{Path: "type", Message: msg, UnknownType: true}
	}
	ev.schema = et
	data := obj.Get("data")
	if data == nil || data.Type() == fastjson.TypeNull {
		data = nil
	} else if data.Type() != fastjson.TypeObject {
		return nil, &DecodeError{Path: "data", Message: "must be a JSON object, got " + jsonKind(data)}
	}
	ev.Data = make(map[string]any, len(et.Data))
	for _, f := range et.Data {
		var v *fastjson.Value
		if data != nil {
			v = data.Get(f.Name)
		}
		if v == nil || v.Type() == fastjson.TypeNull {
			if !f.Optional {
				return nil, &DecodeError{Path: "data." + f.Name, Message: fmt.Sprintf("required for %s events", et.Name)}
			}
			continue
		}
		nv, derr := decodeValue(v, f.Type, 0)
		if derr != nil {
			return nil, derr.at(f.Name).at("data")
		}
		ev.Data[f.Name] = nv
	}
	return ev, nil
}

// Paths in errors are built on the way out of a failed decode (at), so a
// valid event pays nothing for them.

// at prefixes the error's path with a key.
func (e *DecodeError) at(key string) *DecodeError {
	if e.Path == "" || e.Path[0] == '[' {
		e.Path = key + e.Path
	} else {
		e.Path = key + "." + e.Path
	}
	return e
}

// atIndex prefixes the error's path with a list index.
func (e *DecodeError) atIndex(i int) *DecodeError {
	if e.Path == "" || e.Path[0] == '[' {
		e.Path = "[" + strconv.Itoa(i) + "]" + e.Path
	} else {
		e.Path = "[" + strconv.Itoa(i) + "]." + e.Path
	}
	return e
}

func decodeValue(v *fastjson.Value, t *rules.Type, depth int) (any, *DecodeError) {
	if depth > maxDepth {
		return nil, &DecodeError{Message: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	switch t.Kind {
	case rules.KindString:
		s, err := v.StringBytes()
		if err != nil {
			return nil, typeError("a string", v)
		}
		return string(s), nil
	case rules.KindInteger:
		if v.Type() != fastjson.TypeNumber {
			return nil, typeError("an integer", v)
		}
		f, _ := v.Float64()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, &DecodeError{Message: "expected an integer, got " + v.String()}
		}
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		return int64(f), nil
	case rules.KindNumber:
		f, err := v.Float64()
		if err != nil || v.Type() != fastjson.TypeNumber {
			return nil, typeError("a number", v)
		}
		return f, nil
	case rules.KindBool:
		b, err := v.Bool()
		if err != nil {
			return nil, typeError("true or false", v)
		}
		return b, nil
	case rules.KindTimestamp:
		t, err := decodeTimestamp(v)
		if err != nil {
			return nil, err
		}
		return t, nil
	case rules.KindList:
		arr, err := v.Array()
		if err != nil {
			return nil, typeError("a list", v)
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			if e.Type() == fastjson.TypeNull {
				out = append(out, rules.ZeroNative(t.Elem))
				continue
			}
			nv, derr := decodeValue(e, t.Elem, depth+1)
			if derr != nil {
				return nil, derr.atIndex(i)
			}
			out = append(out, nv)
		}
		return out, nil
	case rules.KindMap:
		o, err := v.Object()
		if err != nil {
			return nil, typeError("an object", v)
		}
		out := make(map[string]any, o.Len())
		var derr *DecodeError
		o.Visit(func(k []byte, e *fastjson.Value) {
			if derr != nil || e.Type() == fastjson.TypeNull {
				return
			}
			var nv any
			if nv, derr = decodeValue(e, t.Elem, depth+1); derr != nil {
				derr.at(string(k))
				return
			}
			out[string(k)] = nv
		})
		if derr != nil {
			return nil, derr
		}
		return out, nil
	case rules.KindObject:
		o, err := v.Object()
		if err != nil {
			return nil, typeError("an object ("+t.Object.Name+")", v)
		}
		out := make(map[string]any, len(t.Object.Fields))
		for _, f := range t.Object.Fields {
			e := o.Get(f.Name)
			if e == nil || e.Type() == fastjson.TypeNull {
				continue
			}
			nv, derr := decodeValue(e, f.Type, depth+1)
			if derr != nil {
				return nil, derr.at(f.Name)
			}
			out[f.Name] = nv
		}
		return out, nil
	}
	return decodeAny(v, depth)
}

// decodeAny converts free-form JSON. Numbers become float64, as in
// encoding/json, which is what CEL's dyn and cty's number expect.
func decodeAny(v *fastjson.Value, depth int) (any, *DecodeError) {
	if depth > maxDepth {
		return nil, &DecodeError{Message: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return nil, nil
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		return string(s), nil
	case fastjson.TypeNumber:
		f, _ := v.Float64()
		return f, nil
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeArray:
		arr, _ := v.Array()
		out := make([]any, len(arr))
		for i, e := range arr {
			nv, err := decodeAny(e, depth+1)
			if err != nil {
				return nil, err.atIndex(i)
			}
			out[i] = nv
		}
		return out, nil
	}
	o, _ := v.Object()
	out := make(map[string]any, o.Len())
	var derr *DecodeError
	o.Visit(func(k []byte, e *fastjson.Value) {
		if derr == nil {
			if out[string(k)], derr = decodeAny(e, depth+1); derr != nil {
				derr.at(string(k))
			}
		}
	})
	return out, derr
}

func decodeTimestamp(v *fastjson.Value) (time.Time, *DecodeError) {
	s, err := v.StringBytes()
	if err != nil {
		return time.Time{}, typeError("an RFC 3339 timestamp string", v)
	}
	if len(s) == 0 {
		return time.Time{}, nil // Apptoto sends "" for times that are not set
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, &DecodeError{Message: fmt.Sprintf("%q is not an RFC 3339 timestamp such as 2026-12-01T09:00:00-05:00", s)}
	}
	return t, nil
}

func typeError(want string, v *fastjson.Value) *DecodeError {
	return &DecodeError{Message: fmt.Sprintf("expected %s, got %s", want, jsonKind(v))}
}

func jsonKind(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "a list"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a bool"
	}
	return "null"
}

func suggestType(name string, schema *rules.Schema) string {
	return rules.Suggest(name, schema.EventNames())
}
