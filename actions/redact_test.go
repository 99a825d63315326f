package actions

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"strconv"
	"strings"
	"testing"
)

func TestRedactorZeroValue(t *testing.T) {
	t.Parallel()
	var r Redactor
	r.Add("")
	if got := r.Redact("nothing (sensitive) here"); got != "nothing (sensitive) here" {
		t.Errorf("Redact = %q", got)
	}
	if n := r.Longest(); n != 0 {
		t.Errorf("Longest = %d, want 0", n)
	}
}

func TestRedactorLongestFirst(t *testing.T) {
	t.Parallel()
	r := NewRedactor("tok", base64.StdEncoding.EncodeToString([]byte("AC1:tok")))
	r.Add("abc")
	r.Add("abcdef")
	if got := r.Redact("x abcdef y abc z"); got != "x (sensitive) y (sensitive) z" {
		t.Errorf("Redact = %q", got)
	}
	r.Add("Zq9 ö&<") // added after a Redact: the forms must be rebuilt
	for in, want := range map[string]string{
		`a Zq9 ö&< b`:                   `a (sensitive) b`,
		`a Zq9+%C3%B6%26%3C b`:          `a (sensitive) b`,
		`a Zq9%20%C3%B6&%3C b`:          `a (sensitive) b`,
		`a Zq9 ö\u0026\u003c b`:         `a (sensitive) b`,
		`a Zq9 \u00f6&< b`:              `a (sensitive) b`,
		`a "Zq9 \u00f6&<" b`:            `a "(sensitive)" b`,
		"secret tok, auth QUMxOnRvaw==": "secret (sensitive), auth (sensitive)",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRedactorForms checks each encoding that one of the executors met in a
// peer's answer.
func TestRedactorForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, secret, in, want string
	}{
		{"raw", "tok-5ecret", "x tok-5ecret y", "x (sensitive) y"},
		{"query-escaped", "a b&c", "x a+b%26c y", "x (sensitive) y"},
		{"path-escaped", "a b/c", "x a%20b%2Fc y", "x (sensitive) y"},
		{"JSON as Go writes it", `p@ss<w&rd>"q`, `x p@ss\u003cw\u0026rd\u003e\"q y`, "x (sensitive) y"},
		{"JSON \\b and \\f, Go 1.22 on", "a\bb\fc", `x a\bb\fc y`, "x (sensitive) y"},
		{"JSON \\b and \\f, Go before 1.22", "a\bb\fc", `x a\u0008b\u000cc y`, "x (sensitive) y"},
		{"ASCII-only JSON with a surrogate pair", "a🚚b", `x a\ud83d\ude9ab y`, "x (sensitive) y"},
		{"Go-quoted", "a\x7fb\u00e9", `x a\x7fbé y`, "x (sensitive) y"},
		{"trimmed", "  Ops <ops@example.com>\n", "no such user Ops <ops@example.com>.", "no such user (sensitive)."},
		{"phone without its +", "+15558675309", "x 15558675309 y", "x (sensitive) y"},
		{"other case", "oncall+Sekr1tTag@private.example.com", "550 no such user ONCALL+SEKR1TTAG@PRIVATE.EXAMPLE.COM", "550 no such user (sensitive)"},
		{"case folding beyond ASCII", "Straße-Kilo", "x STRAßE-\u212Ailo y", "x (sensitive) y"},
		{"not UTF-8", "a\xffb", "x a\xffb y", "x (sensitive) y"},
	} {
		if got := NewRedactor(tc.secret).Redact(tc.in); got != tc.want {
			t.Errorf("%s: Redact(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestRedactorOverlap(t *testing.T) {
	t.Parallel()
	r := NewRedactor("abc", "bcdef", "aa")
	for in, want := range map[string]string{
		"x abcdef y":  "x (sensitive) y", // neither secret's remainder is left
		"x aabcdef":   "x (sensitive)",   // a chain of three
		"x abc bcdef": "x (sensitive) (sensitive)",
		"abcabc":      "(sensitive)(sensitive)", // adjacent, not overlapping
		"aaa":         "(sensitive)",
		"ABCDEF!":     "(sensitive)!",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactorAddText(t *testing.T) {
	t.Parallel()
	env := func(name string) (string, bool) {
		v, ok := map[string]string{"A": "alpha-secret", "EMPTY": ""}[name]
		return v, ok
	}
	var r Redactor
	r.AddText(Text{{Lit: "literal "}, {Env: "A"}, {Env: "EMPTY"}, {Env: "UNSET"}}, env)
	if got := r.Redact("literal alpha-secret"); got != "literal (sensitive)" {
		t.Errorf("Redact = %q", got)
	}
	if n, want := r.Longest(), NewRedactor("alpha-secret").Longest(); n != want {
		t.Errorf("Longest = %d, want %d, as for alpha-secret alone", n, want)
	}
}

func TestRedactNoMatchDoesNotAllocate(t *testing.T) {
	r := NewRedactor("t0ken-value", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	r.Redact("warm up")
	s := strings.Repeat(`{"ok":true,"token":"t0ken-valu"} `, 100)
	if n := testing.AllocsPerRun(10, func() { r.Redact(s) }); n != 0 {
		t.Errorf("Redact allocated %v times", n)
	}
}

func BenchmarkRedact(b *testing.B) {
	r := NewRedactor("t0ken-value", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", `p@ss<w&rd>"q`)
	s := strings.Repeat("the quick brown fox jumps over the lazy dog; ", ResponseLimit/45)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		r.Redact(s)
	}
}

// TestRedactorEncodings checks the encodings a peer may echo a secret in
// besides the textual escapes: base64 (standard and URL-safe, padded or
// not, alone or inside a larger encoded blob), hex and HTML character
// references.
func TestRedactorEncodings(t *testing.T) {
	t.Parallel()
	const secret = `s3cr?t>&"'~~~ü-value` // ?, > and ~ make std and URL base64 differ
	b64 := func(enc *base64.Encoding, s string) string { return enc.EncodeToString([]byte(s)) }
	raw := func(enc *base64.Encoding) *base64.Encoding { return enc.WithPadding(base64.NoPadding) }
	blob := func(enc *base64.Encoding, prefix string) string {
		return b64(enc, prefix+secret+`","other":"data"}`)
	}
	for _, tc := range []struct {
		name, echo string
	}{
		{"base64 std", b64(base64.StdEncoding, secret)},
		{"base64 std unpadded", b64(raw(base64.StdEncoding), secret)},
		{"base64 url", b64(base64.URLEncoding, secret)},
		{"base64 url unpadded", b64(raw(base64.URLEncoding), secret)},
		{"hex lower", hex.EncodeToString([]byte(secret))},
		{"hex upper", strings.ToUpper(hex.EncodeToString([]byte(secret)))},
		{"HTML, specials named", html.EscapeString(secret)},
		{"HTML, Python's escaper", strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#x27;").Replace(secret)},
		{"HTML, every character decimal", decimalRefs(secret)},
		{"HTML, every character hex", hexRefs(secret, "&#x%X;")},
		{"HTML, every character hex lower-case", hexRefs(secret, "&#x%x;")},
	} {
		got := NewRedactor(secret).Redact("peer said: " + tc.echo + " (end)")
		if got != "peer said: (sensitive) (end)" {
			t.Errorf("%s: Redact(%q) = %q", tc.name, tc.echo, got)
		}
	}
	// Inside a larger blob, each of the three alignments: only characters
	// that mix the secret's bits with its neighbours' may stay.
	for _, prefix := range []string{`{"k":"`, `{"ke":"`, `{"key":"`} {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			in := blob(enc, prefix)
			got := NewRedactor(secret).Redact(in)
			if !strings.Contains(got, Redaction) {
				t.Errorf("blob with prefix %q: Redact(%q) = %q, nothing hidden", prefix, in, got)
				continue
			}
			if left := len(got) - len(Redaction) - (len(in) - len(b64(raw(enc), secret))); left > 4 {
				t.Errorf("blob with prefix %q: %d characters of the secret's encoding left: %q", prefix, left, got)
			}
		}
	}

	// A Basic credential: the password's base64 shifts with the user name.
	r := &Redactor{}
	r.AddBasicAuth("AC0123", "tok-5ecret")
	basic := b64(base64.StdEncoding, "AC0123:tok-5ecret")
	if got := r.Redact("Authorization: Basic " + basic); got != "Authorization: Basic (sensitive)" {
		t.Errorf("Redact(Basic) = %q", got)
	}
	if got := r.Redact("user AC0123"); got != "user AC0123" {
		t.Errorf("the user name alone was hidden: %q", got)
	}

	// Short encoded forms would hide unrelated text; the secret itself is
	// still hidden.
	short := NewRedactor("pin")
	if got := short.Redact("x 70696e cGlu pin"); got != "x 70696e cGlu (sensitive)" {
		t.Errorf("short secret: %q", got)
	}
	// A literal & in a secret matches both as it is and as &amp;.
	amp := NewRedactor("a&amp;b")
	for _, in := range []string{"a&amp;b", "a&amp;amp;b", "a&#38;amp;b"} {
		if got := amp.Redact("x " + in + " y"); got != "x (sensitive) y" {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
	// References that are not whole stay as they are.
	if got := NewRedactor("<tag>").Redact("&lt tag &#60 &#x; &#99999999999; &#x3c;tag&#x3E;"); got != "&lt tag &#60 &#x; &#99999999999; (sensitive)" {
		t.Errorf("malformed references: %q", got)
	}
}

func TestRedactorLongestCoversReferences(t *testing.T) {
	t.Parallel()
	r := NewRedactor("abc")
	if n, want := r.Longest(), len(decimalRefs("abc")); n < want {
		t.Errorf("Longest = %d, want at least %d (the secret as decimal references)", n, want)
	}
}

func decimalRefs(s string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, "&#%d;", c)
	}
	return b.String()
}

func hexRefs(s, format string) string {
	var b strings.Builder
	for _, c := range s {
		fmt.Fprintf(&b, format, c)
	}
	return b.String()
}

func TestDigitsMatchesStrconv(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 15, 16, 99, 100, 255, 256, 4095, 4096, 65535, 65536, 0x10FFFF} {
		for _, base := range []int{10, 16} {
			if got, want := digits(n, base), len(strconv.FormatInt(int64(n), base)); got != want {
				t.Errorf("digits(%d, %d) = %d, want %d", n, base, got, want)
			}
		}
	}
}
