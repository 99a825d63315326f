package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

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
	Syntax      bool // the body is not JSON at all, or not strictly (see checkJSON)
	// Text is set when a string holds a NUL, bytes that are not UTF-8 or
	// an unpaired UTF-16 surrogate: text no store can keep (PostgreSQL's
	// text type refuses them), so the event can never be accepted.
	Text bool
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
	if derr := checkJSON(body); derr != nil {
		return nil, derr
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

// checkJSON finishes what fastjson leaves to its callers. fastjson takes
// numbers such as 01, 1. and nan, control characters in strings and unknown
// escapes, and it decodes "\u0000" to a NUL and keeps an unpaired surrogate
// such as "\ud800" as its six characters. Raw is stored and forwarded as it
// came, so every part of the document is checked, declared or not: strictly
// JSON (RFC 8259), and text that is valid UTF-8 without NUL characters or
// unpaired surrogates, which is what a store can keep. Its errors carry the
// path of the value at fault, built on the way out as Decode's are.
//
// body has parsed, so its structure is sound and its nesting is at most
// fastjson.MaxDepth deep, which bounds the recursion; the checks still stay
// in bounds whatever they are given.
func checkJSON(body []byte) *DecodeError {
	c := jsonChecker{b: body}
	c.ws()
	if derr := c.value(); derr != nil {
		return derr
	}
	if c.ws(); c.i != len(c.b) {
		return c.syntax("unexpected data after the top-level value")
	}
	return nil
}

type jsonChecker struct {
	b []byte
	i int
}

func (c *jsonChecker) syntax(msg string) *DecodeError {
	return &DecodeError{Message: "invalid JSON: " + msg, Syntax: true}
}

func (c *jsonChecker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *jsonChecker) value() *DecodeError {
	if c.i >= len(c.b) {
		return c.syntax("unexpected end")
	}
	switch c.b[c.i] {
	case '{':
		c.i++
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == '}' {
			c.i++
			return nil
		}
		for {
			c.ws()
			if c.i >= len(c.b) || c.b[c.i] != '"' {
				return c.syntax("expected a key")
			}
			start := c.i
			if derr := c.str(); derr != nil {
				derr.Message = "a key " + derr.Message
				return derr
			}
			key := c.b[start:c.i]
			if c.ws(); c.i >= len(c.b) || c.b[c.i] != ':' {
				return c.syntax("expected ':'")
			}
			c.i++
			c.ws()
			if derr := c.value(); derr != nil {
				return derr.at(keyName(key))
			}
			c.ws()
			if c.i < len(c.b) && c.b[c.i] == ',' {
				c.i++
				continue
			}
			if c.i < len(c.b) && c.b[c.i] == '}' {
				c.i++
				return nil
			}
			return c.syntax("expected ',' or '}'")
		}
	case '[':
		c.i++
		c.ws()
		if c.i < len(c.b) && c.b[c.i] == ']' {
			c.i++
			return nil
		}
		for n := 0; ; n++ {
			c.ws()
			if derr := c.value(); derr != nil {
				return derr.atIndex(n)
			}
			c.ws()
			if c.i < len(c.b) && c.b[c.i] == ',' {
				c.i++
				continue
			}
			if c.i < len(c.b) && c.b[c.i] == ']' {
				c.i++
				return nil
			}
			return c.syntax("expected ',' or ']'")
		}
	case '"':
		return c.str()
	case 't':
		return c.literal("true")
	case 'f':
		return c.literal("false")
	case 'n':
		return c.literal("null")
	}
	return c.number()
}

func (c *jsonChecker) literal(want string) *DecodeError {
	if !bytes.HasPrefix(c.b[c.i:], []byte(want)) || !c.endOfValue(c.i+len(want)) {
		return c.syntax(fmt.Sprintf("%s is not a JSON value", c.token()))
	}
	c.i += len(want)
	return nil
}

// number follows RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *jsonChecker) number() *DecodeError {
	b, i := c.b, c.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	ok := true
	if i < len(b) && b[i] == '0' {
		i++
	} else {
		ok = digits()
	}
	if ok && i < len(b) && b[i] == '.' {
		i++
		ok = digits()
	}
	if ok && i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		ok = digits()
	}
	if !ok || !c.endOfValue(i) {
		return c.syntax(fmt.Sprintf("%s is not a JSON number", c.token()))
	}
	c.i = i
	return nil
}

// endOfValue says whether a scalar may end before b[i].
func (c *jsonChecker) endOfValue(i int) bool {
	if i >= len(c.b) {
		return true
	}
	switch c.b[i] {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// token is the scalar at c.i, for an error message; at most 20 bytes, as
// a Go string literal so that no byte of it can corrupt the answer.
func (c *jsonChecker) token() string {
	end := c.i
	for end < len(c.b) && end-c.i < 20 && !c.endOfValue(end) {
		end++
	}
	return strconv.Quote(string(c.b[c.i:end]))
}

// plainStringByte marks the bytes a string may hold without a closer look.
var plainStringByte = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// str checks the string starting at c.i (its opening quote) and moves past it.
func (c *jsonChecker) str() *DecodeError {
	b := c.b
	i := c.i + 1
	for {
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			return c.syntax("a string is not closed")
		}
		switch ch := b[i]; {
		case ch == '"':
			c.i = i + 1
			return nil
		case ch == '\\':
			n, derr := c.escape(i)
			if derr != nil {
				return derr
			}
			i += n
		case ch == 0:
			return textError("holds a NUL character")
		case ch < 0x20:
			return c.syntax(fmt.Sprintf("holds the control character U+%04X, which must be escaped in a JSON string", ch))
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				return textError("holds bytes that are not UTF-8")
			}
			i += size
		}
	}
}

// escape checks the escape sequence starting at b[i], a backslash, and
// returns its length.
func (c *jsonChecker) escape(i int) (int, *DecodeError) {
	b := c.b
	if i+1 >= len(b) {
		return 0, c.syntax("a string is not closed")
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		return 0, c.syntax(fmt.Sprintf("%s is not a JSON escape", strconv.Quote(string(b[i:i+2]))))
	}
	r, ok := hex4(b[i+2:])
	if !ok {
		return 0, c.syntax(fmt.Sprintf("%s is not a JSON escape (\\u and four hex digits)", strconv.Quote(string(b[i:min(i+6, len(b))]))))
	}
	switch {
	case r == 0:
		return 0, textError(`holds a NUL character (\u0000)`)
	case utf16.IsSurrogate(r) && r < 0xdc00: // high: a low one must follow
		if i+12 <= len(b) && b[i+6] == '\\' && b[i+7] == 'u' {
			if lo, ok := hex4(b[i+8:]); ok && lo >= 0xdc00 && lo <= 0xdfff {
				return 12, nil
			}
		}
		fallthrough
	case utf16.IsSurrogate(r):
		return 0, textError(fmt.Sprintf(`holds an unpaired UTF-16 surrogate \u%s, which is not a character`, b[i+2:i+6]))
	}
	return 6, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, ch := range b[:4] {
		var d byte
		switch {
		case ch >= '0' && ch <= '9':
			d = ch - '0'
		case ch >= 'a' && ch <= 'f':
			d = ch - 'a' + 10
		case ch >= 'A' && ch <= 'F':
			d = ch - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

func textError(msg string) *DecodeError {
	return &DecodeError{Message: msg + "; no store can keep it, so the event cannot be accepted", Text: true}
}

// keyName is a checked key (with its quotes) as it appears in a path.
func keyName(quoted []byte) string {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return string(quoted[1 : len(quoted)-1])
	}
	return s
}
