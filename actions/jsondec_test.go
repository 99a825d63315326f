package actions

import (
	"encoding/json"
	"reflect"
	"testing"
)

// sampleDeliveries are stored deliveries of every shape AppendJSON writes.
func sampleDeliveries() []*Delivery {
	return []*Delivery{
		{ID: "dlv_1", EventID: "evt_1", Address: "t.http.h", Trigger: "t", Type: "http", Name: "h", Attempt: 1, Fields: Fields{
			{Name: "method", Value: Value{Text: Literal("PUT")}},
			{Name: "url", Value: Value{Text: Text{{Lit: "https://x.example/?k="}, {Env: "KEY"}}}},
			{Name: "headers", Value: Value{Map: []Header{{Name: "A", Value: Literal("1")}, {Name: "B", Value: Text{{Env: "B"}}}, {Name: "C"}}}},
			{Name: "body", Value: Value{Text: Text{{Lit: "{\"name\":\"Zoë <z@example.com>\"}\n\t\u2028 \x01 \U0001F600", Ev: true}}}},
		}},
		{ID: "dlv_2", Type: "email", Fields: Fields{
			{Name: "to", Value: Value{List: []Text{Literal("a@example.com"), {{Env: "TO"}}, nil, {}}}},
			{Name: "subject", Value: Value{Text: Text{{Lit: "S", Ev: true}, {}}}},
		}},
		{ID: "dlv_3", Type: "sms", Attempt: -3},
	}
}

// The fast reader and encoding/json read every shape AppendJSON writes to
// the same delivery, and the fast reader is the one that read it.
func TestDecodeDeliveryReadsWhatAppendJSONWrites(t *testing.T) {
	for _, d := range sampleDeliveries() {
		b := d.AppendJSON(nil)
		var fast, ref Delivery
		if !decodeDelivery(string(b), &fast) {
			t.Fatalf("the fast reader refused %s", b)
		}
		if err := ref.unmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%s:\nfast %#v\n ref %#v", b, fast, ref)
		}
		var back Delivery
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, fast) {
			t.Fatalf("json.Unmarshal: %v, %#v", err, back)
		}
	}
}

// What the fast reader does not know it leaves to encoding/json, which
// reads it as before.
func TestDecodeDeliveryLeavesTheRestToEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{"id":"dlv_1","type":"sms","sms":{"to":[{"lit":"+15550100"}]}}`, // before Fields
		`{"ID":"dlv_1","fields":{}}`,                                     // a key in another case
		`{"id":"dlv_1","id":"dlv_2","fields":{}}`,                        // a key twice
		`{"id":"dlv_1","fields":{"to":"a","to":"b"}}`,                    // a field twice
		`{"id":"dlv_1","extra":1,"fields":{}}`,                           // a key it does not know
		`{"id":"dlv_1","fields":{"timeout":10000000000}}`,                // a timeout in nanoseconds
		`{"id":"dlv_1","fields":{"h":[{"name":"a","lit":"x"}]}}`,
		`{"id":"dlv_1","fields":{}} x`,
		`{"id":"\ud800","fields":{}}`,
	} {
		var ref Delivery
		refErr := ref.unmarshalJSON([]byte(in))
		var got Delivery
		err := json.Unmarshal([]byte(in), &got)
		if (err == nil) != (refErr == nil) || !reflect.DeepEqual(got, ref) {
			t.Errorf("%s: got %#v, %v; want %#v, %v", in, got, err, ref, refErr)
		}
	}
}

func FuzzDecodeDeliveryMatchesEncodingJSON(f *testing.F) {
	for _, d := range sampleDeliveries() {
		f.Add(d.AppendJSON(nil))
	}
	f.Add([]byte(`{"id":"a\ud83d\ude00\udc00b\u00e9","fields":{"x":[[],null,[{"ev":false}]],"y":0,"z":-12,"h":[{"value":null,"name":"n"}]}}`))
	f.Add([]byte(`{"fields":{"a":[{"value":[]}],"b":[{}],"c":"\u003c\/"}, "attempt": 007}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Delivery
		if !decodeDelivery(string(b), &fast) {
			return
		}
		var ref Delivery
		if err := ref.unmarshalJSON(b); err != nil {
			t.Fatalf("the fast reader took what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nfast %#v\n ref %#v", b, fast, ref)
		}
	})
}

func FuzzDecodeFieldsMatchesEncodingJSON(f *testing.F) {
	for _, d := range sampleDeliveries() {
		f.Add(d.Fields.appendJSON(nil))
	}
	f.Add([]byte(`{"a":[{"name":"x","value":[{"lit":"\u0000"}]}],"b":"\xff\xfe","c":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := jsonReader{b: string(b)}
		var fast Fields
		if !r.fields(&fast) || !r.end() {
			return
		}
		var ref Fields
		if err := ref.unmarshalJSON(b); err != nil {
			t.Fatalf("the fast reader took what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\nfast %#v\n ref %#v", b, fast, ref)
		}
	})
}

// BenchmarkDecodeDelivery reads a stored webhook delivery back, as the
// store does for every spilled first attempt and every River job.
func BenchmarkDecodeDelivery(b *testing.B) {
	d := sampleDeliveries()[0]
	d.Fields.Set("body", Value{Text: Literal(`{"type":"appointment.confirmed","data":{"appointment":{"id":"apt_1","start_time":"2026-12-04T10:00:00Z","title":"Cleaning","location":"Main St <3>"},"participant":{"name":"Zoë Example","phone":"+15550100","email":"zoe@example.com"}}}`)})
	stored := d.AppendJSON(nil)
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			var got Delivery
			if err := json.Unmarshal(stored, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			var got Delivery
			if err := got.UnmarshalString(string(stored)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(stored)))
		for b.Loop() {
			var got Delivery
			if err := got.unmarshalJSON(stored); err != nil {
				b.Fatal(err)
			}
		}
	})
}
