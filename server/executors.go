package server

import (
	"fmt"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/email"
	"github.com/hookline/hookline/actions/sandbox"
	"github.com/hookline/hookline/actions/sms"
	"github.com/hookline/hookline/actions/webhook"
	"github.com/hookline/hookline/rules"
)

// executors builds one executor per action type from the rule set's
// provider blocks, resolving their secrets now so that a wrong credential
// stops the server at start rather than at the first delivery.
func executors(set *rules.Set, opts Options) (map[string]actions.Executor, error) {
	if opts.Sandbox {
		capture := sandbox.New(nil)
		return map[string]actions.Executor{"http": capture, "sms": capture, "email": capture}, nil
	}
	env := actions.EnvFunc(opts.LookupEnv)
	out := map[string]actions.Executor{
		"http": webhook.New(webhook.Config{Allow: opts.AllowCIDRs, Env: env, Logger: opts.Logger}),
	}
	if tw := set.Twilio; tw != nil {
		cfg := sms.Config{Env: env, Logger: opts.Logger}
		if err := resolveFields(env, "twilio", []field{
			{"account_sid", tw.AccountSID, &cfg.AccountSID},
			{"auth_token", tw.AuthToken, &cfg.AuthToken},
			{"from", tw.From, &cfg.From},
			{"messaging_service_sid", tw.MessagingServiceSID, &cfg.MessagingServiceSID},
			{"api_base_url", tw.APIBaseURL, &cfg.APIBaseURL},
		}); err != nil {
			return nil, err
		}
		e, err := sms.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("twilio block: %w", err)
		}
		out["sms"] = e
	}
	if sm := set.SMTP; sm != nil {
		cfg := email.Config{Port: sm.Port, TLS: sm.TLS, Env: env, Logger: opts.Logger}
		if err := resolveFields(env, "smtp", []field{
			{"host", sm.Host, &cfg.Host},
			{"username", sm.Username, &cfg.Username},
			{"password", sm.Password, &cfg.Password},
			{"from", sm.From, &cfg.From},
		}); err != nil {
			return nil, err
		}
		e, err := email.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("smtp block: %w", err)
		}
		out["email"] = e
	}
	return out, nil
}

type field struct {
	name string
	src  actions.Text
	dst  *string
}

func resolveFields(env actions.EnvFunc, block string, fields []field) error {
	for _, f := range fields {
		v, err := f.src.Resolve(env)
		if err != nil {
			return fmt.Errorf("%s block, %s: %w", block, f.name, err)
		}
		*f.dst = v
	}
	return nil
}
