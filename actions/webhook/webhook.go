package webhook

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/hookline/hookline/actions"
)

// Defaults for the zero values in Config.
const (
	DefaultTimeout       = 15 * time.Second
	DefaultMaxRetryAfter = actions.MaxRetryAfter
	DefaultUserAgent     = "hookline-webhook/1"
)

// Config tunes an Executor. The zero value is usable: it refuses every
// non-public address and reads secrets from the process environment.
type Config struct {
	// Allow lists networks the SSRF guard lets through despite being
	// private, loopback, etc. (see actions.Guard).
	Allow []netip.Prefix
	// Env resolves env() references; nil means os.LookupEnv.
	Env actions.EnvFunc
	// Now stamps webhook-timestamp and anchors Retry-After; nil means
	// time.Now. Durations are measured with the monotonic clock regardless.
	Now func() time.Time
	// DefaultTimeout bounds an attempt whose action sets no timeout,
	// in-attempt connection retries included; zero means DefaultTimeout.
	DefaultTimeout time.Duration
	// MaxRetryAfter caps how far a peer's Retry-After can push the next
	// attempt; zero means DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// UserAgent is sent unless the action sets its own; "" means
	// DefaultUserAgent.
	UserAgent string
}

// Executor performs HTTP deliveries. It is safe for concurrent use and
// keeps connections alive between attempts, so make one and share it.
type Executor struct {
	cfg       Config
	client    *retryablehttp.Client
	transport *http.Transport
	redactors actions.RedactorCache
}

var _ actions.Executor = (*Executor)(nil)

// New builds an Executor and the connection pool it shares across attempts.
func New(cfg Config) *Executor {
	if cfg.Env == nil {
		cfg.Env = os.LookupEnv
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = DefaultTimeout
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	cfg.Allow = slices.Clone(cfg.Allow)
	guard := &actions.Guard{Allow: cfg.Allow}

	transport := &http.Transport{
		// No proxy: the guard vets the address it dials, and with a proxy
		// that is the proxy's, not the target's.
		Proxy:                 nil,
		DialContext:           guard.DialContext(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// A rule usually fans out to a handful of receivers at high rates;
		// the default of 2 idle connections per host would churn sockets.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     90 * time.Second,
	}
	httpClient := &http.Client{
		// Hiding CloseIdleConnections stops retryablehttp from tearing down
		// every pooled connection whenever one receiver fails.
		Transport: pooled{transport},
		// A redirect is reported, not followed: following would re-send the
		// signed body to an address the rule author never wrote.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := &retryablehttp.Client{
		HTTPClient:   httpClient,
		Logger:       nil, // it would log URLs, and URLs may carry secrets
		RetryWaitMin: 50 * time.Millisecond,
		RetryWaitMax: 250 * time.Millisecond,
		RetryMax:     2,
		CheckRetry:   retryDialErrors,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
	}
	return &Executor{cfg: cfg, client: client, transport: transport}
}

// CloseIdleConnections releases pooled connections, e.g. at shutdown. The
// Executor stays usable.
func (e *Executor) CloseIdleConnections() { e.transport.CloseIdleConnections() }

// pooled is an http.RoundTripper without a CloseIdleConnections method.
type pooled struct{ t *http.Transport }

func (p pooled) RoundTrip(r *http.Request) (*http.Response, error) { return p.t.RoundTrip(r) }

// Execute performs one attempt of d. It returns when the peer has answered,
// the action's timeout has passed, or ctx is done, whichever comes first.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	start := time.Now()
	if d == nil || len(d.Fields) == 0 {
		return actions.Outcome{Status: actions.Permanent, Error: "delivery has no http request"}
	}
	h, err := httpActionOf(d)
	if err != nil {
		return actions.Outcome{Status: actions.Permanent, Error: err.Error()}
	}
	timeout := h.timeout
	if timeout <= 0 {
		timeout = e.cfg.DefaultTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r := resolver{env: e.cfg.Env, Redactor: e.redactors.New()}
	out := e.attempt(ctx, actx, timeout, d, &h, &r)
	out.Duration = time.Since(start)
	out.Error = r.Redact(out.Error)
	return out
}

func (e *Executor) attempt(ctx, actx context.Context, timeout time.Duration, d *actions.Delivery, h *httpAction, r *resolver) actions.Outcome {
	req, err := e.build(actx, d, h, r)
	if err != nil {
		return actions.Outcome{Status: actions.Permanent, Error: err.Error()}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return failed(ctx, actx, timeout, err)
	}
	return e.answered(resp, r)
}
