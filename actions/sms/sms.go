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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
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

// DefaultTimeout bounds one attempt when Config.HTTPClient is nil. It is
// twilio-go's own default, kept so that a hung endpoint cannot hold a worker
// for ever even when the queue's context has no deadline.
const DefaultTimeout = 10 * time.Second

// Config is the `twilio` block, with secrets already resolved. The struct is
// copied by New, so later changes to it have no effect.
type Config struct {
	AccountSID string
	AuthToken  string

	// Exactly one of From and MessagingServiceSID is set.
	From                string
	MessagingServiceSID string

	// APIBaseURL replaces the scheme, host and (as a prefix) path of every
	// request, for Twilio-compatible endpoints, proxies and tests. Empty
	// means https://api.twilio.com.
	APIBaseURL string

	// Env resolves env() references in To and Body; nil means os.LookupEnv.
	Env actions.EnvFunc
	// Logger gets one line per attempt, at debug level when it delivered and
	// warn otherwise; nil discards.
	Logger *slog.Logger
	// HTTPClient supplies the Transport and Timeout to use. Its redirect
	// policy and cookie jar are ignored: Twilio's API does not redirect, and
	// following one would replay the POST with the credentials elsewhere.
	// Nil means http.DefaultTransport and DefaultTimeout; a Timeout of zero
	// leaves only the context passed to Execute to end an attempt.
	HTTPClient *http.Client
	// Now is the clock that Retry-After durations are added to; nil means
	// time.Now.
	Now func() time.Time
}

// Executor sends SMS deliveries. It holds no per-call state and is safe for
// concurrent use.
type Executor struct {
	accountSID, authToken string
	from, serviceSID      string
	base                  *url.URL // nil: talk to api.twilio.com itself
	env                   actions.EnvFunc
	log                   *slog.Logger
	transport             http.RoundTripper
	timeout               time.Duration
	now                   func() time.Time
}

// alphanumeric mirrors the check twilio-go makes on credentials. twilio-go
// makes it only when a request is sent, and answers with a fake Twilio error
// blaming the "Username" or "Password"; checking here turns that into a
// configuration error at load time.
func alphanumeric(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
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

// Validate reports every problem with the configuration, each naming the
// field at fault. Messages never include a credential's value: a stray
// character is described, not shown.
func (c *Config) Validate() error {
	var errs []error
	credential := func(name, v string) {
		switch {
		case v == "":
			errs = append(errs, fmt.Errorf("twilio %s is required", name))
		case !alphanumeric(v):
			errs = append(errs, fmt.Errorf("twilio %s must be letters and digits only (twilio-go refuses anything else); check the value for spaces, quotes or a trailing newline", name))
		}
	}
	credential("account_sid", c.AccountSID)
	credential("auth_token", c.AuthToken)

	switch {
	case c.From == "" && c.MessagingServiceSID == "":
		errs = append(errs, errors.New("twilio needs one of from or messaging_service_sid"))
	case c.From != "" && c.MessagingServiceSID != "":
		errs = append(errs, errors.New("twilio from and messaging_service_sid are mutually exclusive; set only one"))
	}

	if c.APIBaseURL != "" {
		if _, err := parseBaseURL(c.APIBaseURL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parseBaseURL never echoes the URL: someone may have pasted credentials
// into it.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("twilio api_base_url must be an absolute http or https URL, such as https://api.twilio.com")
	}
	if u.User != nil {
		return nil, errors.New("twilio api_base_url must not contain a user name or password; the account_sid and auth_token are sent as Basic auth")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("twilio api_base_url must not have a query or fragment")
	}
	return u, nil
}

// New checks cfg and returns an Executor for it.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Executor{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		from:       cfg.From,
		serviceSID: cfg.MessagingServiceSID,
		env:        cfg.Env,
		log:        cfg.Logger,
		transport:  http.DefaultTransport,
		timeout:    DefaultTimeout,
		now:        cfg.Now,
	}
	if cfg.APIBaseURL != "" {
		e.base, _ = parseBaseURL(cfg.APIBaseURL) // checked by Validate
	}
	if e.env == nil {
		e.env = os.LookupEnv
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient != nil {
		e.timeout = cfg.HTTPClient.Timeout
		if cfg.HTTPClient.Transport != nil {
			e.transport = cfg.HTTPClient.Transport
		}
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}

// Execute makes one attempt at d.SMS. It returns when Twilio has answered,
// the connection has failed, or ctx is done, whichever comes first.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	if d == nil || d.SMS == nil {
		return permanent("delivery has no sms message")
	}
	start := time.Now()
	red := newRedactor(e.accountSID, e.authToken)
	out := e.execute(ctx, d, red)
	out.Duration = time.Since(start)
	// Every string leaving the executor goes through the redactor, including
	// ones built here, so a new message cannot forget to.
	out.Error = red.clean(out.Error)
	out.Response = truncate(red.clean(out.Response), actions.ResponseLimit)
	out.ProviderID = red.clean(out.ProviderID)

	level := slog.LevelDebug
	if out.Status != actions.Delivered {
		level = slog.LevelWarn
	}
	e.log.Log(ctx, level, "sms attempt",
		slog.String("delivery", d.ID),
		slog.String("address", d.Address),
		slog.Int("attempt", d.Attempt),
		slog.String("status", out.Status.String()),
		slog.Int("status_code", out.StatusCode),
		slog.String("sid", out.ProviderID),
		slog.Duration("duration", out.Duration),
		slog.String("error", out.Error),
	)
	return out
}

func permanent(format string, args ...any) actions.Outcome {
	return actions.Outcome{Status: actions.Permanent, Error: fmt.Sprintf(format, args...)}
}

func (e *Executor) execute(ctx context.Context, d *actions.Delivery, red *redactor) actions.Outcome {
	m := d.SMS

	// Secrets are registered before anything that may fail is attempted, so
	// that even an error about the value itself cannot show it.
	red.addText(m.To, e.env)
	red.addText(m.Body, e.env)

	to, err := m.To.Resolve(e.env)
	if err != nil {
		return permanent("sms to: %v", err)
	}
	if !isE164(to) {
		return permanent("sms to %q is not an E.164 phone number (+ then country code and number, digits only, e.g. +14155552671)", m.To.Redacted())
	}
	body, err := m.Body.Resolve(e.env)
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
	if cb := m.StatusCallback; cb != "" {
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
	if m.StatusCallback != "" {
		params.SetStatusCallback(m.StatusCallback)
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

// failure classifies an error from CreateMessage.
func (e *Executor) failure(ctx context.Context, rt *attemptTransport, err error) actions.Outcome {
	out := actions.Outcome{StatusCode: rt.status}

	var twErr *client.TwilioRestError
	isTwilio := errors.As(err, &twErr)
	if out.StatusCode == 0 && isTwilio {
		// Only twilio-go's own credential check fails without a response;
		// Validate should have caught it.
		out.StatusCode = twErr.Status
	}

	if out.StatusCode == 0 {
		// No answer: the request may or may not have reached Twilio; the
		// queue decides how long to keep trying.
		out.Status = actions.Retry
		switch {
		case ctx.Err() != nil:
			out.Error = "twilio request interrupted: " + context.Cause(ctx).Error()
		default:
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err // its URL holds the account sid and adds nothing
			}
			out.Error = "twilio request failed: " + err.Error()
		}
		return out
	}
	if out.StatusCode >= 200 && out.StatusCode < 300 {
		// The reply was cut off or is not a Message resource.
		return accepted(out.StatusCode, err)
	}

	code := out.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		out.Status = actions.Retry
		out.RetryAfter = retryAfter(rt.header.Get("Retry-After"), e.now())
	default:
		// 4xx: the same request will be refused again. Also 3xx and odd 2xx,
		// which mean api_base_url points at something that is not Twilio.
		out.Status = actions.Permanent
	}

	if isTwilio {
		out.Error = fmt.Sprintf("twilio error %d (HTTP %d): %s", twErr.Code, code, twErr.Message)
		if twErr.MoreInfo != "" {
			out.Error += " (" + twErr.MoreInfo + ")"
		}
		b, _ := json.Marshal(struct {
			Code     int    `json:"code"`
			Message  string `json:"message"`
			MoreInfo string `json:"more_info,omitempty"`
			Status   int    `json:"status"`
		}{twErr.Code, twErr.Message, twErr.MoreInfo, twErr.Status})
		out.Response = string(b)
		return out
	}
	// Not Twilio's JSON: a proxy's error page, or an endpoint that is not
	// Twilio-compatible. The raw text is the best clue there is.
	out.Error = fmt.Sprintf("twilio answered HTTP %d %s", code, http.StatusText(code))
	if code >= 300 && code < 400 {
		out.Error += "; api_base_url may be wrong, redirects are not followed"
	}
	out.Response = strings.ToValidUTF8(string(rt.body), "\uFFFD")
	return out
}

// accepted is the outcome of a 2xx whose reply cannot be used. Twilio
// answers 201 once it has queued the message, so retrying would send the text
// twice: the attempt counts as delivered, with the problem recorded.
func accepted(code int, err error) actions.Outcome {
	return actions.Outcome{
		Status:     actions.Delivered,
		StatusCode: code,
		Error:      fmt.Sprintf("twilio accepted the message (HTTP %d) but its reply is unusable, so no sid was recorded: %v", code, err),
	}
}

// retryAfter reads a Retry-After value, in seconds or as an HTTP date. A
// missing or malformed one leaves the wait to the queue's schedule.
func retryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > int64(7*24*time.Hour/time.Second) {
			return time.Time{}
		}
		return now.Add(time.Duration(s) * time.Second)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t
	}
	return time.Time{}
}

// summary keeps the fields of Twilio's reply that say what happened to the
// message. The reply also echoes the recipient and the body, which may hold
// secrets, so it is never stored whole.
func summary(m *openapi.ApiV2010Message) string {
	s := struct {
		Sid         *string `json:"sid,omitempty"`
		Status      *string `json:"status,omitempty"`
		NumSegments *string `json:"num_segments,omitempty"`
		ErrorCode   *int    `json:"error_code,omitempty"`
	}{m.Sid, m.Status, m.NumSegments, m.ErrorCode}
	b, _ := json.Marshal(s)
	return string(b)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
