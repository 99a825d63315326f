package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDecodeRefusesTextNoStoreCanKeep checks every part of an event,
// declared by the schema or not, for a NUL, bytes that are not UTF-8 and
// unpaired surrogates, escaped or raw, and names where it is.
func TestDecodeRefusesTextNoStoreCanKeep(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	ev := func(envelope, data string) string {
		return `{"specversion":"1.0","type":"appointment.created",` + envelope + `,"data":` + data + `}`
	}
	const ids = `"id":"1","source":"s"`
	tests := []struct{ body, path, msg string }{
		{ev(ids, `{"appointment":{"title":"a\u0000"}}`), "data.appointment.title", `NUL character (\u0000)`},
		{ev(ids, "{\"appointment\":{\"title\":\"a\x00\"}}"), "data.appointment.title", "NUL character"},
		{ev(ids, `{"appointment":{"custom_data":{"k":"\u0000"}}}`), "data.appointment.custom_data.k", "NUL"},
		{ev(ids, `{"appointment":{},"extra":{"list":[0,"x",{"deep":["\u0000"]}]}}`), "data.extra.list[2].deep[0]", "NUL"},
		{ev(ids, `{"appointment":{"title":"\ud800"}}`), "data.appointment.title", `unpaired UTF-16 surrogate \ud800`},
		{ev(ids, `{"appointment":{"title":"\uDBFF"}}`), "data.appointment.title", `\uDBFF`},
		{ev(ids, `{"appointment":{"title":"\udc00\ud800"}}`), "data.appointment.title", `\udc00`},
		{ev(ids, `{"appointment":{"title":"\ud800\u0041"}}`), "data.appointment.title", `\ud800`},
		{ev(ids, `{"appointment":{"title":"\ud800\ud800"}}`), "data.appointment.title", `\ud800`},
		{ev(ids, `{"appointment":{"title":"x\ud800"}}`), "data.appointment.title", `\ud800`},
		{ev(ids, "{\"appointment\":{\"title\":\"\xed\xa0\x80\"}}"), "data.appointment.title", "not UTF-8"}, // a surrogate in UTF-8
		{ev(ids, "{\"appointment\":{\"title\":\"\xc0\xaf\"}}"), "data.appointment.title", "not UTF-8"},     // overlong
		{ev(ids, "{\"appointment\":{\"title\":\"ab\xe2\x82\"}}"), "data.appointment.title", "not UTF-8"},   // truncated
		{ev(ids, `{"appointment":{"a\u0000b":1}}`), "data.appointment", "a key holds a NUL"},
		{ev(ids, "{\"appointment\":{},\"k\xff\":1}"), "data", "a key holds bytes that are not UTF-8"},
		{ev(`"id":"\u0000","source":"s"`, `{"appointment":{}}`), "id", "NUL"},
		{ev("\"id\":\"1\",\"source\":\"s\xff\"", `{"appointment":{}}`), "source", "not UTF-8"},
		{ev(ids+`,"subject":"\udfff"`, `{"appointment":{}}`), "subject", `\udfff`},
		{ev(ids+`,"myext":"\u0000"`, `{"appointment":{}}`), "myext", "NUL"},
		{ev(ids+`,"myext":{"a":["\u0000"]}`, `{"appointment":{}}`), "myext.a[0]", "NUL"},
		{`{"a\u0000":1}`, "", "a key holds a NUL"},
	}
	for _, tt := range tests {
		_, err := e.Decode(set.Set().Schema, []byte(tt.body))
		var de *DecodeError
		if !errors.As(err, &de) || !de.Text || de.Syntax || de.Path != tt.path || !strings.Contains(de.Message, tt.msg) {
			t.Errorf("%q:\n got %#v\nwant Text, path %q, message containing %q", tt.body, err, tt.path, tt.msg)
		}
	}
}

// TestDecodeIsStrictJSON: fastjson takes documents that are not JSON, and
// raw is stored as received, so a store's check (json.Valid) would refuse
// them. They are malformed JSON, with the path.
func TestDecodeIsStrictJSON(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	ev := func(data string) string {
		return `{"specversion":"1.0","type":"appointment.created","id":"1","source":"s","data":{"appointment":{},"x":` + data + `}}`
	}
	for _, tt := range []struct{ data, path, msg string }{
		{`01`, "data.x", `"01" is not a JSON number`},
		{`-01`, "data.x", "not a JSON number"},
		{`1.`, "data.x", "not a JSON number"},
		{`.5`, "data.x", "not a JSON number"},
		{`+1`, "data.x", "not a JSON number"},
		{`1e`, "data.x", "not a JSON number"},
		{`1e+`, "data.x", "not a JSON number"},
		{`--1`, "data.x", "not a JSON number"},
		{`nan`, "data.x", "not a JSON"},
		{`inf`, "data.x", "not a JSON"},
		{`[1,-Inf]`, "data.x[1]", "not a JSON"},
		{`"a` + "\n" + `b"`, "data.x", "control character U+000A"},
		{`"a` + "\t" + `b"`, "data.x", "control character U+0009"},
		{`"a` + "\x1f" + `b"`, "data.x", "U+001F"},
		{`"\x"`, "data.x", `"\\x" is not a JSON escape`},
		{`"\u12"`, "data.x", "four hex digits"},
		{`"\u12g4"`, "data.x", "four hex digits"},
		{`{"k":"\'"}`, "data.x.k", "not a JSON escape"},
	} {
		body := ev(tt.data)
		_, err := e.Decode(set.Set().Schema, []byte(body))
		var de *DecodeError
		if !errors.As(err, &de) || !de.Syntax || de.Text || de.Path != tt.path || !strings.Contains(de.Message, tt.msg) {
			t.Errorf("%q:\n got %#v\nwant Syntax, path %q, message containing %q", body, err, tt.path, tt.msg)
		}
		if json.Valid([]byte(body)) {
			t.Errorf("%q: encoding/json takes it; the case is wrong", body)
		}
	}
}

// TestDecodeTakesWhatLooksLikeBadText: surrogate pairs (how ASCII-only
// encoders such as Python's json.dumps send emoji), an escaped backslash
// before u0000, every escape and number form.
func TestDecodeTakesWhatLooksLikeBadText(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	body := `{ "specversion" : "1.0", "type":"appointment.created", "id":"\\u0000", "source":"caf\u00e9 😀 \ud83d\ude00 \uD83D\uDE00",
	  "ext": [0, -0, 1.5, -2.5e-3, 1E10, 0.0e+0, 123, true, false, null, "", "\"\\\/\b\f\n\r\t", {}, [], "\u0001\u001f\u007f\uffff"],
	  "data": {"appointment": {"title": "\\ud800 \u20ac"}}
	}` + "\n"
	got, err := e.Decode(set.Set().Schema, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != `\u0000` || got.Source != "café 😀 😀 😀" || got.Data["appointment"].(map[string]any)["title"] != `\ud800 €` {
		t.Errorf("decoded %q %q %v", got.ID, got.Source, got.Data)
	}
}

// FuzzDecode: whatever Decode accepts, a store takes (the checks of
// delivery.Store.Accept), and checkJSON calls malformed only what
// encoding/json calls malformed.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"specversion":"1.0","type":"appointment.created","id":"1","source":"s","data":{"appointment":{"title":"x"}}}`,
		`{"specversion":"1.0","type":"appointment.created","id":"\ud83d\ude00","source":"s","x":[1,2.5e3,"\u0000"],"data":{"appointment":{}}}`,
		`{"specversion":"1.0","type":"appointment.created","id":"1","source":"\ud800","data":{"appointment":{"id":01}}}`,
		"{\"specversion\":\"1.0\",\"type\":\"appointment.created\",\"id\":\"1\",\"source\":\"\xff\",\"data\":{\"appointment\":{}}}",
	} {
		f.Add([]byte(s))
	}
	set := loadExample(f)
	e := New(Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := e.Decode(set.Set().Schema, body)
		if err == nil {
			if !json.Valid(body) || !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
				t.Fatalf("accepted %q, which a store refuses", body)
			}
			for _, s := range []string{ev.ID, ev.Source, ev.Type} {
				if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
					t.Fatalf("accepted %q with the attribute %q, which a store refuses", body, s)
				}
			}
		}
		var de *DecodeError
		if errors.As(err, &de) && de.Syntax && json.Valid(body) {
			t.Fatalf("%q: called malformed (%v), but it is JSON", body, err)
		}
	})
}
