package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver plays every peer the generated rules talk to, on loopback: the
// signed webhook endpoint (Standard Webhooks verification on), a
// Twilio-compatible Messages endpoint and an SMTP server. It records each
// delivery it accepted, by a key the reconciliation can join with the
// server's answers:
//
//   - http: the webhook-id header, which is the delivery id;
//   - email: the Message-ID, whose left part is the delivery id;
//   - sms: "<event id> <action address>" from the "[ref ...]" tag the rules
//     put at the end of every text (Twilio's API carries no id of ours).
//
// With failRate > 0 it answers that share of requests with a retryable
// failure (503, or SMTP 451) before recording anything, as a flaky peer
// does.
type receiver struct {
	failRate float64
	hook     *standardwebhooks.Webhook
	token    string // Twilio auth token

	httpSrv *http.Server
	smtpSrv *smtp.Server
	baseURL string
	smtp    int // port

	mu  sync.Mutex
	got map[string]*receipt

	requests, injected, badSignature, badRequest atomic.Int64
}

// receipt is what the receiver saw of one delivery.
type receipt struct {
	kind  string
	first int64 // unix nanos of the first accepted attempt
	ok    int   // accepted attempts: more than one is a duplicate
}

func startReceiver(secret, twilioToken string, failRate float64) (*receiver, error) {
	hook, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r := &receiver{failRate: failRate, hook: hook, token: twilioToken, got: map[string]*receipt{}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/", r.serveHook)
	mux.HandleFunc("POST /twilio/2010-04-01/Accounts/{sid}/Messages.json", r.serveTwilio)
	r.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.baseURL = "http://" + ln.Addr().String()
	go r.httpSrv.Serve(ln)

	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.httpSrv.Close()
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r.smtp = sln.Addr().(*net.TCPAddr).Port
	r.smtpSrv = smtp.NewServer(smtpBackend{r})
	r.smtpSrv.Domain = "localhost"
	r.smtpSrv.ReadTimeout, r.smtpSrv.WriteTimeout = 10*time.Second, 10*time.Second
	r.smtpSrv.MaxMessageBytes = 1 << 20
	// A server killed mid-message (chaos mode) makes go-smtp log the reset
	// connection; the message is retried, which is all that matters here.
	r.smtpSrv.ErrorLog = log.New(io.Discard, "", 0)
	go r.smtpSrv.Serve(sln)
	return r, nil
}

func (r *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r.httpSrv.Shutdown(ctx)
	r.smtpSrv.Close()
}

// fail decides whether this request is one of the injected failures.
func (r *receiver) fail() bool {
	if r.failRate > 0 && rand.Float64() < r.failRate {
		r.injected.Add(1)
		return true
	}
	return false
}

func (r *receiver) record(kind, key string) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.got[key]
	if rc == nil {
		rc = &receipt{kind: kind, first: now}
		r.got[key] = rc
	}
	rc.ok++
}

// snapshot copies the receipts, for reconciliation while deliveries may
// still be arriving.
func (r *receiver) snapshot() map[string]receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]receipt, len(r.got))
	for k, v := range r.got {
		out[k] = *v
	}
	return out
}

func (r *receiver) serveHook(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		r.badRequest.Add(1)
		http.Error(w, "read error", http.StatusBadRequest)
		return
	}
	if r.fail() {
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}
	// A bad signature is answered 401, which Hookline treats as permanent:
	// the delivery is then reported lost, which is what a broken signer
	// deserves.
	if err := r.hook.Verify(body, req.Header); err != nil {
		r.badSignature.Add(1)
		http.Error(w, "signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	r.record("http", req.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) serveTwilio(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	reply := func(status int, body string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
	if u, p, ok := req.BasicAuth(); !ok || u != twilioSID || p != r.token || req.PathValue("sid") != twilioSID {
		r.badSignature.Add(1)
		reply(http.StatusUnauthorized, `{"code": 20003, "message": "Authenticate", "status": 401}`)
		return
	}
	if err := req.ParseForm(); err != nil {
		r.badRequest.Add(1)
		reply(http.StatusBadRequest, `{"code": 21601, "message": "bad form", "status": 400}`)
		return
	}
	if r.fail() {
		reply(http.StatusServiceUnavailable, `{"code": 20503, "message": "Service unavailable (injected)", "status": 503}`)
		return
	}
	key, ok := smsKey(req.PostForm.Get("Body"))
	if !ok {
		r.badRequest.Add(1)
		reply(http.StatusBadRequest, `{"code": 21602, "message": "no [ref] tag in the body", "status": 400}`)
		return
	}
	r.record("sms", key)
	reply(http.StatusCreated, fmt.Sprintf(`{"sid": "SM%032x", "status": "queued", "num_segments": "1"}`, rand.Uint64()))
}

// smsKey returns "<event id> <address>" from a text's trailing
// "[ref EVENT ADDRESS]" tag.
func smsKey(body string) (string, bool) {
	i := strings.LastIndex(body, benchRefPrefix)
	if i < 0 || !strings.HasSuffix(body, "]") {
		return "", false
	}
	return body[i+len(benchRefPrefix) : len(body)-1], true
}

type smtpBackend struct{ r *receiver }

func (b smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{r: b.r}, nil
}

type smtpSession struct{ r *receiver }

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *smtpSession) Reset()                               {}
func (s *smtpSession) Logout() error                        { return nil }

func (s *smtpSession) Data(rd io.Reader) error {
	s.r.requests.Add(1)
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	if s.r.fail() {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "injected failure, try again later"}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		s.r.badRequest.Add(1)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "unparsable message"}
	}
	id := strings.Trim(msg.Header.Get("Message-Id"), "<> ")
	left, _, ok := strings.Cut(id, "@")
	if !ok || left == "" {
		s.r.badRequest.Add(1)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "no Message-ID"}
	}
	s.r.record("email", left)
	return nil
}

// randFloat is a uniform float in [0, 1) from the global generator (safe for
// concurrent use).
func randFloat() float64 { return rand.Float64() }
