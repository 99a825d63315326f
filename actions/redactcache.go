package actions

import (
	"strconv"
	"strings"
	"sync"
)

// RedactorCache shares the tables Redactors build among attempts that hide
// the same values: an executor's credentials, an action's signing secret.
// Every attempt reports something (Twilio's answer, the SMTP server's), and
// building the tables (every form of every value, sorted) cost more than
// the scan of most answers: a twentieth of the server's CPU per delivery.
//
// The zero value is ready to use and safe for concurrent use. It keeps at
// most maxRedactorSets sets of values and forgets them all when full: the
// sets an executor sees come from its settings and its rules' env()
// values, so they are few, and a set is rebuilt at worst.
type RedactorCache struct {
	mu   sync.Mutex
	sets map[string]*redactTables
}

const maxRedactorSets = 256

// New returns a Redactor hiding values that builds its tables through c.
func (c *RedactorCache) New(values ...string) *Redactor {
	r := &Redactor{cache: c}
	r.Add(values...)
	return r
}

func (c *RedactorCache) tables(secrets []string) *redactTables {
	// Length-prefixed, so that no two lists share a key: a value may hold
	// any byte (SMTP's PLAIN blob holds NULs).
	var k strings.Builder
	for _, s := range secrets {
		k.WriteString(strconv.Itoa(len(s)))
		k.WriteByte(':')
		k.WriteString(s)
	}
	key := k.String()
	c.mu.Lock()
	t := c.sets[key]
	c.mu.Unlock()
	if t != nil {
		return t
	}
	t = newRedactTables(secrets)
	c.mu.Lock()
	if c.sets == nil || len(c.sets) >= maxRedactorSets {
		c.sets = make(map[string]*redactTables)
	}
	c.sets[key] = t
	c.mu.Unlock()
	return t
}
