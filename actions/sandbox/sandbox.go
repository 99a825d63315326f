// Package sandbox is the executor of `hookline serve --sandbox`: nothing
// leaves the machine. Each attempt records the full rendered request, as
// people see it (secrets shown as "(sensitive)"), and reports it delivered,
// so a newcomer can run the examples with no Twilio account, no SMTP server
// and no network, and inspect exactly what would have been sent.
package sandbox

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hookline/hookline/actions"
)

// Executor captures deliveries instead of sending them.
type Executor struct {
	now func() time.Time
}

// New returns a capture executor. now may be nil.
func New(now func() time.Time) *Executor {
	if now == nil {
		now = time.Now
	}
	return &Executor{now: now}
}

// Capture is what the sandbox records as an attempt's response.
type Capture struct {
	Sandbox  bool           `json:"sandbox"`
	Type     string         `json:"type"`
	Address  string         `json:"address"`
	Attempt  int            `json:"attempt"`
	Rendered map[string]any `json:"rendered"`
}

// Execute records the delivery. It never fails: a capture cannot be refused.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	start := e.now()
	if err := ctx.Err(); err != nil {
		return actions.Outcome{Status: actions.Retry, Error: "attempt interrupted: " + err.Error()}
	}
	b, err := json.Marshal(Capture{Sandbox: true, Type: d.Type, Address: d.Address, Attempt: d.Attempt, Rendered: d.Rendered()})
	if err != nil {
		// Rendered holds only strings, lists and maps of strings.
		return actions.Outcome{Status: actions.Permanent, Error: "sandbox: " + err.Error()}
	}
	return actions.Outcome{
		Status:     actions.Delivered,
		Duration:   e.now().Sub(start),
		Response:   string(b),
		ProviderID: "sandbox",
	}
}
