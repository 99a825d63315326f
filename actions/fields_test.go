package actions

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestFieldsJSONRoundTripKeepsOrderAndKinds(t *testing.T) {
	d := &Delivery{ID: "dlv_1", Type: "http", Address: "t.http.h", Fields: Fields{
		{Name: "method", Value: Value{Text: Literal("PUT")}},
		{Name: "url", Value: Value{Text: Text{{Lit: "https://x.example/?k="}, {Env: "KEY"}}}},
		{Name: "headers", Value: Value{Map: []Header{{Name: "A", Value: Literal("1")}, {Name: "B", Value: Text{{Env: "B"}}}}}},
		{Name: "to", Value: Value{List: []Text{Literal("a@example.com"), {{Env: "TO"}}}}},
		{Name: "body", Value: Value{Text: Literal(`{"name":"x"}`)}},
	}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	// Names of variables are stored, in the order the fields came.
	if !strings.Contains(string(b), `"fields":{"method":[{"lit":"PUT"}],"url":`) || !strings.Contains(string(b), `{"env":"KEY"}`) {
		t.Fatalf("stored as %s", b)
	}
	var back Delivery
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, d) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", back, *d)
	}
}

// Deliveries stored before Fields existed held their content under a key
// named after the type, with a few plain strings and a timeout in
// nanoseconds. A queued one must still run after an upgrade.
func TestDeliveryReadsTheShapeStoredBeforeFields(t *testing.T) {
	tests := []struct {
		stored string
		want   Fields
	}{
		{`{"id":"dlv_1","type":"http","http":{"method":"POST","url":[{"lit":"https://x.example/h"}],
			"headers":[{"name":"X-Key","value":[{"env":"K"}]}],"body":[{"lit":"{}"}],
			"content_type":"application/json","timeout":10000000000,"signing_secret":[{"env":"WH"}]}}`,
			Fields{
				{Name: "method", Value: Value{Text: Literal("POST")}},
				{Name: "url", Value: Value{Text: Literal("https://x.example/h")}},
				{Name: "headers", Value: Value{Map: []Header{{Name: "X-Key", Value: Text{{Env: "K"}}}}}},
				{Name: "body", Value: Value{Text: Literal("{}")}},
				{Name: "content_type", Value: Value{Text: Literal("application/json")}},
				{Name: "timeout", Value: Value{Text: Literal("10s")}},
				{Name: "signing_secret", Value: Value{Text: Text{{Env: "WH"}}}},
			}},
		{`{"id":"dlv_2","type":"sms","sms":{"to":[{"lit":"+15550100"}],"body":[{"lit":"hi"}],"status_callback":"https://cb.example/"}}`,
			Fields{
				{Name: "to", Value: Value{Text: Literal("+15550100")}},
				{Name: "body", Value: Value{Text: Literal("hi")}},
				{Name: "status_callback", Value: Value{Text: Literal("https://cb.example/")}},
			}},
		{`{"id":"dlv_3","type":"email","email":{"to":[[{"lit":"a@example.com"}],[{"env":"TO"}]],"subject":[{"lit":"S"}],"body":[{"lit":"B"}]}}`,
			Fields{
				{Name: "to", Value: Value{List: []Text{Literal("a@example.com"), {{Env: "TO"}}}}},
				{Name: "subject", Value: Value{Text: Literal("S")}},
				{Name: "body", Value: Value{Text: Literal("B")}},
			}},
	}
	for _, tt := range tests {
		var d Delivery
		if err := json.Unmarshal([]byte(tt.stored), &d); err != nil {
			t.Fatalf("%s: %v", tt.stored, err)
		}
		if !reflect.DeepEqual(d.Fields, tt.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", d.Type, d.Fields, tt.want)
		}
	}
}

func TestFieldsSetAndShown(t *testing.T) {
	var f Fields
	f.Set("to", Value{List: []Text{Literal("a@example.com"), {{Env: "TO"}}}})
	f.Set("subject", Value{Text: Literal("old")})
	f.Set("subject", Value{Text: Literal("new")})
	f.Set("cc", Value{})
	if len(f) != 2 || f.Text("subject").Redacted() != "new" {
		t.Fatalf("fields %#v", f)
	}
	d := Delivery{Fields: f}
	shown := d.Rendered()
	if !reflect.DeepEqual(shown["to"], []string{"a@example.com", Redaction}) || shown["subject"] != "new" {
		t.Errorf("rendered %v", shown)
	}
	f.Set("subject", Value{})
	if len(f) != 1 || f.Text("subject") != nil {
		t.Errorf("a zero value did not remove the field: %#v", f)
	}
}

func TestNewTypesRefusesClashes(t *testing.T) {
	newExec := func(Runtime) (Executor, error) { return nil, nil }
	a := &Type{Name: "a", New: newExec, Provider: &Provider{Block: "p"}}
	for _, tt := range []struct {
		types []*Type
		want  string
	}{
		{[]*Type{a, {Name: "a", New: newExec}}, `action type "a" is declared twice`},
		{[]*Type{a, {Name: "b", New: newExec, Provider: &Provider{Block: "p"}}}, `both use the provider block "p"`},
		{[]*Type{{Name: "Bad-Name", New: newExec}}, `action type name "Bad-Name"`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "enabled", Kind: Template}}}}, `attribute "enabled" is invalid or declared twice`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "x"}}}}, `attribute "x" has no kind`},
		{[]*Type{{Name: "c"}}, `has no New`},
		{[]*Type{{Name: "c", New: newExec, Provider: &Provider{Block: "Twilio!"}}}, `provider block name "Twilio!"`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "m", Kind: Choice}}}}, `a Choice needs Choices`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "m", Kind: Choice, Choices: []string{"a"}, Default: "b"}}}}, `default "b" is not one of its Choices`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "n", Kind: Number, Max: 5, Default: "9"}}}}, `default "9" is not a whole number from 0 to 5`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "d", Kind: Duration, Default: "soon"}}}}, `default "soon" is not a positive duration`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "b", Kind: TemplateList, EventDefault: true}}}}, `only a Template can default to the event`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "b", Kind: Template, Default: "x"}}}}, `only static kinds have a Default`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "h", Kind: Template, StaticKeys: true}}}}, `only a TemplateMap has keys to check`},
		{[]*Type{{Name: "c", New: newExec, Attrs: []Attr{{Name: "h", Kind: TemplateList, CheckKey: func(string) string { return "" }}}}}, `only a TemplateMap has keys to check`},
	} {
		if _, err := NewTypes(tt.types...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewTypes: %v, want %q", err, tt.want)
		}
	}
	ts, err := NewTypes(&Type{Name: "z", New: newExec}, a)
	if err != nil || !reflect.DeepEqual(ts.Names(), []string{"a", "z"}) || ts.ByProvider("p") != a || ts.Lookup("z") == nil {
		t.Fatalf("NewTypes: %v %v", ts, err)
	}
}

// TestMarkFromEvent: the engine marks what it rendered from the event; the
// mark is stored with the delivery, and a delivery stored without it reads
// as not from the event.
func TestMarkFromEvent(t *testing.T) {
	v := Value{
		Text: Text{{Lit: "a "}, {Env: "K"}},
		List: []Text{Literal("x@example.com"), {{Env: "TEAM"}}},
		Map:  []Header{{Name: "X", Value: Literal("1")}},
	}
	v.MarkFromEvent()
	want := Value{
		Text: Text{{Lit: "a ", Ev: true}, {Env: "K"}},
		List: []Text{{{Lit: "x@example.com", Ev: true}}, {{Env: "TEAM"}}},
		Map:  []Header{{Name: "X", Value: Text{{Lit: "1", Ev: true}}}},
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("marked %#v, want %#v", v, want)
	}
	if !v.Text.FromEvent() || !v.List[0].FromEvent() || v.List[1].FromEvent() || Literal("x").FromEvent() {
		t.Error("FromEvent disagrees with the marks")
	}
	f := Fields{{Name: "to", Value: Value{List: v.List}}}
	b, err := json.Marshal(f)
	if err != nil || string(b) != `{"to":[[{"lit":"x@example.com","ev":true}],[{"env":"TEAM"}]]}` {
		t.Fatalf("stored as %s (%v)", b, err)
	}
	var back Fields
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip: %#v (%v)", back, err)
	}
	if err := json.Unmarshal([]byte(`{"to":[[{"lit":"a@example.com, b@example.com"}]]}`), &back); err != nil || back.List("to")[0].FromEvent() {
		t.Errorf("a delivery stored without marks reads as from the event: %#v (%v)", back, err)
	}
}
