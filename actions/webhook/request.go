package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/go-retryablehttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/hookline/hookline/actions"
)

// resolver resolves Texts for one attempt and remembers the secret values it
// saw, so that they can be scrubbed from errors and from the peer's answer
// (a receiver that echoes its request would otherwise hand them back).
type resolver struct {
	env actions.EnvFunc
	*actions.Redactor
}

func (r *resolver) resolve(what string, t actions.Text) (string, error) {
	r.AddText(t, r.env)
	s, err := t.Resolve(r.env)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return s, nil
}

// build renders d into a request. Every error it returns is permanent: the
// same delivery renders the same way on every retry.
func (e *Executor) build(ctx context.Context, d *actions.Delivery, h *httpAction, r *resolver) (*retryablehttp.Request, error) {
	rawURL, err := r.resolve("url", h.url)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(rawURL, "\r\n") {
		return nil, errors.New("url contains a line break (CR or LF) after rendering; refusing to send it")
	}
	m := h.method
	if !validToken(m) {
		return nil, fmt.Errorf("invalid method %q", m)
	}
	req, err := http.NewRequestWithContext(ctx, m, rawURL, nil)
	if err != nil {
		// url.Error would quote the whole URL, secrets included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("invalid url: %v", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("invalid url: scheme %q is not http or https", req.URL.Scheme)
	}
	if req.URL.Host == "" {
		return nil, errors.New("invalid url: no host")
	}
	if u := req.URL.User; u != nil && h.url.Sensitive() {
		// net/http sends user info as a Basic Authorization header, and
		// base64 of the pair does not contain base64 of its secret part.
		p, _ := u.Password()
		r.AddBasicAuth(u.Username(), p)
	}

	for _, hd := range h.headers {
		// Validate refuses these in a rule, but a delivery stored before it
		// did may hold them.
		if err := headerNameError(hd.Name); err != nil {
			return nil, err
		}
		v, err := r.resolve("header "+hd.Name, hd.Value)
		if err != nil {
			return nil, err
		}
		if err := checkHeaderValue(hd.Name, v); err != nil {
			return nil, err
		}
		req.Header.Add(hd.Name, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", e.cfg.UserAgent)
	}

	body, err := r.resolve("body", h.body)
	if err != nil {
		return nil, err
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		// The default body is the event as JSON, and a template that
		// shapes one is JSON far more often than not; a rule that sends
		// something else sets its own Content-Type header.
		req.Header.Set("Content-Type", "application/json")
	}

	payload := []byte(body)
	if len(h.signingSecret) > 0 {
		if err := e.sign(d, h.signingSecret, req.Header, payload, r); err != nil {
			return nil, err
		}
	}
	// The attempt's span, when the store traces attempts: the receiver's
	// own spans then join the event's trace. Nothing without one.
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))

	rr, err := retryablehttp.FromRequest(req)
	if err != nil {
		return nil, err
	}
	if len(payload) > 0 {
		// A []byte body gives Content-Length and a rewindable reader, which
		// the in-attempt retries need.
		if err := rr.SetBody(payload); err != nil {
			return nil, err
		}
	}
	return rr, nil
}

// checkHeaderValue refuses what would let a rendered value start a new
// header or request (CR, LF) and the other controls net/http would refuse
// later with a less useful message. The value is never quoted back.
func checkHeaderValue(name, v string) error {
	if strings.ContainsAny(v, "\r\n") {
		return fmt.Errorf("header %s: value contains a line break (CR or LF) after rendering; refusing to send it", name)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return fmt.Errorf("header %s: value contains a control character", name)
		}
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token, the syntax of both
// method and header names.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
