package actions

import (
	"encoding/base64"
	"fmt"
	"sync"
	"testing"
)

// Redactors of one cache hide exactly their own values: one that adds a
// value hides it, and one made later without it does not, however the
// lists of values could be run together.
func TestRedactorCacheKeepsSetsApart(t *testing.T) {
	t.Parallel()
	var c RedactorCache
	base := c.New("hunter2-password")
	more := c.New("hunter2-password")
	more.Add("sig-secret")
	again := c.New("hunter2-password")

	if got := more.Redact("p=hunter2-password s=sig-secret"); got != "p=(sensitive) s=(sensitive)" {
		t.Errorf("with the added value: %q", got)
	}
	if got := again.Redact("p=hunter2-password s=sig-secret"); got != "p=(sensitive) s=sig-secret" {
		t.Errorf("without it, after it was cached: %q", got)
	}
	if base.build() != again.build() {
		t.Error("two Redactors with the same values built their tables twice")
	}
	// Joined without lengths, both lists would read "abc".
	ab := c.New("ab", "c")
	a := c.New("a", "bc")
	if got := ab.Redact("[c]"); got != "[(sensitive)]" {
		t.Errorf(`("ab", "c") on "[c]": %q`, got)
	}
	if got := a.Redact("[bc]"); got != "[(sensitive)]" {
		t.Errorf(`("a", "bc") on "[bc]": %q`, got)
	}
}

// A cache past its size forgets its sets and still redacts right; shared
// by concurrent attempts, it is race-free (go test -race).
func TestRedactorCacheConcurrentAndFull(t *testing.T) {
	t.Parallel()
	var c RedactorCache
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range maxRedactorSets / 2 {
				secret := fmt.Sprintf("secret-%d-%d", w%3, i)
				r := c.New("shared-credential")
				r.Add(secret)
				echo := "Basic " + base64.StdEncoding.EncodeToString([]byte(secret)) + " shared-credential " + secret
				if got := r.Redact(echo); got != "Basic (sensitive) (sensitive) (sensitive)" {
					t.Errorf("%s: %q", secret, got)
					return
				}
			}
		})
	}
	wg.Wait()
	c.mu.Lock()
	n := len(c.sets)
	c.mu.Unlock()
	if n == 0 || n > maxRedactorSets {
		t.Errorf("the cache holds %d sets, want 1 to %d", n, maxRedactorSets)
	}
}
