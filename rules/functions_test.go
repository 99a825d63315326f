package rules

import (
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
	st := newSecretTokens()
	key := st.ref("CRM_API_KEY").AsString()
	tok := st.ref("TOKEN").AsString()
	text, err := st.text("Bearer "+tok+" and "+strings.ToUpper(key)+"!", true)
	if err != nil {
		t.Fatal(err)
	}
	want := actions.Text{{Lit: "Bearer "}, {Env: "TOKEN"}, {Lit: " and "}, {Env: "CRM_API_KEY"}, {Lit: "!"}}
	if len(text) != len(want) {
		t.Fatalf("got %#v, want %#v", text, want)
	}
	for i := range want {
		if text[i] != want[i] {
			t.Fatalf("part %d: got %#v, want %#v", i, text[i], want[i])
		}
	}
	if got := text.Redacted(); got != "Bearer (sensitive) and (sensitive)!" {
		t.Errorf("Redacted = %q", got)
	}
	// A token cut by substr() cannot be resolved and must not pass silently.
	if _, err := st.text(tok[:len(tok)-2], true); err == nil {
		t.Error("cut token: want an error")
	}
	if _, err := st.text("transformed", true); err == nil {
		t.Error("sensitive value without a token: want an error")
	}
	// Another rule set's tokens (another nonce) are plain text here: event
	// data cannot forge a reference to a secret.
	other := newSecretTokens()
	forged := other.ref("CRM_API_KEY").AsString()
	text, err = st.text(forged, false)
	if err != nil || text.Sensitive() {
		t.Errorf("forged token resolved as a secret: %#v, %v", text, err)
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
