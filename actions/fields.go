package actions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Fields are a delivery's rendered attributes, in the order of its type's
// Attrs. Attributes that rendered to nothing are left out. A slice rather
// than a map: a delivery has a handful of fields, and the order is the one
// people read them in.
type Fields []Field

// Field is one rendered attribute.
type Field struct {
	Name string
	Value
}

// Value is one rendered attribute: a text, a list of texts or a map of
// texts, as the attribute's Kind says. Static attributes (an HTTP method, a
// timeout) are literal texts.
type Value struct {
	Text Text
	List []Text
	Map  []Header // in name order
}

// Header is one entry of a map value, such as an HTTP header.
type Header struct {
	Name  string `json:"name"`
	Value Text   `json:"value"`
}

// Get returns the named field's value; the zero Value when it is absent.
func (f Fields) Get(name string) Value {
	for i := range f {
		if f[i].Name == name {
			return f[i].Value
		}
	}
	return Value{}
}

// Set replaces the named field, or appends it; a zero v removes it.
func (f *Fields) Set(name string, v Value) {
	for i := range *f {
		if (*f)[i].Name == name {
			if v.IsZero() {
				*f = append((*f)[:i], (*f)[i+1:]...)
			} else {
				(*f)[i].Value = v
			}
			return
		}
	}
	if !v.IsZero() {
		*f = append(*f, Field{Name: name, Value: v})
	}
}

// Text returns the named field's text, or nil.
func (f Fields) Text(name string) Text { return f.Get(name).Text }

// List returns the named field's list, or nil.
func (f Fields) List(name string) []Text { return f.Get(name).List }

// Map returns the named field's entries, or nil.
func (f Fields) Map(name string) []Header { return f.Get(name).Map }

// Literal returns the named field as a string when it holds no secret,
// which static attributes never do; "" otherwise.
func (f Fields) Literal(name string) string {
	t := f.Text(name)
	if t.Sensitive() {
		return ""
	}
	return t.Redacted()
}

// MarkFromEvent flags every literal part of v as rendered from the event
// (see Part.Ev). The engine calls it on a freshly rendered value of an
// attribute whose expression reads event fields; parts that are env()
// references stay as they are, since their text is the operator's.
func (v *Value) MarkFromEvent() {
	mark := func(t Text) {
		for i := range t {
			if t[i].Env == "" {
				t[i].Ev = true
			}
		}
	}
	mark(v.Text)
	for _, t := range v.List {
		mark(t)
	}
	for _, h := range v.Map {
		mark(h.Value)
	}
}

// IsZero reports whether v holds nothing.
func (v Value) IsZero() bool { return len(v.Text) == 0 && len(v.List) == 0 && len(v.Map) == 0 }

// Shown is the value as people see it: a string, a list of strings or a
// map of strings, every secret shown as Redaction.
func (v Value) Shown() any {
	switch {
	case v.Map != nil:
		m := make(map[string]string, len(v.Map))
		for _, h := range v.Map {
			m[h.Name] = h.Value.Redacted()
		}
		return m
	case v.List != nil:
		s := make([]string, len(v.List))
		for i, t := range v.List {
			s[i] = t.Redacted()
		}
		return s
	}
	return v.Text.Redacted()
}

// Rendered is the delivery's content as people and tests see it: field
// name to Value.Shown.
func (d *Delivery) Rendered() map[string]any {
	out := make(map[string]any, len(d.Fields))
	for _, f := range d.Fields {
		out[f.Name] = f.Shown()
	}
	return out
}

// MarshalJSON writes the fields as one object, in order. A text is its
// parts, a list an array of texts, a map an array of {name, value}: the
// names of env() variables are stored, never their values.
func (f Fields) MarshalJSON() ([]byte, error) { return f.appendJSON(nil), nil }

// UnmarshalJSON reads what MarshalJSON wrote, keeping the order. It also
// reads the fields of deliveries stored before Fields existed, which held
// plain strings (method, status callback) and a timeout in nanoseconds, so
// that an upgrade never strands a delivery that is still queued.
func (f *Fields) UnmarshalJSON(b []byte) error {
	r := jsonReader{b: string(b)}
	var fast Fields
	if r.fields(&fast) && r.end() {
		*f = fast
		return nil
	}
	return f.unmarshalJSON(b)
}

// unmarshalJSON is UnmarshalJSON by encoding/json alone (jsondec.go).
func (f *Fields) unmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("actions: fields must be a JSON object")
	}
	*f = (*f)[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		v, err := decodeValue(raw)
		if err != nil {
			return fmt.Errorf("actions: field %s: %w", tok, err)
		}
		if !v.IsZero() {
			*f = append(*f, Field{Name: tok.(string), Value: v})
		}
	}
	return nil
}

// decodeValue tells the kind of a stored value by its JSON shape.
func decodeValue(raw json.RawMessage) (Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return Value{}, errors.New("empty value")
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return Value{Text: Literal(s)}, err
	case 'n':
		return Value{}, nil
	case '[':
	default:
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("unexpected %s", raw)
		}
		if n == 0 {
			return Value{}, nil
		}
		return Value{Text: Literal(time.Duration(n).String())}, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return Value{}, err
	}
	if len(elems) == 0 {
		return Value{}, nil
	}
	first := bytes.TrimSpace(elems[0])
	var keys map[string]json.RawMessage
	if len(first) > 0 && first[0] == '{' {
		if err := json.Unmarshal(first, &keys); err != nil {
			return Value{}, err
		}
	}
	// A header is {name, value}; a text part {lit} or {env}.
	_, hasName := keys["name"]
	_, hasLit := keys["lit"]
	_, hasEnv := keys["env"]
	isMap := hasName && !hasLit && !hasEnv
	var v Value
	var err error
	switch {
	case len(first) > 0 && first[0] == '[':
		err = json.Unmarshal(raw, &v.List)
	case isMap:
		err = json.Unmarshal(raw, &v.Map)
	default:
		err = json.Unmarshal(raw, &v.Text)
	}
	return v, err
}
