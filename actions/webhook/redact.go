package webhook

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hookline/hookline/actions"
)

// redacted replaces secret values in everything an attempt reports.
const redacted = "(sensitive)"

// resolver resolves Texts for one attempt and remembers the secret values it
// saw, so that they can be scrubbed from errors and from the peer's answer
// (a receiver that echoes its request would otherwise hand them back).
type resolver struct {
	env     actions.EnvFunc
	secrets []string

	forms   []string // secrets as they may appear, longest first
	longest int
	built   bool
}

func (r *resolver) resolve(what string, t actions.Text) (string, error) {
	s, err := t.Resolve(r.env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if t.Sensitive() {
		for _, p := range t {
			if p.Env != "" {
				v, _ := r.env(p.Env)
				r.secret(v)
			}
		}
	}
	return s, nil
}

// secret records a value to scrub that did not come through resolve.
func (r *resolver) secret(v string) {
	if v != "" {
		r.secrets = append(r.secrets, v)
	}
}

// redact replaces every recorded secret in s, in the encodings it is likely
// to come back in: raw, URL-escaped, and JSON- or Go-quoted.
func (r *resolver) redact(s string) string {
	r.compile()
	for _, f := range r.forms {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, redacted)
		}
	}
	return s
}

// compile computes the forms once per attempt. It avoids strings.Replacer,
// whose setup costs more than the scans it would save on a short answer.
func (r *resolver) compile() {
	if r.built {
		return
	}
	r.built = true
	for _, s := range r.secrets {
		// The escapers return s itself when there is nothing to escape.
		r.forms = append(r.forms, s, url.QueryEscape(s), url.PathEscape(s))
		if needsQuoting(s) {
			j, _ := json.Marshal(s)
			q := strconv.Quote(s)
			r.forms = append(r.forms, string(j[1:len(j)-1]), q[1:len(q)-1])
		}
	}
	// Longest first, so that a secret containing another is replaced whole
	// rather than leaving its remainder behind.
	slices.SortFunc(r.forms, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	r.forms = slices.Compact(r.forms)
	if len(r.forms) > 0 {
		r.longest = len(r.forms[0])
	}
}

// needsQuoting reports whether JSON or strconv.Quote would change s.
func needsQuoting(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			return true
		}
	}
	return false
}
