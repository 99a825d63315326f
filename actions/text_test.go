package actions

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, s   string
		multiline bool
		want      string // "" means accepted
	}{
		{"plain", "Ann cancelled, 9:00 AM — à bientôt 🚚", false, ""},
		{"body keeps newlines and tabs", "line 1\r\nline 2\n\tindented", true, ""},
		{"directional marks", "\u200fשלום\u200e 12 \u061c", false, ""},
		{"joiners", "👩\u200d💻 \ufeff", false, ""},
		{"line separator in a body", "a\u2028b", true, ""},
		{"NUL", "can\x00cel", true, "contains U+0000 (a control character)"},
		{"BEL", "ring\a", true, "contains U+0007 (a control character)"},
		{"ESC", "\x1b[31mred", true, "contains U+001B (a control character)"},
		{"DEL", "a\x7fb", true, "contains U+007F (a control character)"},
		{"C1 CSI", "a\u009b31mb", true, "contains U+009B (a control character)"},
		{"LRE", "a\u202ab", true, "contains U+202A (a bidirectional control"},
		{"RLO", "Ann \u202elecnac", true, "contains U+202E (a bidirectional control"},
		{"LRI", "a\u2066b", true, "contains U+2066"},
		{"PDI", "a\u2069b", true, "contains U+2069"},
		{"tab in a line", "a\tb", false, "contains U+0009 (a tab or line break, in a single line)"},
		{"newline in a line", "a\nb", false, "contains U+000A"},
		{"line separator in a line", "a\u2029b", false, "contains U+2029 (a line or paragraph separator"},
		{"invalid UTF-8", "a\xffb", true, "is not valid UTF-8"},
	} {
		err := CheckText("sms body", tc.s, tc.multiline)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want accepted", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), "sms body "+tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
		if got := checkTextValue(tc.s, tc.multiline); (got == "") != (tc.want == "") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: Attr.Check says %q", tc.name, got)
		}
	}
}
