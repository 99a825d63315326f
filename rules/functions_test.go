package rules

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/zclconf/go-cty/cty"
)

func TestDateFunctions(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	fns := dateFunctions(ny)
	const ts = "2026-12-01T14:00:00Z" // 9:00 AM in New York
	tests := []struct {
		fn   string
		args []cty.Value
		want string
	}{
		{"date_phrase", []cty.Value{cty.StringVal(ts)}, "Tuesday, December 1"},
		{"time_phrase", []cty.Value{cty.StringVal(ts)}, "9:00 AM"},
		{"date_and_time_phrase", []cty.Value{cty.StringVal(ts)}, "Tuesday, December 1 at 9:00 AM"},
		{"day_and_time_phrase", []cty.Value{cty.StringVal(ts)}, "Tuesday at 9:00 AM"},
		{"date_with_year", []cty.Value{cty.StringVal(ts)}, "December 1, 2026"},
		{"short_date", []cty.Value{cty.StringVal(ts)}, "12/1/2026"},
		{"time_zone_abbr", []cty.Value{cty.StringVal(ts)}, "EST"},
		{"time_phrase", []cty.Value{cty.StringVal(ts), cty.StringVal("Europe/Paris")}, "3:00 PM"},
		{"date_phrase", []cty.Value{cty.StringVal("")}, ""}, // absent time: empty, like Apptoto
	}
	for _, tt := range tests {
		got, err := fns[tt.fn].Call(tt.args)
		if err != nil {
			t.Errorf("%s: %v", tt.fn, err)
			continue
		}
		if got.AsString() != tt.want {
			t.Errorf("%s(%v) = %q, want %q", tt.fn, tt.args, got.AsString(), tt.want)
		}
	}
	if _, err := fns["date_phrase"].Call([]cty.Value{cty.StringVal("tomorrow")}); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Errorf("bad time: want an RFC 3339 error, got %v", err)
	}
	if _, err := fns["date_phrase"].Call([]cty.Value{cty.StringVal(ts), cty.StringVal("Mars/Olympus")}); err == nil {
		t.Error("unknown zone: want an error")
	}
}

func TestCoalesceSkipsEmpty(t *testing.T) {
	t.Parallel()
	got, err := coalesceFunc.Call([]cty.Value{cty.StringVal(""), cty.NullVal(cty.String), cty.StringVal("x"), cty.StringVal("y")})
	if err != nil || got.AsString() != "x" {
		t.Fatalf("coalesce = %v, %v; want x", got, err)
	}
	if _, err := coalesceFunc.Call([]cty.Value{cty.StringVal("")}); err == nil {
		t.Fatal("all empty: want an error")
	}
}

func TestSecretTokensRoundTrip(t *testing.T) {
	t.Parallel()
	key := secretValue("CRM_API_KEY")
	tok := secretValue("TOKEN")
	raw := func(v cty.Value) string { s, _ := v.Unmark(); return s.AsString() }
	marks := cty.NewValueMarks(Sensitive)
	for _, v := range []cty.Value{key, tok} {
		_, m := v.Unmark()
		for mark := range m {
			marks[mark] = struct{}{}
		}
	}
	text, err := secretText("Bearer "+raw(tok)+" and "+strings.ToUpper(raw(key))+"!", marks)
	if err != nil {
		t.Fatal(err)
	}
	want := actions.Text{{Lit: "Bearer "}, {Env: "TOKEN"}, {Lit: " and "}, {Env: "CRM_API_KEY"}, {Lit: "!"}}
	if !slices.Equal(text, want) {
		t.Fatalf("got %#v, want %#v", text, want)
	}
	if got := text.Redacted(); got != "Bearer (sensitive) and (sensitive)!" {
		t.Errorf("Redacted = %q", got)
	}
	// A token cut by substr() cannot be resolved and must not pass silently,
	// whichever end was cut.
	if _, err := secretText(raw(tok)[:len(raw(tok))-2], marks); err == nil {
		t.Error("cut token: want an error")
	}
	if _, err := secretText(raw(key)+" "+raw(tok)[5:], marks); err == nil {
		t.Error("token cut at its start beside an intact one: want an error")
	}
	if _, err := secretText("transformed", marks); err == nil {
		t.Error("sensitive value without a token: want an error")
	}
	// Every call makes a new token, and only the tokens in a value's own
	// marks are references: an unmarked string, or another call's token in
	// a marked one, is literal text.
	if a, b := raw(secretValue("TOKEN")), raw(secretValue("TOKEN")); a == b {
		t.Errorf("two env() calls gave the same token %q", a)
	}
	text, err = secretText(raw(tok), nil)
	if err != nil || text.Sensitive() {
		t.Errorf("unmarked token resolved as a secret: %#v, %v", text, err)
	}
	_, keyMarks := key.Unmark()
	text, err = secretText(raw(key)+raw(tok), keyMarks)
	if want := (actions.Text{{Env: "CRM_API_KEY"}, {Lit: raw(tok)}}); err != nil || !slices.Equal(text, want) {
		t.Errorf("another call's token in a marked value: got %#v, %v; want %#v", text, err, want)
	}
}

func TestCelPosQuotedEscapes(t *testing.T) {
	t.Parallel()
	src := []byte(`when = "a == \"é\" && b"`)
	rng := rangeOf(src, `"a ==`)
	// CEL sees: a == "é" && b ; 'b' is at column 12 (0-based).
	got := celPos(src, rng, 1, 12)
	if want := strings.Index(string(src), "b\""); got.Byte != want {
		t.Fatalf("byte = %d, want %d", got.Byte, want)
	}
	if got.Column != 1+len([]rune(string(src[:got.Byte]))) {
		t.Fatalf("column = %d, want it to count characters, not bytes", got.Column)
	}
}
