// Package sms performs the `action "sms"` of a rule: one attempt sends one
// message through Twilio's Messages API with the twilio-go client, and the
// answer is turned into an actions.Outcome that steers the queue.
//
// twilio-go has no notion of a context, a base URL or per-request state, so
// every attempt builds a throwaway twilio-go client around an http.Client
// whose RoundTripper binds the attempt's context, points the request at the
// configured endpoint and records what Twilio answered. Those clients are a
// few small structs; the connection pool underneath is shared.
package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/actions"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// MaxBodyChars is Twilio's limit on a message body, in characters. Longer
// bodies are refused rather than cut: a truncated alert can say the opposite
// of the whole one.
const MaxBodyChars = 1600

// Executor sends SMS deliveries. It holds no per-call state and is safe for
// concurrent use.
type Executor struct {
	accountSID, authToken string
	from, serviceSID      string
	base                  *url.URL // nil: talk to api.twilio.com itself
	env                   actions.EnvFunc
	pool                  *http.Transport   // guarded, shared by every attempt
	transport             http.RoundTripper // pool, or a test's wrapper of it
	timeout               time.Duration     // <= 0: none
	now                   func() time.Time
	redactors             actions.RedactorCache
}

// CloseIdleConnections releases pooled connections, e.g. at shutdown. The
// Executor stays usable.
func (e *Executor) CloseIdleConnections() { e.pool.CloseIdleConnections() }

// Execute makes one attempt at an sms delivery. It returns when Twilio has answered,
// the connection has failed, or ctx is done, whichever comes first.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	if d == nil || len(d.Fields) == 0 {
		return permanent("delivery has no sms message")
	}
	start := time.Now()
	red := newRedactor(&e.redactors, e.accountSID, e.authToken)
	out := e.execute(ctx, d, red)
	out.Duration = time.Since(start)
	// Every string leaving the executor goes through the redactor, including
	// ones built here, so a new message cannot forget to.
	out.Error = red.Redact(out.Error)
	out.Response = actions.Truncate(red.Redact(out.Response), actions.ResponseLimit)
	out.ProviderID = red.Redact(out.ProviderID)
	return out
}

// newRedactor hides, besides every env() value an attempt resolves, the
// credentials: Twilio's replies echo the recipient and the body, and a
// misbehaving endpoint may echo the whole request, headers included.
func newRedactor(c *actions.RedactorCache, accountSID, authToken string) *actions.Redactor {
	r := c.New()
	// The Authorization header carries them as a Basic pair.
	r.AddBasicAuth(accountSID, authToken)
	return r
}

func permanent(format string, args ...any) actions.Outcome {
	return actions.Outcome{Status: actions.Permanent, Error: fmt.Sprintf(format, args...)}
}

func (e *Executor) execute(ctx context.Context, d *actions.Delivery, red *actions.Redactor) actions.Outcome {
	m := messageOf(d)

	// Secrets are registered before anything that may fail is attempted, so
	// that even an error about the value itself cannot show it.
	red.AddText(m.to, e.env)
	red.AddText(m.body, e.env)

	to, err := m.to.Resolve(e.env)
	if err != nil {
		return permanent("sms to: %v", err)
	}
	if !isE164(to) {
		return permanent("sms to %q is not an E.164 phone number (+ then country code and number, digits only, e.g. +14155552671)", m.to.Redacted())
	}
	body, err := m.body.Resolve(e.env)
	if err != nil {
		return permanent("sms body: %v", err)
	}
	switch n := utf8.RuneCountInString(body); {
	case strings.TrimSpace(body) == "":
		return permanent("sms body is empty")
	case !utf8.ValidString(body):
		return permanent("sms body is not valid UTF-8")
	case n > MaxBodyChars:
		return permanent("sms body is %d characters; Twilio accepts at most %d", n, MaxBodyChars)
	}
	if err := actions.CheckText("sms body", body, true); err != nil {
		return permanent("%v", err)
	}
	if cb := m.statusCallback; cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return permanent("sms status_callback must be an absolute http or https URL")
		}
	}

	if err := ctx.Err(); err != nil {
		return actions.Outcome{Status: actions.Retry, Error: "not sent: " + err.Error()}
	}
	// The attempt's own context carries the timeout too: the transport puts
	// it on the request in place of the one http.Client would set, and its
	// end also ends any reply twilio-go left open.
	var cancel context.CancelFunc
	if e.timeout > 0 {
		ctx, cancel = context.WithTimeoutCause(ctx, e.timeout, fmt.Errorf("no answer within %s", e.timeout))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()

	params := &openapi.CreateMessageParams{}
	params.SetTo(to)
	params.SetBody(body)
	if e.from != "" {
		params.SetFrom(e.from)
	} else {
		params.SetMessagingServiceSid(e.serviceSID)
	}
	if m.statusCallback != "" {
		params.SetStatusCallback(m.statusCallback)
	}

	rt := &attemptTransport{ctx: ctx, base: e.transport, target: e.base}
	msg, err := e.api(rt).CreateMessage(params)
	rt.finish()

	if err != nil {
		return e.failure(ctx, rt, err)
	}
	if msg == nil || msg.Sid == nil || *msg.Sid == "" {
		return accepted(rt.status, errors.New("no message sid in the reply"))
	}
	return actions.Outcome{
		Status:     actions.Delivered,
		StatusCode: rt.status,
		ProviderID: *msg.Sid,
		Response:   summary(msg),
	}
}

// api builds the per-attempt twilio-go service around rt.
func (e *Executor) api(rt *attemptTransport) *openapi.ApiService {
	c := &client.Client{
		Credentials: client.NewCredentials(e.accountSID, e.authToken),
		HTTPClient: &http.Client{
			Transport:     rt,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(e.accountSID)
	h := client.NewRequestHandler(c)
	// NewRequestHandler picks up TWILIO_EDGE and TWILIO_REGION from the
	// process environment and rewrites the host with them. The twilio block
	// is meant to be the whole story, so an edge is chosen with api_base_url.
	h.Edge, h.Region = "", ""
	return openapi.NewApiService(h)
}

// isE164 reports whether s is a phone number in the shape Twilio requires,
// ^\+[1-9]\d{1,14}$.
func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
