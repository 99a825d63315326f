package sms

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/hookline/hookline/actions"
)

// DefaultTimeout bounds one attempt when Config.Timeout is zero. It is
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
	// Allow lists networks the SSRF guard lets through despite being
	// private, loopback, etc. (see actions.Guard). api_base_url comes from
	// a rule file, so it is held to the same rules as an http action's url.
	Allow []netip.Prefix
	// Timeout bounds one attempt; zero means DefaultTimeout, and a negative
	// value leaves only the context passed to Execute to end an attempt.
	Timeout time.Duration
	// WrapTransport, when set, wraps the executor's transport, which dials
	// through the guard and never through a proxy; tests use it to watch
	// requests. The wrapper must send through the RoundTripper it is given.
	WrapTransport func(http.RoundTripper) http.RoundTripper
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
	guard := &actions.Guard{Allow: slices.Clone(cfg.Allow)}
	pool := &http.Transport{
		// No proxy: the guard vets the address it dials, and with a proxy
		// that would be the proxy's. http.DefaultTransport, which twilio-go
		// uses by default, reads HTTPS_PROXY and dials anything.
		Proxy:               nil,
		DialContext:         guard.DialContext(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:   true,
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		// Every attempt goes to the same host; the default of 2 idle
		// connections per host would churn sockets under load.
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	e := &Executor{
		accountSID: cfg.AccountSID,
		authToken:  cfg.AuthToken,
		from:       cfg.From,
		serviceSID: cfg.MessagingServiceSID,
		env:        cfg.Env,
		pool:       pool,
		transport:  pool,
		timeout:    cfg.Timeout,
		now:        cfg.Now,
	}
	if cfg.WrapTransport != nil {
		e.transport = cfg.WrapTransport(pool)
	}
	if cfg.APIBaseURL != "" {
		e.base, _ = parseBaseURL(cfg.APIBaseURL) // checked by Validate
	}
	if e.env == nil {
		e.env = os.LookupEnv
	}
	if e.timeout == 0 {
		e.timeout = DefaultTimeout
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e, nil
}
