// Package testpeer runs real protocol peers on loopback for tests and the
// load harness: an SMTP server (go-smtp), a Twilio-compatible Messages
// endpoint and an OTLP/HTTP trace receiver (otlp.go). They record what they
// receive, so a test can assert that a delivery (or a span) arrived exactly
// as sent.
package testpeer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message as the SMTP server received it.
type Mail struct {
	From string
	To   []string
	Data []byte
	User string // the AUTH user, if any
}

// SMTP is an in-process SMTP server. With User set it requires AUTH PLAIN.
type SMTP struct {
	Addr       string
	User, Pass string

	srv  *smtp.Server
	mu   sync.Mutex
	mail []Mail
	got  chan struct{}
}

// NewSMTP starts an SMTP server on 127.0.0.1; Close stops it.
func NewSMTP(user, pass string) (*SMTP, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &SMTP{Addr: ln.Addr().String(), User: user, Pass: pass, got: make(chan struct{}, 1024)}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.AllowInsecureAuth = true // loopback only
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	go s.srv.Serve(ln)
	return s, nil
}

// Port is the listening port.
func (s *SMTP) Port() int { return portOf(s.Addr) }

// Close stops the server.
func (s *SMTP) Close() error { return s.srv.Close() }

// Messages returns what arrived so far.
func (s *SMTP) Messages() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

// Wait blocks until n messages arrived or the timeout passes.
func (s *SMTP) Wait(n int, timeout time.Duration) []Mail {
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.got:
		case <-deadline:
			return s.Messages()
		}
	}
}

// NewSession implements smtp.Backend.
func (s *SMTP) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }

type session struct {
	s    *SMTP
	user string
	m    Mail
}

func (x *session) AuthMechanisms() []string {
	if x.s.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != x.s.User || pass != x.s.Pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication failed"}
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.User != "" && x.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	x.m = Mail{From: from, User: x.user}
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.m.To = append(x.m.To, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.m.Data = b
	x.s.mu.Lock()
	x.s.mail = append(x.s.mail, x.m)
	x.s.mu.Unlock()
	select {
	case x.s.got <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        {}
func (x *session) Logout() error { return nil }

// SMS is one message the Twilio-compatible endpoint accepted.
type SMS struct {
	Account, To, From, MessagingServiceSID, Body, StatusCallback string
}

// Twilio is a Twilio-compatible Messages endpoint: it checks the path
// /2010-04-01/Accounts/{sid}/Messages.json and Basic auth, and answers
// like Twilio. Fail, when set, chooses a status to answer instead.
type Twilio struct {
	*httptest.Server
	SID, Token string
	Fail       func(SMS) int

	mu  sync.Mutex
	sms []SMS
	n   atomic.Int64
}

// NewTwilio starts the endpoint; Close stops it.
func NewTwilio(sid, token string) *Twilio {
	t := &Twilio{SID: sid, Token: token}
	t.Server = httptest.NewServer(http.HandlerFunc(t.serve))
	return t
}

func (t *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	want := "/2010-04-01/Accounts/" + t.SID + "/Messages.json"
	if r.Method != http.MethodPost || r.URL.Path != want {
		reply(404, map[string]any{"code": 20404, "message": "The requested resource was not found", "status": 404})
		return
	}
	if u, p, ok := r.BasicAuth(); !ok || u != t.SID || p != t.Token {
		reply(401, map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	if err := r.ParseForm(); err != nil {
		reply(400, map[string]any{"code": 21601, "message": err.Error(), "status": 400})
		return
	}
	m := SMS{Account: t.SID, To: r.PostForm.Get("To"), From: r.PostForm.Get("From"),
		MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"), Body: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback")}
	if t.Fail != nil {
		if status := t.Fail(m); status != 0 {
			reply(status, map[string]any{"code": 20500, "message": "failure chosen by the test", "status": status})
			return
		}
	}
	t.mu.Lock()
	t.sms = append(t.sms, m)
	t.mu.Unlock()
	n := t.n.Add(1)
	reply(201, map[string]any{"sid": fmt.Sprintf("SM%032d", n), "status": "queued", "to": m.To, "body": m.Body, "num_segments": "1"})
}

// Messages returns the accepted messages.
func (t *Twilio) Messages() []SMS {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]SMS(nil), t.sms...)
}

// Wait polls until n messages arrived or the timeout passes.
func (t *Twilio) Wait(n int, timeout time.Duration) []SMS {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := t.Messages(); len(m) >= n {
			return m
		}
		time.Sleep(5 * time.Millisecond)
	}
	return t.Messages()
}

// Header returns the value of a header in a raw message, or "".
func Header(data []byte, name string) string {
	for _, line := range bytes.Split(data, []byte("\r\n")) {
		if len(line) == 0 {
			break
		}
		k, v, ok := strings.Cut(string(line), ":")
		if ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}
