package webhook

import (
	"errors"
	"net/http"
	"time"

	"github.com/hookline/hookline/actions"
)

// methods are the HTTP methods an http action may use.
var methods = []string{"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"}

// Type is `action "http"`: a request to a URL, signed the Standard Webhooks
// way when it has a signing_secret.
func Type() *actions.Type {
	return &actions.Type{
		Name: "http",
		Attrs: []actions.Attr{
			{Name: "method", Kind: actions.Choice, Default: http.MethodPost, Choices: methods, FoldCase: true},
			{Name: "url", Kind: actions.Template, Required: true, Check: actions.CheckURL},
			{Name: "headers", Kind: actions.TemplateMap, Check: actions.CheckHeaderValue, StaticKeys: true, CheckKey: checkHeaderName},
			{Name: "signing_secret", Kind: actions.Template, Check: checkSigningSecret},
			{Name: "body", Kind: actions.Template, EventDefault: true},
			{Name: "timeout", Kind: actions.Duration},
		},
		New: func(rt actions.Runtime) (actions.Executor, error) {
			return New(Config{Allow: rt.Allow, Env: rt.Env}), nil
		},
	}
}

func checkSigningSecret(string) string {
	return "signing_secret must not be written in a rule file: read it with env(\"NAME\") so it stays out of git."
}

// httpAction is an http delivery's fields, as Type declares them.
type httpAction struct {
	method        string
	url           actions.Text
	headers       []actions.Header
	body          actions.Text
	signingSecret actions.Text
	timeout       time.Duration // zero: the executor's default
}

func httpActionOf(d *actions.Delivery) (httpAction, error) {
	f := d.Fields
	r := httpAction{
		method:        f.Literal("method"),
		url:           f.Text("url"),
		headers:       f.Map("headers"),
		body:          f.Text("body"),
		signingSecret: f.Text("signing_secret"),
	}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if s := f.Literal("timeout"); s != "" {
		t, err := time.ParseDuration(s)
		if err != nil {
			return r, errors.New("invalid timeout: " + err.Error())
		}
		r.timeout = t
	}
	return r, nil
}

// fields is the inverse of httpActionOf, as render would produce it.
func (h *httpAction) fields() actions.Fields {
	var f actions.Fields
	f.Set("method", actions.Value{Text: actions.Literal(h.method)})
	f.Set("url", actions.Value{Text: h.url})
	f.Set("headers", actions.Value{Map: h.headers})
	f.Set("signing_secret", actions.Value{Text: h.signingSecret})
	f.Set("body", actions.Value{Text: h.body})
	if h.timeout > 0 {
		f.Set("timeout", actions.Value{Text: actions.Literal(h.timeout.String())})
	}
	return f
}
