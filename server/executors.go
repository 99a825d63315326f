package server

import (
	"errors"
	"fmt"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/sandbox"
	"github.com/hookline/hookline/rules"
)

// executors builds one executor per action type the rule set can send
// with: every type without a provider block, and every type whose provider
// block the set has. Provider secrets are resolved now, so that a missing
// credential stops a start or a reload rather than the first delivery.
func executors(set *rules.Set, opts Options) (map[string]actions.Executor, error) {
	out := map[string]actions.Executor{}
	if opts.Sandbox {
		capture := sandbox.New(nil)
		for _, name := range set.Types.Names() {
			out[name] = capture
		}
		return out, nil
	}
	env := actions.EnvFunc(opts.LookupEnv)
	for _, name := range set.Types.Names() {
		t := set.Types.Lookup(name)
		rt := actions.Runtime{Env: env, Allow: opts.AllowCIDRs}
		// Settings read with env() may be secrets, and New's errors are
		// logged and shown by /v1/rules: they leave here redacted.
		red := &actions.Redactor{}
		if t.Provider != nil {
			p := set.Providers[t.Provider.Block]
			if p == nil {
				continue // no action of this type can be in the set
			}
			rt.Settings = actions.Settings{}
			for attr, text := range p.Values {
				red.AddText(text, env)
				v, err := text.Resolve(env)
				if err != nil {
					return nil, fmt.Errorf("%s block, %s: %w", p.Block, attr, err)
				}
				rt.Settings[attr] = v
			}
		}
		e, err := t.New(rt)
		if err != nil {
			return nil, errors.New(red.Redact(err.Error()))
		}
		out[name] = e
	}
	return out, nil
}
