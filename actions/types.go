package actions

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Type is everything Hookline knows about one action type, declared once by
// the package that implements it (webhook.Type, sms.Type, email.Type): the
// attributes a rule file may set and how each is checked and rendered, the
// provider block it sends through, and how to build its executor. Loading,
// rendering, eval, test, plan, the API and the server all read this value,
// so a new action type is a new package and one line in the list of types
// the program runs with (see actions/builtin).
type Type struct {
	// Name is the first label of `action "NAME" "..."` and Delivery.Type.
	Name string
	// Attrs are the action block's attributes, besides `enabled` and the
	// `retry` block every action has. Their order is the order rendered
	// fields are shown in.
	Attrs []Attr
	// Provider is the top-level block that configures how this type sends
	// (credentials, server); nil when it needs none.
	Provider *Provider
	// New builds the executor that performs this type's deliveries.
	New func(Runtime) (Executor, error)
}

// Attr returns the named attribute, or nil.
func (t *Type) Attr(name string) *Attr {
	for i := range t.Attrs {
		if t.Attrs[i].Name == name {
			return &t.Attrs[i]
		}
	}
	return nil
}

// Kind says how an attribute is written and evaluated.
type Kind int

const (
	// Template is text rendered per event; it may read event fields and
	// use env() secrets.
	Template Kind = iota + 1
	// TemplateList renders to one string or a list of strings (e-mail
	// recipients).
	TemplateList
	// TemplateMap renders to a map of strings (HTTP headers), kept in name
	// order.
	TemplateMap
	// Choice is a static string, one of Attr.Choices.
	Choice
	// Duration is a static positive duration such as "10s".
	Duration
	// Number is a static whole number from Attr.Min to Attr.Max.
	Number
)

// Static reports whether values of kind k are fixed at load, the same for
// every event.
func (k Kind) Static() bool { return k >= Choice }

// Attr is one attribute of an action or provider block.
type Attr struct {
	Name     string
	Kind     Kind
	Required bool
	// Default is a static attribute's value when it is not set.
	Default string
	// Choices are the values a Choice accepts; FoldCase accepts them in any
	// case and stores them as written here.
	Choices  []string
	FoldCase bool
	// Min and Max bound a Number.
	Min, Max int
	// Hint ends the message about an invalid value, e.g. ", such as 587".
	Hint string
	// Check vets every string of the value that is known at load (no event
	// field, no env()) and returns a sentence saying what is wrong, or "".
	Check func(string) string
	// Plain values must not use env(): they are stored and shown as they
	// are (a status callback URL).
	Plain bool
	// EventDefault renders an unset attribute as the event itself, as JSON
	// (the body of an http action).
	EventDefault bool
	// StaticKeys makes a TemplateMap's keys part of the rule: each must be
	// written without event fields or env(), so that an event cannot pick
	// them (HTTP header names, where it could pick Host).
	StaticKeys bool
	// CheckKey vets each key of a TemplateMap that is known at load, as
	// Check does values, and returns a sentence saying what is wrong, or "".
	CheckKey func(string) string
}

// Provider is a top-level block of a rule set, such as `twilio { ... }`,
// holding what one action type needs to send: its attributes may use env()
// and the standard functions, never event fields.
type Provider struct {
	// Block is the block's name; it must not clash with another type's.
	Block string
	Attrs []Attr
	// Check looks at which attributes the block sets to a non-empty value
	// (defaults do not count) and returns a sentence about a combination
	// that is not allowed, or "".
	Check func(has func(name string) bool) string
	// Example is a one-line start of the block, for the message that an
	// action has no provider block to send with.
	Example string
}

// Runtime is what an executor is built with. It has no logger: the store
// logs each attempt once, from its Outcome, which executors redact.
type Runtime struct {
	// Settings are the provider block's values, defaults filled in and
	// secrets resolved; nil when the type has no provider. They hold
	// secrets: never log or return them.
	Settings Settings
	Env      EnvFunc
	// Allow lists networks the SSRF guard lets through despite being
	// private, loopback, etc. (see Guard).
	Allow []netip.Prefix
}

// Settings are a provider block's resolved values, by attribute name.
type Settings map[string]string

// Int returns a Number setting. Load has checked its range.
func (s Settings) Int(name string) int {
	n, _ := strconv.Atoi(s[name])
	return n
}

// Types is the set of action types a program runs with. It is a value,
// built by the program and passed down, never a package-level registry.
type Types struct {
	byName    map[string]*Type
	providers map[string]*Type // by provider block name
	names     []string
}

var typeName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// NewTypes checks a list of types and returns it as a Types. Names and
// provider blocks must be unique, and attribute names unique within each.
func NewTypes(types ...*Type) (*Types, error) {
	ts := &Types{byName: map[string]*Type{}, providers: map[string]*Type{}}
	for _, t := range types {
		if !typeName.MatchString(t.Name) {
			return nil, fmt.Errorf("action type name %q: use lower-case letters, digits and _", t.Name)
		}
		if _, dup := ts.byName[t.Name]; dup {
			return nil, fmt.Errorf("action type %q is declared twice", t.Name)
		}
		if t.New == nil {
			return nil, fmt.Errorf("action type %q has no New", t.Name)
		}
		if err := checkAttrs(t.Attrs); err != nil {
			return nil, fmt.Errorf("action type %q: %w", t.Name, err)
		}
		if p := t.Provider; p != nil {
			if !typeName.MatchString(p.Block) {
				return nil, fmt.Errorf("action type %q: provider block name %q: use lower-case letters, digits and _", t.Name, p.Block)
			}
			if prev, dup := ts.providers[p.Block]; dup {
				return nil, fmt.Errorf("action types %q and %q both use the provider block %q", prev.Name, t.Name, p.Block)
			}
			if err := checkAttrs(p.Attrs); err != nil {
				return nil, fmt.Errorf("provider block %q: %w", p.Block, err)
			}
			ts.providers[p.Block] = t
		}
		ts.byName[t.Name] = t
		ts.names = append(ts.names, t.Name)
	}
	slices.Sort(ts.names)
	return ts, nil
}

// MustTypes is NewTypes for lists fixed at build time.
func MustTypes(types ...*Type) *Types {
	ts, err := NewTypes(types...)
	if err != nil {
		panic(err)
	}
	return ts
}

func checkAttrs(attrs []Attr) error {
	seen := map[string]bool{"enabled": true, "retry": true}
	for _, a := range attrs {
		if !typeName.MatchString(a.Name) || seen[a.Name] {
			return fmt.Errorf("attribute %q is invalid or declared twice", a.Name)
		}
		seen[a.Name] = true
		if a.Kind < Template || a.Kind > Number {
			return fmt.Errorf("attribute %q has no kind", a.Name)
		}
		if err := checkDefault(a); err != nil {
			return fmt.Errorf("attribute %q: %w", a.Name, err)
		}
	}
	return nil
}

// checkDefault refuses a declaration that load would only find out about
// from a user's rule file.
func checkDefault(a Attr) error {
	switch {
	case a.Kind == Choice && len(a.Choices) == 0:
		return errors.New("a Choice needs Choices")
	case a.EventDefault && a.Kind != Template:
		return errors.New("only a Template can default to the event")
	case (a.StaticKeys || a.CheckKey != nil) && a.Kind != TemplateMap:
		return errors.New("only a TemplateMap has keys to check")
	case a.Default != "" && !a.Kind.Static():
		return errors.New("only static kinds have a Default")
	case a.Default == "":
		return nil
	case a.Kind == Choice && !slices.Contains(a.Choices, a.Default):
		return fmt.Errorf("default %q is not one of its Choices", a.Default)
	case a.Kind == Number:
		if n, err := strconv.Atoi(a.Default); err != nil || n < a.Min || n > a.Max {
			return fmt.Errorf("default %q is not a whole number from %d to %d", a.Default, a.Min, a.Max)
		}
	case a.Kind == Duration:
		if d, err := time.ParseDuration(a.Default); err != nil || d <= 0 {
			return fmt.Errorf("default %q is not a positive duration", a.Default)
		}
	}
	return nil
}

// Lookup returns the named type, or nil.
func (ts *Types) Lookup(name string) *Type {
	if ts == nil {
		return nil
	}
	return ts.byName[name]
}

// Names lists the types in name order.
func (ts *Types) Names() []string {
	if ts == nil {
		return nil
	}
	return ts.names
}

// ByProvider returns the type whose provider block is named block, or nil.
func (ts *Types) ByProvider(block string) *Type {
	if ts == nil {
		return nil
	}
	return ts.providers[block]
}
