package sms

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/hookline/hookline/actions"
)

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
