// Package actions holds what every action type shares: the rendered
// Delivery an executor performs, the Outcome of one attempt, and Text, a
// rendered string that may refer to secrets without containing them.
//
// Each action type lives in its own sub-package (webhook, sms, email) and
// depends on this package only, so the engine that renders deliveries and
// the queue that runs them never import a concrete integration.
package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Executor performs one attempt of one delivery. It never retries on its own
// beyond transient connection errors: the long retry schedule belongs to the
// queue, which the Outcome steers.
type Executor interface {
	Execute(ctx context.Context, d *Delivery) Outcome
}

// EnvFunc resolves the secret named by an env() reference. os.LookupEnv has
// this shape; tests pass their own map lookup.
type EnvFunc func(name string) (string, bool)

// Delivery is one rendered action, ready to be attempted. It is plain data
// so that the queue can store it and every retry sends the same thing. Secrets
// are kept as references inside Text and resolved only when the attempt is
// made.
type Delivery struct {
	ID      string `json:"id"`       // stable across attempts (webhook-id)
	EventID string `json:"event_id"` // the CloudEvents id that caused it
	Address string `json:"address"`  // TRIGGER.TYPE.NAME
	Trigger string `json:"trigger"`
	Type    string `json:"type"` // the action type's name: Type.Name
	Name    string `json:"name"`
	Attempt int    `json:"attempt"` // 1 for the first attempt
	Fields  Fields `json:"fields"`
}

// UnmarshalJSON also reads deliveries stored before Fields existed, whose
// content sat under a key named after their type ("http": {...}).
func (d *Delivery) UnmarshalJSON(b []byte) error { return d.UnmarshalString(string(b)) }

// UnmarshalString is UnmarshalJSON for a delivery stored as a string: the
// store's readers call it directly, which spares a copy of the content and
// encoding/json's scan of it before UnmarshalJSON.
func (d *Delivery) UnmarshalString(s string) error {
	if decodeDelivery(s, d) {
		return nil
	}
	return d.unmarshalJSON([]byte(s))
}

// unmarshalJSON is UnmarshalJSON by encoding/json alone (jsondec.go).
func (d *Delivery) unmarshalJSON(b []byte) error {
	type plain Delivery
	var all struct {
		plain
		Fields json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	if all.Fields != nil && string(all.Fields) != "null" {
		var f Fields
		if err := f.unmarshalJSON(all.Fields); err != nil {
			return err
		}
		*d = Delivery(all.plain)
		d.Fields = f
		return nil
	}
	*d = Delivery(all.plain)
	var legacy map[string]json.RawMessage
	if err := json.Unmarshal(b, &legacy); err != nil {
		return err
	}
	if raw, ok := legacy[d.Type]; ok && d.Type != "" {
		return json.Unmarshal(raw, &d.Fields)
	}
	return nil
}

// Status is what the queue should do after an attempt.
type Status int

const (
	// Delivered: the peer accepted the delivery; nothing more to do.
	Delivered Status = iota + 1
	// Retry: the attempt failed in a way that may pass later.
	Retry
	// Permanent: retrying the same content cannot succeed.
	Permanent
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// MarshalText makes Status readable in JSON and logs.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Outcome is the result of one attempt. Every string in it is safe to store
// and show: executors never put a secret in Error or Response.
type Outcome struct {
	Status     Status        `json:"status"`
	RetryAfter time.Time     `json:"retry_after,omitzero"` // not before; zero means "per schedule"
	Error      string        `json:"error,omitempty"`
	StatusCode int           `json:"status_code,omitempty"` // HTTP or SMTP reply code
	Duration   time.Duration `json:"duration"`
	Response   string        `json:"response,omitempty"`    // first 4 KiB of the peer's answer
	ProviderID string        `json:"provider_id,omitempty"` // Twilio message SID, SMTP queue id
}

// ResponseLimit is how much of a peer's answer an Outcome keeps.
const ResponseLimit = 4 << 10

// Part is one piece of a Text: a literal, or a reference to a secret held in
// the environment. Exactly one of Lit and Env is set.
type Part struct {
	Lit string `json:"lit,omitempty"`
	Env string `json:"env,omitempty"`
	// Ev marks a literal rendered by an expression that reads the event:
	// whoever sent the event chose its text. Deliveries stored before it
	// existed read as false.
	Ev bool `json:"ev,omitempty"`
}

// Text is a rendered string that may include secrets by reference. Storing a
// Text stores the names of the variables, never their values.
type Text []Part

// Literal returns a Text with no secrets.
func Literal(s string) Text {
	if s == "" {
		return nil
	}
	return Text{{Lit: s}}
}

// Sensitive reports whether any part refers to a secret.
func (t Text) Sensitive() bool {
	for _, p := range t {
		if p.Env != "" {
			return true
		}
	}
	return false
}

// FromEvent reports whether any literal part of t was rendered from the
// event, so that an executor can hold its text to what one value from the
// event may do (one e-mail address, not a list).
func (t Text) FromEvent() bool {
	for _, p := range t {
		if p.Ev {
			return true
		}
	}
	return false
}

// IsZero reports whether the text is empty, for omitempty/omitzero.
func (t Text) IsZero() bool { return len(t) == 0 }

// Resolve returns the full string, looking secrets up with env. A missing
// variable is an error that names it (names are not secret; values are).
func (t Text) Resolve(env EnvFunc) (string, error) {
	if len(t) == 1 && t[0].Env == "" {
		return t[0].Lit, nil
	}
	var b strings.Builder
	for _, p := range t {
		if p.Env == "" {
			b.WriteString(p.Lit)
			continue
		}
		v, ok := env(p.Env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", p.Env)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Redacted is the text with every secret replaced by Redaction: the form
// that logs, plans and APIs show.
func (t Text) Redacted() string {
	if len(t) == 1 && t[0].Env == "" {
		return t[0].Lit
	}
	var b strings.Builder
	for _, p := range t {
		if p.Env != "" {
			b.WriteString(Redaction)
			continue
		}
		b.WriteString(p.Lit)
	}
	return b.String()
}

// String is Redacted, so that a Text printed by accident never leaks.
func (t Text) String() string { return t.Redacted() }
