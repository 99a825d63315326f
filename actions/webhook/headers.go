package webhook

import (
	"fmt"
	"net/http"
)

// owned are the headers a rule may not set, with why. The transport frames
// and routes the request with the first ones (Host picks the virtual host,
// and behind a shared front end the tenant; a length or a hop-by-hop header
// that disagrees with the body invites request smuggling); signing sets the
// next three, and a rule setting them would forge or break a signature;
// tracing sets the W3C trace context from the attempt's span, and one
// rendered from an event would let the event graft it onto any trace.
// Keyed by canonical name.
var owned = map[string]string{
	"Host":              "the transport sets it from the url",
	"Content-Length":    "the transport sets it from the body",
	"Transfer-Encoding": "the transport sets it from the body",
	"Connection":        "the transport manages connections",
	"Keep-Alive":        "the transport manages connections",
	"Proxy-Connection":  "the transport manages connections",
	"Te":                "the transport manages connections",
	"Trailer":           "the transport manages connections",
	"Upgrade":           "the transport manages connections",
	"Webhook-Id":        "signing (signing_secret) sets it",
	"Webhook-Timestamp": "signing (signing_secret) sets it",
	"Webhook-Signature": "signing (signing_secret) sets it",
	"Traceparent":       "tracing sets it from the attempt's span",
	"Tracestate":        "tracing sets it from the attempt's span",
}

// checkHeaderName is the headers attribute's CheckKey: validate refuses
// what Execute would.
func checkHeaderName(name string) string {
	if err := headerNameError(name); err != nil {
		return err.Error() + "."
	}
	return ""
}

// headerNameError says why a rule cannot send a header of this name, or
// returns nil.
func headerNameError(name string) error {
	if !validToken(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	if why, ok := owned[http.CanonicalHeaderKey(name)]; ok {
		return fmt.Errorf("header %s cannot be set by a rule: %s", name, why)
	}
	return nil
}
