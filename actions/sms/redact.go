package sms

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/hookline/hookline/actions"
)

// redactor removes secret values from text bound for an Outcome or a log.
// Twilio's replies echo the recipient and the body, and a misbehaving
// endpoint may echo the whole request, so every value an attempt resolved
// is removed both verbatim and in the encodings a reply is likely to use.
type redactor struct {
	secrets []string
	r       *strings.Replacer
}

func newRedactor(accountSID, authToken string) *redactor {
	r := &redactor{}
	r.add(authToken)
	// The Authorization header, should an endpoint echo headers.
	r.add(base64.StdEncoding.EncodeToString([]byte(accountSID + ":" + authToken)))
	return r
}

// addText registers the value of every env() reference in t. Literal parts
// are not secret and stay readable.
func (r *redactor) addText(t actions.Text, env actions.EnvFunc) {
	for _, p := range t {
		if p.Env == "" {
			continue
		}
		if v, ok := env(p.Env); ok {
			r.add(v)
		}
	}
}

func (r *redactor) add(v string) {
	if v == "" {
		return
	}
	forms := []string{v, url.QueryEscape(v), url.PathEscape(v), jsonEscape(v, false), jsonEscape(v, true)}
	if rest, ok := strings.CutPrefix(v, "+"); ok && len(rest) >= 4 {
		forms = append(forms, rest) // a phone number shown without its +
	}
	for _, f := range forms {
		if f != "" && !slices.Contains(r.secrets, f) {
			r.secrets = append(r.secrets, f)
		}
	}
	r.r = nil
}

func (r *redactor) clean(s string) string {
	if s == "" || len(r.secrets) == 0 {
		return s
	}
	if r.r == nil {
		// Longest first, so that a secret containing another is removed
		// whole rather than leaving its remainder behind.
		slices.SortStableFunc(r.secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
		pairs := make([]string, 0, 2*len(r.secrets))
		for _, s := range r.secrets {
			pairs = append(pairs, s, "(sensitive)")
		}
		r.r = strings.NewReplacer(pairs...)
	}
	return r.r.Replace(s)
}

// jsonEscape is v as it appears inside a JSON string: with Go's escaping of
// <, > and &, or, when ascii is set, with every non-ASCII character as \uXXXX
// as Python and many other encoders write it.
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
