// Package testaction is an action type that exists only for tests: a
// "page" sent to a pager service over HTTP. It is written the way a real
// action type is, depending on nothing of ours but package actions, and
// tests register it the way actions/builtin registers the real ones, which
// proves that adding an action type needs its package and one line: rules,
// engine, eval, plan, the store and the server learn everything else from
// its actions.Type.
package testaction

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
)

// Type is `action "page"`, sent through a `pager` block.
func Type() *actions.Type {
	return &actions.Type{
		Name: "page",
		Attrs: []actions.Attr{
			{Name: "to", Kind: actions.Template, Required: true, Check: checkTo},
			{Name: "message", Kind: actions.Template, Required: true},
			{Name: "tags", Kind: actions.TemplateList},
			{Name: "priority", Kind: actions.Choice, Choices: []string{"low", "high"}, FoldCase: true, Default: "low"},
		},
		Provider: &actions.Provider{
			Block: "pager",
			Attrs: []actions.Attr{
				{Name: "endpoint", Kind: actions.Template, Required: true, Check: actions.CheckURL},
				{Name: "token", Kind: actions.Template},
				{Name: "retries", Kind: actions.Number, Min: 0, Max: 5, Default: "1"},
			},
			Check: func(has func(string) bool) string {
				if !has("token") && !has("retries") {
					return "Set a token, or say retries = 0 to page without one."
				}
				return ""
			},
			Example: `pager { endpoint = "https://pager.example.com" ... }`,
		},
		New: func(rt actions.Runtime) (actions.Executor, error) {
			// Every outbound connection goes through the SSRF guard, with
			// the server's allow list, as the real types' do.
			guard := &actions.Guard{Allow: rt.Allow}
			client := &http.Client{
				Transport:     &http.Transport{DialContext: guard.DialContext(&net.Dialer{Timeout: 5 * time.Second})},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
			return &Executor{endpoint: rt.Settings["endpoint"], token: rt.Settings["token"], env: rt.Env, client: client}, nil
		},
	}
}

func checkTo(s string) string {
	if !strings.HasPrefix(s, "team:") {
		return fmt.Sprintf("%q is not a pager address; write it as team:NAME.", s)
	}
	return ""
}

// Page is what the pager service receives.
type Page struct {
	ID       string   `json:"id"`
	To       string   `json:"to"`
	Message  string   `json:"message"`
	Tags     []string `json:"tags,omitempty"`
	Priority string   `json:"priority"`
}

// Executor posts pages as JSON, with the token as a bearer credential.
type Executor struct {
	endpoint, token string
	env             actions.EnvFunc
	client          *http.Client
}

// Execute sends one page.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	start := time.Now()
	red := actions.NewRedactor(e.token)
	p := Page{ID: d.ID, Priority: d.Fields.Literal("priority")}
	var err error
	if p.To, err = e.resolve(red, d.Fields.Text("to")); err == nil {
		p.Message, err = e.resolve(red, d.Fields.Text("message"))
	}
	for _, t := range d.Fields.List("tags") {
		if err != nil {
			break
		}
		var tag string
		tag, err = e.resolve(red, t)
		p.Tags = append(p.Tags, tag)
	}
	if err != nil {
		return actions.Outcome{Status: actions.Permanent, Error: red.Redact(err.Error())}
	}
	body, _ := json.Marshal(p)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return actions.Outcome{Status: actions.Permanent, Error: red.Redact(err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return actions.Outcome{Status: actions.Retry, Error: red.Redact(err.Error()), Duration: time.Since(start)}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, actions.ResponseLimit))
	out := actions.Outcome{StatusCode: resp.StatusCode, Duration: time.Since(start), Response: red.Redact(string(answer))}
	switch {
	case resp.StatusCode < 300:
		out.Status = actions.Delivered
	case resp.StatusCode >= 500:
		out.Status, out.Error = actions.Retry, resp.Status
	default:
		out.Status, out.Error = actions.Permanent, resp.Status
	}
	return out
}

func (e *Executor) resolve(red *actions.Redactor, t actions.Text) (string, error) {
	red.AddText(t, e.env)
	return t.Resolve(e.env)
}

// Types is the built-in types plus "page": one more line, as in
// actions/builtin.
func Types() *actions.Types {
	return actions.MustTypes(append(builtin.List(), Type())...)
}
