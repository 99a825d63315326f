package actions

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// A delivery read back from the store (spilled first attempts, retries,
// every River job) was decoded by encoding/json four times over: the
// struct, Fields' token stream, each value as raw JSON, then each value
// again by its kind. That was a quarter of the server's CPU while it
// worked off a backlog. decodeDelivery reads the shape AppendJSON writes
// in one pass and gives up on anything else (the shape stored before
// Fields, a key it does not know, a duplicate, malformed JSON), which
// encoding/json then reads as before: FuzzDecodeDeliveryMatchesEncodingJSON
// holds the two to the same result.

// decodeDelivery reads b into d and reports true, or reports false and
// leaves d alone. d's strings share b's memory where they need no
// unescaping: one allocation for all of them.
func decodeDelivery(b string, d *Delivery) bool {
	r := jsonReader{b: b}
	var out Delivery
	// The keys AppendJSON writes: the strings first, fields last.
	keys := [...]string{"id", "event_id", "address", "trigger", "type", "name", "attempt", "fields"}
	strs := [...]*string{&out.ID, &out.EventID, &out.Address, &out.Trigger, &out.Type, &out.Name}
	var seen uint
	ok := r.byte('{') && r.each('}', func(int) bool {
		key, ok := r.key()
		if !ok {
			return false
		}
		i := slices.Index(keys[:], key)
		switch {
		case i < 0:
			return false
		case i < len(strs):
			*strs[i], ok = r.str()
		case key == "attempt":
			var n int64
			n, ok = r.int()
			out.Attempt = int(n)
			ok = ok && int64(out.Attempt) == n
		default:
			ok = r.fields(&out.Fields)
		}
		bit := uint(1) << i
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
	if !ok || seen&(1<<(len(keys)-1)) == 0 || !r.end() {
		return false // an empty object too: no fields, the shape stored before them
	}
	*d = out
	return true
}

// jsonReader is a strict reader of the JSON subset deliveries are stored
// in. Every method reports false on anything it does not expect, after
// which the reader is abandoned.
type jsonReader struct {
	b string
	i int
}

func (r *jsonReader) space() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// byte consumes c, after white space, if it comes next.
func (r *jsonReader) byte(c byte) bool {
	r.space()
	if r.i < len(r.b) && r.b[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *jsonReader) peek() byte {
	r.space()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *jsonReader) end() bool {
	r.space()
	return r.i == len(r.b)
}

// each calls item for every element of the array or object whose opening
// byte was just read, up to and including close, with the element's index;
// it reads the commas between them. It reports false as soon as item does,
// or on anything but a comma or close after an element.
func (r *jsonReader) each(close byte, item func(i int) bool) bool {
	for i := 0; ; i++ {
		if r.byte(close) {
			return true
		}
		if i > 0 && !r.byte(',') || !item(i) {
			return false
		}
	}
}

func (r *jsonReader) literal(word string) bool {
	r.space()
	if len(r.b)-r.i >= len(word) && r.b[r.i:r.i+len(word)] == word {
		r.i += len(word)
		return true
	}
	return false
}

func (r *jsonReader) key() (string, bool) {
	k, ok := r.str()
	return k, ok && r.byte(':')
}

// int reads an integer written without fraction or exponent, as
// strconv.ParseInt takes it.
func (r *jsonReader) int() (int64, bool) {
	r.space()
	start := r.i
	if r.i < len(r.b) && r.b[r.i] == '-' {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && '0' <= r.b[r.i] && r.b[r.i] <= '9' {
		r.i++
	}
	switch {
	case r.i == digits, r.i-digits > 1 && r.b[digits] == '0':
		return 0, false
	case r.i < len(r.b) && (r.b[r.i] == '.' || r.b[r.i] == 'e' || r.b[r.i] == 'E'):
		return 0, false
	}
	n, err := strconv.ParseInt(r.b[start:r.i], 10, 64)
	return n, err == nil
}

// str reads a string as encoding/json decodes one: invalid UTF-8 and
// unpaired surrogates become U+FFFD.
func (r *jsonReader) str() (string, bool) {
	if !r.byte('"') {
		return "", false
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			s := r.b[start:r.i]
			r.i++
			return s, true
		case c == '\\' || c >= utf8.RuneSelf:
			return r.strSlow(start)
		case c < 0x20:
			return "", false
		}
		r.i++
	}
	return "", false
}

func (r *jsonReader) strSlow(start int) (string, bool) {
	out := append(make([]byte, 0, r.i-start+16), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c == '\\':
			if r.i+1 >= len(r.b) {
				return "", false
			}
			r.i += 2
			switch e := r.b[r.i-1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				c, ok := r.hex4(r.i)
				if !ok {
					return "", false
				}
				r.i += 4
				if utf16.IsSurrogate(c) {
					if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
						if c2, ok := r.hex4(r.i + 2); ok {
							if pair := utf16.DecodeRune(c, c2); pair != utf8.RuneError {
								r.i += 6
								out = utf8.AppendRune(out, pair)
								continue
							}
						}
					}
					c = utf8.RuneError
				}
				out = utf8.AppendRune(out, c)
			default:
				return "", false
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			r.i++
		default:
			c, n := utf8.DecodeRuneInString(r.b[r.i:])
			if c == utf8.RuneError && n == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, r.b[r.i:r.i+n]...)
			}
			r.i += n
		}
	}
	return "", false
}

func (r *jsonReader) hex4(at int) (rune, bool) {
	if at+4 > len(r.b) {
		return 0, false
	}
	var c rune
	for i := at; i < at+4; i++ {
		h := r.b[i]
		switch {
		case '0' <= h && h <= '9':
			h -= '0'
		case 'a' <= h && h <= 'f':
			h -= 'a' - 10
		case 'A' <= h && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		c = c<<4 | rune(h)
	}
	return c, true
}

// fields reads a Fields object as Fields.UnmarshalJSON does, except a
// name given a value twice, which is left to it.
func (r *jsonReader) fields(f *Fields) bool {
	return r.byte('{') && r.each('}', func(int) bool {
		name, ok := r.key()
		if !ok {
			return false
		}
		for _, fd := range *f {
			if fd.Name == name {
				return false
			}
		}
		v, ok := r.value()
		if ok && !v.IsZero() {
			*f = append(*f, Field{Name: name, Value: v})
		}
		return ok
	})
}

// value reads one field's value, telling its kind by its shape as
// decodeValue does.
func (r *jsonReader) value() (Value, bool) {
	switch r.peek() {
	case '"':
		s, ok := r.str()
		return Value{Text: Literal(s)}, ok
	case 'n':
		return Value{}, r.literal("null")
	case '[':
	default:
		n, ok := r.int()
		if !ok || n == 0 {
			return Value{}, ok
		}
		return Value{Text: Literal(time.Duration(n).String())}, true
	}
	r.i++
	// The first element tells the kind, as in decodeValue: a list's are
	// texts; a map's headers have a name and neither part key; anything
	// else of objects is a text's parts.
	var list []Text
	var parts []Part
	var headers []Header
	ok := r.each(']', func(i int) bool {
		if i == 0 && r.peek() == '[' {
			list = []Text{}
		}
		if list != nil {
			t, ok := r.text()
			list = append(list, t)
			return ok
		}
		o, ok := r.object()
		if !ok {
			return false
		}
		if i == 0 {
			if o.has&hasName != 0 && o.has&(hasLit|hasEnv) == 0 {
				headers = []Header{}
			} else {
				parts = []Part{}
			}
		}
		if headers != nil {
			headers = append(headers, Header{Name: o.name, Value: o.value})
			return o.has&(hasLit|hasEnv|hasEv) == 0
		}
		parts = append(parts, o.part)
		return o.has&(hasName|hasValue) == 0
	})
	switch {
	case !ok:
		return Value{}, false
	case list != nil:
		return Value{List: list}, true
	case headers != nil:
		return Value{Map: headers}, true
	}
	return Value{Text: parts}, true
}

// text reads a Text: an array of parts, or null.
func (r *jsonReader) text() (Text, bool) {
	if r.peek() == 'n' {
		return nil, r.literal("null")
	}
	if !r.byte('[') {
		return nil, false
	}
	t := Text{}
	ok := r.each(']', func(int) bool {
		o, ok := r.object()
		t = append(t, o.part)
		return ok && o.has&(hasName|hasValue) == 0
	})
	if !ok {
		return nil, false
	}
	return t, true
}

const (
	hasLit = 1 << iota
	hasEnv
	hasEv
	hasName
	hasValue
)

// element is one object of an array value: a text's part or a map's
// header, told apart by its keys.
type element struct {
	has   int
	part  Part
	name  string
	value Text
}

func (r *jsonReader) object() (element, bool) {
	var o element
	ok := r.byte('{') && r.each('}', func(int) bool {
		key, ok := r.key()
		if !ok {
			return false
		}
		var bit int
		switch key {
		case "lit":
			bit = hasLit
			o.part.Lit, ok = r.str()
		case "env":
			bit = hasEnv
			o.part.Env, ok = r.str()
		case "ev":
			bit = hasEv
			if o.part.Ev = r.literal("true"); !o.part.Ev {
				ok = r.literal("false")
			}
		case "name":
			bit = hasName
			o.name, ok = r.str()
		case "value":
			bit = hasValue
			o.value, ok = r.text()
		default:
			return false
		}
		if !ok || o.has&bit != 0 {
			return false
		}
		o.has |= bit
		return true
	})
	return o, ok
}
