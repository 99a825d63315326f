package actions

import (
	"fmt"
	"unicode/utf8"
)

// CheckText is the one policy for text a person reads: an SMS, an e-mail's
// subject, bodies and address names. It refuses the characters that make
// what a reader sees differ from what was rendered: C0 controls (NUL, BEL,
// ESC, ...), DEL and C1 controls, which terminals, gateways and mail
// clients act on or cut the text at, and the bidirectional embeddings,
// overrides and isolates (U+202A–U+202E, U+2066–U+2069), which reorder
// what follows them ("Trojan Source"). A body keeps TAB, LF and CR; a
// single line (multiline false) refuses them too, and U+2028 and U+2029,
// which some clients show as line breaks. The directional marks (U+200E,
// U+200F, U+061C) stay allowed: right-to-left writing needs them, and they
// cannot move text around.
//
// It fails rather than removes: what is sent is then exactly what the
// engine rendered, what filters matched and what eval and the run log show.
// Removing would send text nobody saw (a NUL inside "can\x00cel" defeats a
// filter's contains('cancel') and then reads "cancel"), and would hide that
// an event carried it. Executors make the failure permanent: the same
// delivery renders the same text on every retry.
//
// The error names the field and the character's code point, never the
// text, which may hold env() values.
func CheckText(field, s string, multiline bool) error {
	if msg := textProblem(s, multiline); msg != "" {
		return fmt.Errorf("%s %s", field, msg)
	}
	return nil
}

// CheckBody is CheckText as an Attr.Check, for literal text at validate
// time.
func CheckBody(s string) string { return checkTextValue(s, true) }

// CheckLine is CheckBody for a single line, such as a subject.
func CheckLine(s string) string { return checkTextValue(s, false) }

func checkTextValue(s string, multiline bool) string {
	if msg := textProblem(s, multiline); msg != "" {
		return "The text " + msg + "."
	}
	return ""
}

// textProblem describes the first character CheckText refuses, or is "".
func textProblem(s string, multiline bool) string {
	for i, c := range s {
		if c == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return "is not valid UTF-8"
			}
		}
		if what := refusedInText(c, multiline); what != "" {
			return fmt.Sprintf("contains U+%04X (%s); refusing to send text that would not read as it was written", c, what)
		}
	}
	return ""
}

func refusedInText(c rune, multiline bool) string {
	switch {
	case c == '\t' || c == '\n' || c == '\r':
		if multiline {
			return ""
		}
		return "a tab or line break, in a single line"
	case c < 0x20 || c == 0x7f || 0x80 <= c && c <= 0x9f:
		return "a control character"
	case 0x202a <= c && c <= 0x202e || 0x2066 <= c && c <= 0x2069:
		return "a bidirectional control, which can reorder the text around it"
	case (c == 0x2028 || c == 0x2029) && !multiline:
		return "a line or paragraph separator, in a single line"
	}
	return ""
}
