// Package builtin is the list of action types Hookline runs with: the one
// line that registers an action type is in List. The CLI and the server
// take their types from it; a test registers a test-only type the same way,
// with actions.NewTypes(append(builtin.List(), itsType)...).
package builtin

import (
	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/email"
	"github.com/hookline/hookline/actions/sms"
	"github.com/hookline/hookline/actions/webhook"
)

// List returns the built-in action types, one line each.
func List() []*actions.Type {
	return []*actions.Type{
		webhook.Type(),
		sms.Type(),
		email.Type(),
	}
}

// Types returns the built-in action types as a checked set.
func Types() *actions.Types { return actions.MustTypes(List()...) }
