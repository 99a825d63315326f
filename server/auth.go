package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// AuthOptions configure who may use the API.
type AuthOptions struct {
	// IngestTokens may post events (Authorization: Bearer ...).
	IngestTokens []string
	// IngestSecret (whsec_...) lets an upstream sender sign events per
	// Standard Webhooks instead of presenting a token.
	IngestSecret string
	// AdminToken may use the run log, retries, /v1/rules and /v1/reload.
	AdminToken string
	// Insecure allows listening beyond loopback without authentication.
	Insecure bool
}

type authenticator struct {
	ingest   [][32]byte // sha256 of each token: equal lengths for constant-time compare
	admin    *[32]byte
	wh       *standardwebhooks.Webhook
	insecure bool
	log      *slog.Logger
}

func newAuthenticator(o AuthOptions, log *slog.Logger) (*authenticator, error) {
	a := &authenticator{insecure: o.Insecure, log: log}
	for _, t := range o.IngestTokens {
		if t = strings.TrimSpace(t); t != "" {
			a.ingest = append(a.ingest, sha256.Sum256([]byte(t)))
		}
	}
	if o.AdminToken != "" {
		h := sha256.Sum256([]byte(o.AdminToken))
		a.admin = &h
	}
	if o.IngestSecret != "" {
		wh, err := standardwebhooks.NewWebhook(o.IngestSecret)
		if err != nil {
			return nil, errors.New("the ingest secret is not a valid Standard Webhooks secret (whsec_ followed by base64)")
		}
		a.wh = wh
	}
	return a, nil
}

func (a *authenticator) ingestProtected() bool { return len(a.ingest) > 0 || a.wh != nil }

// checkListen refuses an address beyond loopback unless both the intake and
// the admin API require credentials, or the operator said --insecure.
func (a *authenticator) checkListen(listen string, ln net.Listener) error {
	if a.insecure || (a.ingestProtected() && a.admin != nil) {
		return nil
	}
	addr := listen
	if ln != nil {
		addr = ln.Addr().String()
	}
	if loopbackHost(addr) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without authentication: set HOOKLINE_INGEST_TOKENS (or HOOKLINE_INGEST_SECRET) and HOOKLINE_ADMIN_TOKEN, listen on 127.0.0.1, or pass --insecure", addr)
}

// bearer returns the token of an Authorization header in the Bearer scheme.
// RFC 9110 (section 11.1) makes the scheme case-insensitive, and clients do
// send "bearer".
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func matches(tok string, want *[32]byte) bool {
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], want[:]) == 1
}

func (a *authenticator) isIngest(tok string) bool {
	ok := false
	for i := range a.ingest {
		if matches(tok, &a.ingest[i]) { // no early exit: time does not tell which
			ok = true
		}
	}
	return ok
}

// denied answers 401 or 403 and logs why, never the presented credential.
func (a *authenticator) denied(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookline"`)
	}
	a.log.Warn("request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "status", status, "reason", code)
	writeError(w, status, code, msg)
}

// checkIngest authenticates an event post from its headers and, for a
// signature, from body: the bytes received (what a sender signs, whichever
// the mode), read at most once and bounded. A token needs no body, and
// signature headers that are missing, malformed or stale are refused before
// it is read, so an unauthenticated client makes the server read nothing it
// can avoid. It returns false after answering the request.
func (a *authenticator) checkIngest(w http.ResponseWriter, r *http.Request, body func() ([]byte, error)) bool {
	if !a.ingestProtected() {
		return true
	}
	if tok, ok := bearer(r); ok {
		switch {
		case a.isIngest(tok):
			return true
		case a.admin != nil && matches(tok, a.admin):
			a.denied(w, r, http.StatusForbidden, "forbidden", "This token is for the admin API; post events with an ingest token.")
		default:
			a.denied(w, r, http.StatusUnauthorized, "unauthorized", "The token is not valid.")
		}
		return false
	}
	if r.Header.Get("Webhook-Signature") != "" && a.wh != nil {
		const refused = "The webhook signature does not verify, or its timestamp is more than 5 minutes from now."
		// Verifying no payload checks the headers and the timestamp; only a
		// signature mismatch needs the real body to decide.
		if err := a.wh.Verify(nil, r.Header); err != nil && !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			a.denied(w, r, http.StatusUnauthorized, "bad_signature", refused)
			return false
		}
		b, err := body()
		if err != nil {
			// Not 413: until the signature verifies, every refusal is a 401.
			msg := "The body could not be read whole, so its webhook signature could not be verified."
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				msg = fmt.Sprintf("The body is over the %d-byte limit, so its webhook signature could not be verified.", tooBig.Limit)
			}
			a.denied(w, r, http.StatusUnauthorized, "bad_signature", msg)
			return false
		}
		if err := a.wh.Verify(b, r.Header); err != nil {
			a.denied(w, r, http.StatusUnauthorized, "bad_signature", refused)
			return false
		}
		return true
	}
	a.denied(w, r, http.StatusUnauthorized, "unauthorized", "Send Authorization: Bearer <ingest token>, or sign the event per Standard Webhooks.")
	return false
}

// admin wraps the admin API.
func (a *authenticator) adminOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.admin == nil {
			h(w, r)
			return
		}
		tok, ok := bearer(r)
		switch {
		case !ok:
			a.denied(w, r, http.StatusUnauthorized, "unauthorized", "Send Authorization: Bearer <admin token>.")
		case matches(tok, a.admin):
			h(w, r)
		case a.isIngest(tok):
			a.denied(w, r, http.StatusForbidden, "forbidden", "This token may only post events.")
		default:
			a.denied(w, r, http.StatusUnauthorized, "unauthorized", "The token is not valid.")
		}
	}
}

// loopbackOnly wraps a server that listens on loopback because it lacks
// credentials (checkListen): it then answers only requests whose Host is a
// loopback name. A web page the operator opens can otherwise point a name
// of its own at 127.0.0.1 (DNS rebinding) and read the unauthenticated API
// as if it were its own origin.
func (a *authenticator) loopbackOnly(h http.Handler) http.Handler {
	if a.insecure || (a.ingestProtected() && a.admin != nil) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			a.log.Warn("request refused: not a loopback Host", "path", r.URL.Path, "remote", r.RemoteAddr)
			writeError(w, http.StatusMisdirectedRequest, "misdirected", "This server has no credentials set, so it answers only to localhost and loopback addresses; use http://127.0.0.1, or set HOOKLINE_INGEST_TOKENS and HOOKLINE_ADMIN_TOKEN.")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackHost says whether host[:port] (a listen address, a Host header)
// names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
