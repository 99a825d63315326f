package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
)

// retryDialErrors is the in-attempt retry policy: only a failure to connect
// is retried, because then the peer cannot have seen the request. Anything
// the peer answered, or that failed after sending, goes to the queue.
func retryDialErrors(ctx context.Context, _ *http.Response, err error) (bool, error) {
	if err == nil || ctx.Err() != nil {
		return false, nil
	}
	var blocked *actions.BlockedError
	if errors.As(err, &blocked) {
		return false, nil
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false, nil
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial", nil
}

// failed classifies an attempt that got no answer. ctx is the caller's,
// actx the attempt's (ctx plus the action timeout).
func failed(ctx, actx context.Context, timeout time.Duration, err error) actions.Outcome {
	var blocked *actions.BlockedError
	switch {
	case errors.As(err, &blocked):
		return actions.Outcome{Status: actions.Permanent, Error: blocked.Error()}
	case ctx.Err() != nil:
		// Interrupted, not failed: the queue should run it again.
		return actions.Outcome{Status: actions.Retry, Error: "attempt interrupted: " + ctx.Err().Error()}
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return actions.Outcome{Status: actions.Retry, Error: fmt.Sprintf("timed out after %s", timeout)}
	}
	// url.Error repeats the URL, which may carry secrets.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := "connection failed: " + err.Error()
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) {
		// Retry all the same: certificates get renewed and fixed.
		msg = "TLS certificate rejected: " + err.Error()
	}
	return actions.Outcome{Status: actions.Retry, Error: msg}
}

// answered classifies a response and records what the peer said.
func (e *Executor) answered(resp *http.Response, r *resolver) actions.Outcome {
	out := actions.Outcome{StatusCode: resp.StatusCode}
	out.Response = readResponse(resp.Body, r)

	code := resp.StatusCode
	// The peer's reason phrase is free text; the standard one is enough.
	status := strconv.Itoa(code) + " " + http.StatusText(code)
	switch {
	case code >= 200 && code < 300:
		out.Status = actions.Delivered
	case code >= 300 && code < 400:
		out.Status = actions.Permanent
		out.Error = "peer answered " + status + "; redirects are not followed, point the action at the final URL"
		if loc := resp.Header.Get("Location"); loc != "" {
			out.Error += fmt.Sprintf(" (Location: %q)", actions.Truncate(loc, 512))
		}
	case code == http.StatusGone:
		out.Status = actions.Permanent
		out.Error = "peer answered " + status + ": the receiver no longer accepts deliveries"
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		out.Status = actions.Retry
		out.Error = "peer answered " + status
		out.RetryAfter = actions.RetryAfter(resp.Header.Get("Retry-After"), e.cfg.Now(), e.cfg.MaxRetryAfter)
	default:
		out.Status = actions.Permanent
		out.Error = "peer answered " + status
	}
	return out
}

// drainLimit bounds how much of an answer we read past ResponseLimit to let
// the connection be reused; beyond it, closing is cheaper.
const drainLimit = 64 << 10

// readResponse returns the start of the answer with secrets scrubbed, then
// drains and closes the body. Read errors are ignored: the status line has
// already decided the outcome.
func readResponse(body io.ReadCloser, r *resolver) string {
	defer body.Close()
	// Read past the limit by the longest secret, so one that straddles the
	// cut is still whole when it is scrubbed. Most answers are shorter
	// than the limit, and for them the secrets' forms (which Longest
	// builds) are not needed to know how far to read.
	buf, _ := io.ReadAll(io.LimitReader(body, int64(actions.ResponseLimit)+1))
	if len(buf) > actions.ResponseLimit {
		more, _ := io.ReadAll(io.LimitReader(body, int64(r.Longest())))
		buf = append(buf, more...)
	}
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	s := r.Redact(string(buf))
	// Outcomes are stored and shown as text, so binary answers are mangled
	// rather than passed through.
	return actions.Truncate(strings.ToValidUTF8(s, "\uFFFD"), actions.ResponseLimit)
}
