package rules

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/hookline/hookline/actions"
	"github.com/zclconf/go-cty/cty"
)

// secretTokens lets rendering carry env() references through templates and
// functions without ever holding a secret's value. At render time env(NAME)
// returns a token "⟦<nonce>#<n>⟧" that names the variable by index; after
// rendering, Text splits the tokens back out into actions.Text parts.
//
// The token uses only digits between two non-ASCII brackets, so upper(),
// lower(), title() and jsonencode() leave it intact. The nonce is random per
// loaded rule set, so event data cannot forge a reference to a secret.
type secretTokens struct {
	prefix string
	names  []string
	index  map[string]int
}

const tokenOpen, tokenClose = "⟦", "⟧"

func newSecretTokens() *secretTokens {
	n, err := rand.Int(rand.Reader, big.NewInt(1e15))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // the platform is broken; nothing sensible to do
	}
	return &secretTokens{prefix: fmt.Sprintf("%s%015d#", tokenOpen, n), index: map[string]int{}}
}

// ref returns the token for an environment variable, registering it.
func (t *secretTokens) ref(name string) cty.Value {
	i, ok := t.index[name]
	if !ok {
		i = len(t.names)
		t.names = append(t.names, name)
		t.index[name] = i
	}
	return cty.StringVal(t.prefix + strconv.Itoa(i) + tokenClose)
}

// lookup is ref for names registered at load; rendering uses it so that the
// table stays read-only and safe to share between goroutines.
func (t *secretTokens) lookup(name string) cty.Value {
	i, ok := t.index[name]
	if !ok {
		// Unreachable: env() takes a literal name, and every literal name
		// was registered when the rules were loaded.
		return cty.UnknownVal(cty.String)
	}
	return cty.StringVal(t.prefix + strconv.Itoa(i) + tokenClose)
}

// text splits a rendered string into literal and secret parts. sensitive
// says whether cty marked the value as derived from env(); if it was but no
// intact token is found, a function has transformed the secret (substr,
// base64encode, ...) and the result cannot be resolved later.
func (t *secretTokens) text(s string, sensitive bool) (actions.Text, error) {
	if !strings.Contains(s, t.prefix) {
		if sensitive {
			return nil, fmt.Errorf("a value read with env() was transformed by a function; env() values can only be inserted as they are")
		}
		return actions.Literal(s), nil
	}
	var out actions.Text
	for {
		i := strings.Index(s, t.prefix)
		if i < 0 {
			break
		}
		rest := s[i+len(t.prefix):]
		j := strings.Index(rest, tokenClose)
		n, err := strconv.Atoi(rest[:max(j, 0)])
		if j < 0 || err != nil || n < 0 || n >= len(t.names) {
			return nil, fmt.Errorf("a value read with env() was cut by a function; env() values can only be inserted as they are")
		}
		if i > 0 {
			out = append(out, actions.Part{Lit: s[:i]})
		}
		out = append(out, actions.Part{Env: t.names[n]})
		s = rest[j+len(tokenClose):]
	}
	if s != "" {
		out = append(out, actions.Part{Lit: s})
	}
	return out, nil
}
