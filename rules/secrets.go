package rules

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/hookline/hookline/actions"
	"github.com/zclconf/go-cty/cty"
)

// Rendering carries env() references through templates and functions
// without ever holding a secret's value: at render time each env(NAME) call
// returns a fresh token "⟦<20 random digits>⟧" marked with a secretRef that
// records the token and the name; after rendering, secretText splits the
// tokens back out into actions.Text parts.
//
// Only tokens listed in the value's own marks are references. cty carries
// marks through every operation, so a value that no env() call contributed
// to has none, and whatever it holds (event data included) stays literal.
// A template that joins env() with event data is marked as a whole, which is
// why the token is new on every call: event data, fixed before rendering
// began, cannot hold the token of a call made while rendering it.
//
// The token is digits between two non-ASCII brackets, so upper(), lower(),
// title() and jsonencode() leave it intact.
const tokenOpen, tokenClose = "⟦", "⟧"

// tokenDigits is the length of a token's random part; cutDigits of them on
// either side of a cut are enough to recognise what is left of a token.
const tokenDigits, cutDigits = 20, 10

// secretRef marks a value derived from one env() call: the token that call
// produced and the variable it names. Marks are compared as map keys, so
// this is a comparable value type.
type secretRef struct {
	token string
	name  string
}

// secretValue returns a fresh token for an environment variable, marked
// with its reference.
func secretValue(name string) cty.Value {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken; nothing sensible to do
	}
	tok := fmt.Sprintf("%s%0*d%s", tokenOpen, tokenDigits, binary.LittleEndian.Uint64(b[:]), tokenClose)
	return cty.StringVal(tok).Mark(secretRef{token: tok, name: name})
}

// secretText splits a rendered string into literal and secret parts, given
// the marks cty put on it. Without a reference mark the string is literal,
// whatever it contains. With one, only the tokens of its own env() calls
// become references; if none is found intact, a function transformed the
// secret (substr, base64encode, ...) and the result cannot be resolved later.
func secretText(s string, marks cty.ValueMarks) (actions.Text, error) {
	var refs []secretRef
	sensitive := false
	for m := range marks {
		switch m := m.(type) {
		case secretRef:
			refs = append(refs, m)
		case sensitiveMark:
			sensitive = true
		}
	}
	if len(refs) == 0 {
		if sensitive {
			return nil, errTransformed
		}
		return actions.Literal(s), nil
	}
	var out actions.Text
	lit := 0 // start of the literal text not yet added
	for i := 0; ; {
		j := strings.Index(s[i:], tokenOpen)
		if j < 0 {
			break
		}
		i += j
		ref, ok := refAt(s[i:], refs)
		if !ok {
			i += len(tokenOpen)
			continue
		}
		if i > lit {
			out = append(out, actions.Part{Lit: s[lit:i]})
		}
		out = append(out, actions.Part{Env: ref.name})
		i += len(ref.token)
		lit = i
	}
	if lit < len(s) {
		out = append(out, actions.Part{Lit: s[lit:]})
	}
	if !out.Sensitive() {
		return nil, errTransformed
	}
	for _, p := range out {
		if p.Env == "" && holdsCutToken(p.Lit, refs) {
			return nil, fmt.Errorf("a value read with env() was cut by a function; env() values can only be inserted as they are")
		}
	}
	return out, nil
}

var errTransformed = fmt.Errorf("a value read with env() was transformed by a function; env() values can only be inserted as they are")

func refAt(s string, refs []secretRef) (secretRef, bool) {
	for _, r := range refs {
		if strings.HasPrefix(s, r.token) {
			return r, true
		}
	}
	return secretRef{}, false
}

// holdsCutToken reports whether literal text holds the start or the end of
// one of refs' tokens: what substr() leaves of a secret.
func holdsCutToken(lit string, refs []secretRef) bool {
	for _, r := range refs {
		head := r.token[:len(tokenOpen)+cutDigits]
		tail := r.token[len(r.token)-len(tokenClose)-cutDigits:]
		if strings.Contains(lit, head) || strings.Contains(lit, tail) {
			return true
		}
	}
	return false
}
