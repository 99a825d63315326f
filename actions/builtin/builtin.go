// Package builtin is the list of action types Hookline runs with: the one
// line that registers an action type is here. The CLI and the server take
// their types from it; tests may build their own list with
// actions.NewTypes, which is how a test-only type is registered.
package builtin

import (
	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/email"
	"github.com/hookline/hookline/actions/sms"
	"github.com/hookline/hookline/actions/webhook"
)

// Types returns the built-in action types.
func Types() *actions.Types {
	return actions.MustTypes(
		webhook.Type(),
		sms.Type(),
		email.Type(),
	)
}
