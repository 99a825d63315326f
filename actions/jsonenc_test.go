package actions

import (
	"bytes"
	"encoding/json"
	"testing"
)

// referenceFields is what Fields.MarshalJSON wrote before the appenders:
// encoding/json for every name and value.
func referenceFields(t testing.TB, f Fields) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, fd := range f {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(fd.Name)
		b.Write(name)
		b.WriteByte(':')
		var v any = fd.Text
		switch {
		case fd.Map != nil:
			v = fd.Map
		case fd.List != nil:
			v = fd.List
		case fd.Text == nil:
			v = []Part{}
		}
		val, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// referenceDelivery mirrors Delivery's JSON shape with the fields written
// by referenceFields.
type referenceDelivery struct {
	ID      string          `json:"id"`
	EventID string          `json:"event_id"`
	Address string          `json:"address"`
	Trigger string          `json:"trigger"`
	Type    string          `json:"type"`
	Name    string          `json:"name"`
	Attempt int             `json:"attempt"`
	Fields  json.RawMessage `json:"fields"`
}

// Stored deliveries are written by the appenders; they must be the bytes
// encoding/json wrote, which every stored delivery was until now.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := "<b>&amp;</b> \"quoted\" \\ \b\f\n\r\t\x00\x1f\x7f é 😀 \u2028\u2029 \xff\xfe bad \xe2\x82"
	deliveries := []Delivery{
		{},
		{ID: "dlv_1", EventID: "ev-" + odd, Address: "t.http.crm", Trigger: "t", Type: "http", Name: "crm", Attempt: 12,
			Fields: Fields{
				{Name: "url", Value: Value{Text: Text{{Lit: "https://x.example/?a=1&b=<2>"}}}},
				{Name: "body", Value: Value{Text: Text{{Lit: odd, Ev: true}, {Env: "SECRET_KEY"}, {}, {Lit: "x", Env: "Y", Ev: true}}}},
				{Name: "empty", Value: Value{Text: Text{}}},
				{Name: "none", Value: Value{}},
				{Name: "to", Value: Value{List: []Text{{{Lit: "a@x"}}, nil, {}, {{Env: "TO"}}}}},
				{Name: "no list", Value: Value{List: []Text{}}},
				{Name: "headers", Value: Value{Map: []Header{{Name: "X-" + odd, Value: Text{{Lit: "v", Ev: true}}}, {Name: "Nil"}}}},
				{Name: "no map", Value: Value{Map: []Header{}}},
				{Name: odd, Value: Value{Text: Text{{Lit: "\u2028"}}}},
			}},
		{Attempt: -3, Fields: Fields{}},
	}
	for i, d := range deliveries {
		want, err := json.Marshal(referenceDelivery{ID: d.ID, EventID: d.EventID, Address: d.Address, Trigger: d.Trigger,
			Type: d.Type, Name: d.Name, Attempt: d.Attempt, Fields: referenceFields(t, d.Fields)})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.AppendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("delivery %d:\n got %s\nwant prefix%s", i, got, want)
		}
		if got, _ := json.Marshal(&d); !bytes.Equal(got, want) {
			t.Errorf("delivery %d through json.Marshal:\n got %s\nwant %s", i, got, want)
		}
		var back Delivery
		if err := json.Unmarshal(d.AppendJSON(nil), &back); err != nil {
			t.Fatalf("delivery %d does not read back: %v", i, err)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\x00\b\f\n\r\t\"\\", "\u2028\u2029", "\xff", "é😀", "\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}
