package actions

import (
	"cmp"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Redaction is what a Redactor leaves where a secret was; Text.Redacted shows
// the same marker for an env() reference.
const Redaction = "(sensitive)"

// Redactor hides secret values in what an attempt reports: Outcome.Error,
// Outcome.Response and log lines. Peers echo what they were sent, and seldom
// verbatim: a receiver dumps its request as JSON, Twilio quotes the form it
// got, an SMTP server lower-cases the address it refuses, a debugging
// endpoint shows headers base64- or hex-encoded or inside an HTML page. So
// every value is also hidden in the encodings it is likely to come back in
// (see appendForms), HTML character references are decoded while matching,
// and matching ignores case.
//
// The zero value hides nothing and is ready to use; RedactorCache.New
// makes one that shares what it builds with others hiding the same values.
// A Redactor belongs to one attempt and is not safe for concurrent use.
type Redactor struct {
	secrets []string
	cache   *RedactorCache
	// Built on first use after the last Add, so that an attempt that
	// reports nothing pays nothing; never changed once built, so that
	// Redactors with the same secrets can share it.
	t *redactTables
}

type redactTables struct {
	longest int
	// leads[byFirst[b].lo:byFirst[b].hi] are the forms that may match from
	// a byte b: those whose first byte is b in one of its cases.
	leads   []lead
	byFirst [256]struct{ lo, hi uint32 }
}

// NewRedactor returns a Redactor that hides values.
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	r.Add(values...)
	return r
}

// Add registers more values to hide. Empty ones are ignored.
func (r *Redactor) Add(values ...string) {
	for _, v := range values {
		if v != "" && !slices.Contains(r.secrets, v) {
			r.secrets = append(r.secrets, v)
			r.t = nil
		}
	}
}

// AddBasicAuth registers the password of an HTTP Basic or SMTP credential
// and the user:password pair, whose base64 is what the Authorization header
// carries: base64 of the pair does not contain base64 of the password alone,
// because the user name shifts its alignment.
func (r *Redactor) AddBasicAuth(user, password string) {
	if user == "" && password == "" {
		return
	}
	r.Add(password, user+":"+password)
}

// AddText registers the value of every env() reference in t. Literal parts
// are not secret and stay readable; a variable that is not set has no value
// to hide, and resolving t reports it.
//
// Executors call it before resolving, so that even an error about a value
// itself cannot show it.
func (r *Redactor) AddText(t Text, env EnvFunc) {
	for _, p := range t {
		if p.Env == "" {
			continue
		}
		if v, ok := env(p.Env); ok {
			r.Add(v)
		}
	}
}

// Longest is the length in bytes of the longest form Redact looks for,
// written with HTML character references. A reader that keeps only the start
// of a stream reads this much further, so that a secret straddling the cut
// is still whole when it is hidden.
func (r *Redactor) Longest() int {
	return r.build().longest
}

// Redact returns s with every registered value, in any of its forms,
// replaced by Redaction. Where matches overlap, the whole overlapping run
// becomes one marker: hiding only the longer of two secrets that share
// characters could leave the rest of the other readable.
func (r *Redactor) Redact(s string) string {
	if s == "" || len(r.secrets) == 0 {
		return s
	}
	t := r.build()
	var b strings.Builder
	copied := 0          // s[:copied] is in b already
	start, end := -1, -1 // the run being hidden, not yet written
	for i := 0; i < len(s); i++ {
		at := t.byFirst[s[i]]
		if at.lo == at.hi {
			continue
		}
		n := 0
		for _, l := range t.leads[at.lo:at.hi] {
			if m, ok := hasPrefixFold(s[i:], l.form); ok && m > n {
				n = m
			}
		}
		if n == 0 {
			continue
		}
		if i < end {
			end = max(end, i+n)
			continue
		}
		if start >= 0 {
			b.WriteString(s[copied:start])
			b.WriteString(Redaction)
			copied = end
		}
		start, end = i, i+n
	}
	if start < 0 {
		return s
	}
	b.WriteString(s[copied:start])
	b.WriteString(Redaction)
	b.WriteString(s[end:])
	return b.String()
}

// build returns the tables of r's secrets, made once after the last Add or
// taken from r's cache.
func (r *Redactor) build() *redactTables {
	if r.t == nil {
		if r.cache != nil {
			r.t = r.cache.tables(r.secrets)
		} else {
			r.t = newRedactTables(r.secrets)
		}
	}
	return r.t
}

// newRedactTables computes the forms of every secret. It avoids
// strings.Replacer and regexp, whose setup costs more than the scans they
// would save on the short answers most attempts get.
func newRedactTables(secrets []string) *redactTables {
	t := &redactTables{}
	forms := make([]string, 0, 16*len(secrets))
	for _, s := range secrets {
		forms = appendForms(forms, s)
	}
	t.leads = make([]lead, 0, 3*len(forms))
	for _, f := range forms {
		if f == "" {
			continue
		}
		t.longest = max(t.longest, len(f), referencesLen(f))
		// Any form may start with a character reference.
		t.leads = append(t.leads, lead{'&', f})
		c, size := utf8.DecodeRuneInString(f)
		if c == utf8.RuneError && size == 1 {
			t.leads = append(t.leads, lead{f[0], f})
			continue
		}
		for k := c; ; {
			var enc [utf8.UTFMax]byte
			utf8.EncodeRune(enc[:], k)
			t.leads = append(t.leads, lead{enc[0], f})
			if k = unicode.SimpleFold(k); k == c {
				break
			}
		}
	}
	slices.SortFunc(t.leads, func(a, b lead) int {
		return cmp.Or(cmp.Compare(a.b, b.b), strings.Compare(a.form, b.form))
	})
	t.leads = slices.Compact(t.leads)
	for i, l := range t.leads {
		at := &t.byFirst[l.b]
		if at.lo == at.hi {
			at.lo = uint32(i)
		}
		at.hi = uint32(i + 1)
	}
	return t
}

// lead files a form under one of the bytes it may start with.
type lead struct {
	b    byte
	form string
}

// appendForms appends v as a peer may send it back: as it is and trimmed of
// surrounding space, URL-escaped (query and path), inside a JSON string as
// Go writes it (with or without \b and \f, which Go wrote as \u0008 and
// \u000c before 1.22) and as Python and other ASCII-only encoders write it,
// inside a Go-quoted string, for a phone number without its +, and encoded
// (see appendEncoded). HTML character references need no forms of their
// own: hasPrefixFold decodes them.
func appendForms(forms []string, v string) []string {
	for _, s := range []string{v, strings.TrimSpace(v)} {
		// The escapers return s itself when there is nothing to escape.
		forms = append(forms, s, url.QueryEscape(s), url.PathEscape(s))
		if rest, ok := strings.CutPrefix(s, "+"); ok && len(rest) >= 4 {
			forms = append(forms, rest)
		}
		if needsQuoting(s) {
			j, _ := json.Marshal(s)
			q := strconv.Quote(s)
			forms = append(forms, string(j[1:len(j)-1]), q[1:len(q)-1], jsonEscape(s, false), jsonEscape(s, true))
		}
		forms = appendEncoded(forms, s)
	}
	return forms
}

// minEncoded is the length below which an encoded form is not looked for:
// a few base64 or hex characters occur by chance in any answer, and hiding
// them would mangle it while protecting a secret too short to matter.
const minEncoded = 8

// appendEncoded appends s in hex (matching ignores case, so upper-case hex
// is covered) and in base64, standard and URL-safe, padded and not.
//
// Base64 works on groups of three bytes, so a secret inside a larger
// encoded blob (a JSON body, a user:password pair) is encoded differently
// depending on its offset modulo 3, and the characters at its edges mix its
// bits with its neighbours'. For each of the three alignments the characters
// that depend on the secret alone are a fixed string, which is looked for
// too: inside a blob, the secret is hidden except for at most two characters
// at each end, which carry a few bits of its first and last bytes mixed with
// other data.
func appendEncoded(forms []string, s string) []string {
	add := func(f string) {
		if len(f) >= minEncoded {
			forms = append(forms, f)
		}
	}
	add(hex.EncodeToString([]byte(s)))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(s)))
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(s)))
		for k := range 3 {
			b := make([]byte, k+len(s))
			copy(b[k:], s)
			e := raw.EncodeToString(b)
			// Characters [ceil(8k/6), floor(8(k+n)/6)) hold bits of s only.
			if lo, hi := (8*k+5)/6, 8*len(b)/6; lo < hi {
				add(e[lo:hi])
			}
		}
	}
	return forms
}

// referencesLen bounds the length of f with every character written as an
// HTML character reference (&#NN;, &#xHH; or a named one).
func referencesLen(f string) int {
	n := 0
	for _, c := range f {
		n += max(6, digits(int(c), 10)+3, digits(int(c), 16)+4)
	}
	return n
}

// digits counts the digits of a non-negative n in base: what
// strconv.FormatInt would write, without building the string (this runs
// per character of every form of every secret, on every attempt).
func digits(n, base int) int {
	d := 1
	for n >= base {
		n /= base
		d++
	}
	return d
}

// needsQuoting reports whether any JSON or Go quoting would change s.
func needsQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			return true
		}
	}
	return false
}

// jsonEscape is v as it appears inside a JSON string: with Go's escaping of
// <, > and & and with other controls as \u00XX, or, when ascii is set, with
// every non-ASCII character as \uXXXX as Python and many other encoders
// write it.
func jsonEscape(v string, ascii bool) string {
	var b strings.Builder
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || (!ascii && (c == '<' || c == '>' || c == '&' || c == '\u2028' || c == '\u2029')):
			fmt.Fprintf(&b, `\u%04x`, c)
		case ascii && c > 0x7f:
			if c > 0xffff {
				hi, lo := utf16.EncodeRune(c)
				fmt.Fprintf(&b, `\u%04x\u%04x`, hi, lo)
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// hasPrefixFold reports whether s starts with f under Unicode simple case
// folding, as regexp's (?i) and strings.EqualFold match, and how many bytes
// of s that prefix takes: a folded character need not be as long as f's
// (K and the Kelvin sign), and an HTML character reference in s ("&lt;",
// "&#60;", "&#x3c;") matches the character it stands for, so a secret
// echoed inside an HTML page is found however its escaper wrote it. Bytes
// that are not UTF-8 match only themselves.
func hasPrefixFold(s, f string) (int, bool) {
	i := 0
	for j := 0; j < len(f); {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], f[j]
		if a == '&' {
			if c, n := reference(s[i:]); n > 0 {
				fc, nf := utf8.DecodeRuneInString(f[j:])
				if !(fc == utf8.RuneError && nf == 1) && equalFoldRune(c, fc) {
					if b != '&' {
						i += n
						j += nf
						continue
					}
					// f has a literal & here, which s may hold as "&amp;"
					// or as "&" followed by the rest of f: try both.
					if m, ok := hasPrefixFold(s[i+n:], f[j+nf:]); ok {
						return i + n + m, true
					}
				}
			}
		}
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if a != b && lowerASCII(a) != lowerASCII(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(s[i:])
		rb, nb := utf8.DecodeRuneInString(f[j:])
		if ra == utf8.RuneError && na == 1 || rb == utf8.RuneError && nb == 1 {
			if s[i:i+na] != f[j:j+nb] {
				return 0, false
			}
		} else if !equalFoldRune(ra, rb) {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

// reference decodes the HTML character reference at the start of s: a
// decimal or hexadecimal one, or a named one for the characters HTML
// escapers write by name (< > & " '). It returns the character and the
// length of the reference, or a length of 0.
func reference(s string) (rune, int) {
	if len(s) < 4 || s[0] != '&' {
		return 0, 0
	}
	if s[1] != '#' {
		for _, e := range namedReferences {
			if len(s) >= len(e.name) && strings.EqualFold(s[:len(e.name)], e.name) {
				return e.c, len(e.name)
			}
		}
		return 0, 0
	}
	i, base := 2, rune(10)
	if s[2] == 'x' || s[2] == 'X' {
		i, base = 3, 16
	}
	start := i
	var c rune
	for ; i < len(s) && i-start < 10; i++ {
		d := rune(-1)
		switch x := s[i]; {
		case '0' <= x && x <= '9':
			d = rune(x - '0')
		case base == 16 && 'a' <= lowerASCII(x) && lowerASCII(x) <= 'f':
			d = rune(lowerASCII(x)-'a') + 10
		}
		if d < 0 {
			break
		}
		if c = c*base + d; c > unicode.MaxRune {
			return 0, 0
		}
	}
	if i == start || i >= len(s) || s[i] != ';' {
		return 0, 0
	}
	return c, i + 1
}

var namedReferences = [...]struct {
	name string
	c    rune
}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for k := unicode.SimpleFold(a); k != a; k = unicode.SimpleFold(k) {
		if k == b {
			return true
		}
	}
	return false
}
