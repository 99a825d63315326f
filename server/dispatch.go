package server

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hookline/hookline/actions"
)

// dispatcher is the one executor the delivery store knows. It forwards
// each attempt to the executor of its type from the current rule set's
// provider blocks, so a reload that changes a provider block takes effect
// without restarting the store, and it counts every attempt for /metrics.
type dispatcher struct {
	current atomic.Pointer[map[string]actions.Executor]
	metrics *metrics
}

func (d *dispatcher) swap(execs map[string]actions.Executor) { d.current.Store(&execs) }

func (d *dispatcher) Execute(ctx context.Context, del *actions.Delivery) actions.Outcome {
	start := time.Now()
	var out actions.Outcome
	if e, ok := (*d.current.Load())[del.Type]; ok {
		out = e.Execute(ctx, del)
	} else {
		// The rules that rendered this delivery had the provider block that
		// the current ones lack; the operator must restore it, then retry.
		out = actions.Outcome{Status: actions.Permanent, Error: "the current rules cannot send " + del.Type + " actions: the provider block they need was removed"}
	}
	d.metrics.attempt(del.Type, out, time.Since(start))
	return out
}

// storeExecutors gives the store the dispatcher for every action type.
func (d *dispatcher) storeExecutors(types *actions.Types) map[string]actions.Executor {
	out := map[string]actions.Executor{}
	for _, name := range types.Names() {
		out[name] = d
	}
	return out
}
