package actions

import (
	"strconv"
	"unicode/utf8"
)

// Every accepted event stores each of its deliveries as JSON, and with
// encoding/json that was a reflective walk of the struct, a Marshal per
// field value, and a second pass compacting what Fields.MarshalJSON
// returned: 3–4 % of the server's CPU at full intake. These appenders
// write the same bytes directly (TestAppendJSONMatchesEncodingJSON holds
// them to encoding/json's output).

// AppendJSON appends d as json.Marshal would write it.
func (d *Delivery) AppendJSON(b []byte) []byte {
	for _, kv := range [...][2]string{
		{`{"id":`, d.ID}, {`,"event_id":`, d.EventID}, {`,"address":`, d.Address},
		{`,"trigger":`, d.Trigger}, {`,"type":`, d.Type}, {`,"name":`, d.Name},
	} {
		b = appendJSONString(append(b, kv[0]...), kv[1])
	}
	b = append(b, `,"attempt":`...)
	b = appendInt(b, d.Attempt)
	b = append(b, `,"fields":`...)
	b = d.Fields.appendJSON(b)
	return append(b, '}')
}

func (f Fields) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, fd := range f {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, fd.Name)
		b = append(b, ':')
		switch {
		case fd.Map != nil:
			b = append(b, '[')
			for j, h := range fd.Map {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"name":`...)
				b = appendJSONString(b, h.Name)
				b = append(b, `,"value":`...)
				b = h.Value.appendJSON(b)
				b = append(b, '}')
			}
			b = append(b, ']')
		case fd.List != nil:
			b = append(b, '[')
			for j, t := range fd.List {
				if j > 0 {
					b = append(b, ',')
				}
				b = t.appendJSON(b)
			}
			b = append(b, ']')
		case fd.Text == nil:
			b = append(b, "[]"...)
		default:
			b = fd.Text.appendJSON(b)
		}
	}
	return append(b, '}')
}

// appendJSON writes t as json.Marshal writes a []Part: null when nil.
func (t Text) appendJSON(b []byte) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, p := range t {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		sep := false
		if p.Lit != "" {
			b = append(b, `"lit":`...)
			b = appendJSONString(b, p.Lit)
			sep = true
		}
		if p.Env != "" {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"env":`...)
			b = appendJSONString(b, p.Env)
			sep = true
		}
		if p.Ev {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"ev":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendInt(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding with HTML escaping,
// as json.Marshal does it: <, > and & as \u003c, \u003e and \u0026, the
// line and paragraph separators escaped, invalid UTF-8 as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
