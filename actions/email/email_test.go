package email_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"go.uber.org/goleak"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/email"
)

func TestMain(m *testing.M) {
	// Per-test goleak checks cannot work with t.Parallel; checking once
	// after every test has finished still catches a connection, dial or
	// AfterFunc goroutine left behind by an attempt.
	goleak.VerifyTestMain(m)
}

func envMap(m map[string]string) actions.EnvFunc {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func lit(s string) actions.Text { return actions.Literal(s) }

func env(name string) actions.Text { return actions.Text{{Env: name}} }

// message is what an email action renders, field by field.
type message struct {
	To, Cc, Bcc                      []actions.Text
	ReplyTo, Subject, Body, HTMLBody actions.Text
}

// delivery renders m as the engine would: the fields of email.Type.
func delivery(id string, m *message) *actions.Delivery {
	var f actions.Fields
	f.Set("to", actions.Value{List: m.To})
	f.Set("cc", actions.Value{List: m.Cc})
	f.Set("bcc", actions.Value{List: m.Bcc})
	f.Set("reply_to", actions.Value{Text: m.ReplyTo})
	f.Set("subject", actions.Value{Text: m.Subject})
	f.Set("body", actions.Value{Text: m.Body})
	f.Set("html_body", actions.Value{Text: m.HTMLBody})
	return &actions.Delivery{
		ID: id, EventID: "evt-1", Address: "appointment.created.email.notify",
		Trigger: "appointment.created", Type: "email", Name: "notify", Attempt: 1,
		Fields: f,
	}
}

// simple is a message with one literal recipient.
func simple() *message {
	return &message{
		To:      []actions.Text{lit("ann@example.com")},
		Subject: lit("Hello"),
		Body:    lit("Body text"),
	}
}

// loopback lets the executor reach the test's servers, which the SSRF guard
// refuses by default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// newExec builds an Executor for srv; mutate adjusts the config.
func newExec(t *testing.T, host string, port int, mutate func(*email.Config)) *email.Executor {
	t.Helper()
	cfg := email.Config{
		Host:    host,
		Port:    port,
		TLS:     email.TLSNone,
		From:    "alerts@example.com",
		Env:     envMap(nil),
		Timeout: 10 * time.Second,
		Allow:   loopback, // the test servers'
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e, err := email.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func wantStatus(t *testing.T, out actions.Outcome, want actions.Status) {
	t.Helper()
	if out.Status != want {
		t.Fatalf("status = %v, want %v (error %q, response %q)", out.Status, want, out.Error, out.Response)
	}
}

// parsed is a received message read back with net/mail and mime/multipart.
type parsed struct {
	Header mail.Header
	Raw    string // the header block as sent
	Parts  map[string]string
	Order  []string // content types of the parts, in order
	Type   string   // top-level media type
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	raw, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	p := parsed{Header: msg.Header, Raw: string(raw), Parts: map[string]string{}}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	p.Type = mt
	if !strings.HasPrefix(mt, "multipart/") {
		var body io.Reader = msg.Body
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		p.Parts[mt] = crlf(string(b))
		p.Order = append(p.Order, mt)
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, pparams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if !strings.EqualFold(pparams["charset"], "utf-8") {
			t.Errorf("part %s charset = %q, want UTF-8", pt, pparams["charset"])
		}
		b, err := io.ReadAll(part) // NextPart undoes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		p.Parts[pt] = crlf(string(b))
		p.Order = append(p.Order, pt)
	}
	return p
}

func crlf(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func addrs(t *testing.T, h mail.Header, key string) []string {
	t.Helper()
	list, err := h.AddressList(key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.String())
	}
	return out
}

func TestDeliverPlainMultipart(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
		c.From = `"Hookline Alerts" <alerts@example.com>`
		c.Env = envMap(map[string]string{"ONCALL": "bob@example.net, Carol <carol@example.org>"})
	})
	subject := "Rendez-vous confirmé ✅ — Zoë arrive à 9h"
	body := "Hello Ann,\n.a line starting with a dot\nprice = 10€, façade\n"
	html := "<p>Hello <b>Ann</b> — à bientôt</p>"
	d := delivery("d-123", &message{
		To:       []actions.Text{lit("Ann Example <ann@example.com>"), env("ONCALL")},
		Cc:       []actions.Text{lit("dave@example.com")},
		Bcc:      []actions.Text{lit("audit@example.com")},
		ReplyTo:  lit("Support <support@example.com>"),
		Subject:  lit(subject),
		Body:     lit(body),
		HTMLBody: lit(html),
	})

	out := e.Execute(context.Background(), d)
	wantStatus(t, out, actions.Delivered)
	if out.StatusCode != 250 || out.Error != "" || out.Duration <= 0 {
		t.Errorf("outcome = %+v, want code 250, no error, a duration", out)
	}
	if !strings.HasPrefix(out.Response, "250 ") {
		t.Errorf("Response = %q, want the server's final 250 reply", out.Response)
	}
	if out.ProviderID != "<d-123@example.com>" {
		t.Errorf("ProviderID = %q, want <d-123@example.com>", out.ProviderID)
	}

	msgs := srv.B.messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.From != "alerts@example.com" {
		t.Errorf("MAIL FROM = %q, want the bare from address", got.From)
	}
	wantRcpt := []string{"ann@example.com", "bob@example.net", "carol@example.org", "dave@example.com", "audit@example.com"}
	if !slices.Equal(got.To, wantRcpt) {
		t.Errorf("RCPT TO = %q, want %q", got.To, wantRcpt)
	}

	p := parse(t, got.Data)
	for i := 0; i < len(p.Raw); i++ {
		if p.Raw[i] >= 0x80 {
			t.Fatalf("header block has a raw non-ASCII byte at %d:\n%s", i, p.Raw)
		}
	}
	h := p.Header
	if f := addrs(t, h, "From"); !slices.Equal(f, []string{`"Hookline Alerts" <alerts@example.com>`}) {
		t.Errorf("From = %q", f)
	}
	if to := addrs(t, h, "To"); !slices.Equal(to, []string{`"Ann Example" <ann@example.com>`, "<bob@example.net>", `"Carol" <carol@example.org>`}) {
		t.Errorf("To = %q", to)
	}
	if cc := addrs(t, h, "Cc"); !slices.Equal(cc, []string{"<dave@example.com>"}) {
		t.Errorf("Cc = %q", cc)
	}
	if rt := addrs(t, h, "Reply-To"); !slices.Equal(rt, []string{`"Support" <support@example.com>`}) {
		t.Errorf("Reply-To = %q", rt)
	}
	if _, ok := h["Bcc"]; ok || bytes.Contains(got.Data, []byte("audit@")) {
		t.Errorf("the Bcc recipient is visible in the message:\n%s", p.Raw)
	}
	if !strings.Contains(h.Get("Subject"), "=?UTF-8?") {
		t.Errorf("Subject %q is not MIME-encoded", h.Get("Subject"))
	}
	if s, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || s != subject {
		t.Errorf("Subject decodes to %q (%v), want %q", s, err, subject)
	}
	if id := h.Get("Message-Id"); id != out.ProviderID {
		t.Errorf("Message-ID = %q, want %q", id, out.ProviderID)
	}
	if h.Get("Date") == "" || h.Get("Mime-Version") != "1.0" {
		t.Errorf("Date %q, MIME-Version %q", h.Get("Date"), h.Get("Mime-Version"))
	}
	if h.Get("Auto-Submitted") != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", h.Get("Auto-Submitted"))
	}
	if ua := h.Get("User-Agent") + h.Get("X-Mailer"); ua != "" {
		t.Errorf("library advertised in headers: %q", ua)
	}

	if p.Type != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", p.Type)
	}
	if !slices.Equal(p.Order, []string{"text/plain", "text/html"}) {
		t.Errorf("parts = %q, want text/plain then text/html (the preferred one last)", p.Order)
	}
	if p.Parts["text/plain"] != body {
		t.Errorf("text part = %q, want %q", p.Parts["text/plain"], body)
	}
	if p.Parts["text/html"] != html {
		t.Errorf("html part = %q, want %q", p.Parts["text/html"], html)
	}

	// A retry of the same delivery is the same message to the recipients.
	d.Attempt = 2
	wantStatus(t, e.Execute(context.Background(), d), actions.Delivered)
	msgs = srv.B.messages()
	if len(msgs) != 2 {
		t.Fatalf("server got %d messages, want 2", len(msgs))
	}
	if id := parse(t, msgs[1].Data).Header.Get("Message-Id"); id != out.ProviderID {
		t.Errorf("retry Message-ID = %q, want %q", id, out.ProviderID)
	}
}

func TestTextOnlyBody(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	m := simple()
	m.Body = lit("Just text, with ünïcödé and a long line " + strings.Repeat("x", 120))
	out := e.Execute(context.Background(), delivery("d-text", m))
	wantStatus(t, out, actions.Delivered)

	p := parse(t, srv.B.messages()[0].Data)
	if p.Type != "text/plain" {
		t.Fatalf("Content-Type = %q, want text/plain", p.Type)
	}
	// SMTP ends every message with a line break; go-mail adds one.
	if got := strings.TrimSuffix(p.Parts["text/plain"], "\n"); got != m.Body[0].Lit {
		t.Errorf("body = %q, want %q", got, m.Body[0].Lit)
	}
	if _, ok := p.Header["Reply-To"]; ok {
		t.Error("Reply-To set although none was given")
	}
	if _, ok := p.Header["Cc"]; ok {
		t.Error("empty Cc header written")
	}
}

func TestSTARTTLSWithAuth(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := startServer(t, &backend{User: "hook", Pass: "pa55word"}, "starttls", cert)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
		c.TLS = email.TLSStartTLS
		c.TLSConfig = &tls.Config{RootCAs: pool}
		c.Username, c.Password = "hook", "pa55word"
	})
	wantStatus(t, e.Execute(context.Background(), delivery("d-starttls", simple())), actions.Delivered)
	got := srv.B.messages()[0]
	if !got.TLS || got.AuthUser != "hook" {
		t.Errorf("server saw TLS=%v user=%q, want TLS and user hook", got.TLS, got.AuthUser)
	}
}

func TestSTARTTLSUntrustedCertificate(t *testing.T) {
	t.Parallel()
	cert, _ := selfSigned(t)
	srv := startServer(t, nil, "starttls", cert)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.TLS = email.TLSStartTLS })
	out := e.Execute(context.Background(), delivery("d-untrusted", simple()))
	// A certificate problem is fixed on the server or in the config, not
	// by the message; until then the queue keeps the message.
	wantStatus(t, out, actions.Retry)
	if !strings.Contains(out.Error, "certificate") {
		t.Errorf("error %q does not mention the certificate", out.Error)
	}
	if n := len(srv.B.messages()); n != 0 {
		t.Errorf("server got %d messages over an unverified connection", n)
	}
}

func TestSTARTTLSNotOffered(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.TLS = email.TLSStartTLS })
	out := e.Execute(context.Background(), delivery("d-nostarttls", simple()))
	wantStatus(t, out, actions.Permanent)
	if !strings.Contains(out.Error, "STARTTLS") {
		t.Errorf("error %q does not mention STARTTLS", out.Error)
	}
	if n := len(srv.B.messages()); n != 0 {
		t.Errorf("message sent in clear text although starttls is mandatory")
	}
}

// TestConnectionClosedAfterEarlyFailure covers go-mail returning from a
// failed EHLO/STARTTLS/AUTH step without closing its socket: the server must
// see the client go away at once, not at its read timeout.
func TestConnectionClosedAfterEarlyFailure(t *testing.T) {
	t.Parallel()
	for name, mutate := range map[string]func(*email.Config){
		"starttls not offered": func(c *email.Config) { c.TLS = email.TLSStartTLS },
		"auth not offered":     func(c *email.Config) { c.Username, c.Password = "hook", "pw" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			logout := make(chan struct{}, 1)
			srv := startServer(t, &backend{Logout: logout}, "none", nil)
			e := newExec(t, srv.Host, srv.Port, mutate)
			wantStatus(t, e.Execute(context.Background(), delivery("d-early", simple())), actions.Permanent)
			select {
			case <-logout:
			case <-time.After(3 * time.Second):
				t.Fatal("the server still holds the connection after Execute returned")
			}
		})
	}
}

func TestImplicitTLSWithAuth(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := startServer(t, &backend{User: "hook", Pass: "pa55word"}, "tls", cert)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
		c.TLS = email.TLSImplicit
		c.TLSConfig = &tls.Config{RootCAs: pool}
		c.Username, c.Password = "hook", "pa55word"
	})
	wantStatus(t, e.Execute(context.Background(), delivery("d-tls", simple())), actions.Delivered)
	got := srv.B.messages()[0]
	if !got.TLS || got.AuthUser != "hook" {
		t.Errorf("server saw TLS=%v user=%q, want TLS and user hook", got.TLS, got.AuthUser)
	}
}

func TestAuthPlainOnLoopbackWithoutTLS(t *testing.T) {
	t.Parallel()
	srv := startServer(t, &backend{User: "hook", Pass: "pa55word"}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.Username, c.Password = "hook", "pa55word" })
	wantStatus(t, e.Execute(context.Background(), delivery("d-plain", simple())), actions.Delivered)
	if u := srv.B.messages()[0].AuthUser; u != "hook" {
		t.Errorf("authenticated as %q, want hook", u)
	}
}

func TestAuthLoginOnlyServer(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	srv := startServer(t, &backend{User: "hook", Pass: "pa55word", LoginOnly: true}, "starttls", cert)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
		c.TLS = email.TLSStartTLS
		c.TLSConfig = &tls.Config{RootCAs: pool}
		c.Username, c.Password = "hook", "pa55word"
	})
	wantStatus(t, e.Execute(context.Background(), delivery("d-login", simple())), actions.Delivered)
	if u := srv.B.messages()[0].AuthUser; u != "hook" {
		t.Errorf("authenticated as %q, want hook", u)
	}
}

func TestAuthFailureIsPermanent(t *testing.T) {
	t.Parallel()
	srv := startServer(t, &backend{User: "hook", Pass: "right"}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.Username, c.Password = "hook", "wrong-Secret" })
	out := e.Execute(context.Background(), delivery("d-badauth", simple()))
	wantStatus(t, out, actions.Permanent)
	if out.StatusCode != 535 {
		t.Errorf("StatusCode = %d, want 535", out.StatusCode)
	}
	if !strings.Contains(out.Error, "AUTH") {
		t.Errorf("error %q does not say authentication failed", out.Error)
	}
}

func TestAuthNotOffered(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.Username, c.Password = "hook", "pw" })
	out := e.Execute(context.Background(), delivery("d-noauth", simple()))
	wantStatus(t, out, actions.Permanent)
	if !strings.Contains(out.Error, "AUTH") {
		t.Errorf("error %q does not mention AUTH", out.Error)
	}
}

func TestSMTPReplies(t *testing.T) {
	t.Parallel()
	tempErr := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	hardErr := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	tests := []struct {
		name string
		b    *backend
		want actions.Status
		code int
	}{
		{"greeting refused 554", &backend{Greet: &smtp.SMTPError{Code: 554, Message: "go away"}}, actions.Permanent, 554},
		{"greeting refused 421", &backend{Greet: &smtp.SMTPError{Code: 421, Message: "busy"}}, actions.Retry, 421},
		{"MAIL 451", &backend{MailReply: func(string) error { return tempErr }}, actions.Retry, 451},
		{"MAIL 550", &backend{MailReply: func(string) error { return hardErr }}, actions.Permanent, 550},
		{"RCPT 451", &backend{RcptReply: func(string) error { return tempErr }}, actions.Retry, 451},
		{"RCPT 550", &backend{RcptReply: func(string) error { return hardErr }}, actions.Permanent, 550},
		{"RCPT 452 on one of two", &backend{RcptReply: func(to string) error {
			if to == "bob@example.com" {
				return &smtp.SMTPError{Code: 452, Message: "mailbox full"}
			}
			return nil
		}}, actions.Retry, 452},
		{"DATA 451", &backend{DataReply: func([]byte) error { return tempErr }}, actions.Retry, 451},
		{"DATA 554", &backend{DataReply: func([]byte) error {
			return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "spam"}
		}}, actions.Permanent, 554},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.b, "none", nil)
			e := newExec(t, srv.Host, srv.Port, nil)
			m := simple()
			m.To = append(m.To, lit("bob@example.com"))
			out := e.Execute(context.Background(), delivery("d-"+strings.ReplaceAll(tt.name, " ", "-"), m))
			wantStatus(t, out, tt.want)
			if out.StatusCode != tt.code {
				t.Errorf("StatusCode = %d, want %d (error %q)", out.StatusCode, tt.code, out.Error)
			}
			if !strings.Contains(out.Error, fmt.Sprint(tt.code)) {
				t.Errorf("error %q does not show the reply", out.Error)
			}
			if n := len(srv.B.messages()); n != 0 {
				t.Errorf("server stored %d messages", n)
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	e := newExec(t, "127.0.0.1", freePort(t), nil)
	out := e.Execute(context.Background(), delivery("d-refused", simple()))
	wantStatus(t, out, actions.Retry)
	if out.StatusCode != 0 || !strings.Contains(out.Error, "refused") {
		t.Errorf("outcome = %+v, want no code and a connection error", out)
	}
	if out.ProviderID == "" {
		t.Error("no Message-ID recorded for the attempt")
	}
}

func TestHeaderInjection(t *testing.T) {
	t.Parallel()
	const secret = "victim@example.com\r\nBcc: attacker@evil.test"
	tests := []struct {
		name  string
		m     func(*message)
		field string
	}{
		{"subject CRLF", func(m *message) { m.Subject = lit("Hi\r\nBcc: attacker@evil.test") }, "subject"},
		{"subject LF", func(m *message) { m.Subject = actions.Text{{Lit: "Hi "}, {Env: "INJECT"}} }, "subject"},
		{"to CRLF", func(m *message) {
			m.To = []actions.Text{lit("ann@example.com\r\nBcc: attacker@evil.test")}
		}, "to[0]"},
		{"to from env", func(m *message) { m.To = []actions.Text{lit("ann@example.com"), env("INJECT")} }, "to[1]"},
		{"cc folded", func(m *message) { m.Cc = []actions.Text{lit("Ann\r\n <ann@example.com>")} }, "cc[0]"},
		{"reply_to", func(m *message) { m.ReplyTo = lit("x@example.com\nBcc: attacker@evil.test") }, "reply_to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, nil, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Env = envMap(map[string]string{"INJECT": secret})
			})
			m := simple()
			tt.m(m)
			out := e.Execute(context.Background(), delivery("d-inject", m))
			wantStatus(t, out, actions.Permanent)
			if !strings.Contains(out.Error, tt.field) || !strings.Contains(out.Error, "line break") {
				t.Errorf("error %q does not name %s and the line break", out.Error, tt.field)
			}
			if strings.Contains(out.Error, "victim") {
				t.Errorf("error %q shows the env() value", out.Error)
			}
			if n := srv.B.sessionCount(); n != 0 {
				t.Errorf("server was contacted %d times", n)
			}
		})
	}
}

func TestBadAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    func(*message)
		want string
	}{
		{"no at sign", func(m *message) { m.To = []actions.Text{lit("not-an-address")} }, `email to[0] "not-an-address" is not a valid email address`},
		{"unclosed angle", func(m *message) { m.To = []actions.Text{lit("Ann <ann@example.com")} }, "email to[0]"},
		{"empty", func(m *message) { m.Cc = []actions.Text{lit("")} }, `email cc[0] "" is empty`},
		{"bad bcc in list", func(m *message) { m.Bcc = []actions.Text{lit("ok@example.com"), lit("a@b@c")} }, "email bcc[1]"},
		{"bad reply_to", func(m *message) { m.ReplyTo = lit("support at example.com") }, "email reply_to"},
		{"secret bad address", func(m *message) { m.To = []actions.Text{env("BAD_TO")} }, `email to[0] "(sensitive)" is not a valid email address`},
		{"missing variable", func(m *message) { m.To = []actions.Text{env("NOPE")} }, "email to[0]: environment variable NOPE is not set"},
		{"missing subject variable", func(m *message) { m.Subject = env("NOPE") }, "email subject: environment variable NOPE is not set"},
		{"no recipients", func(m *message) { m.To = nil }, "no recipients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, nil, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Env = envMap(map[string]string{"BAD_TO": "private-list.example.com"})
			})
			m := simple()
			tt.m(m)
			out := e.Execute(context.Background(), delivery("d-bad", m))
			wantStatus(t, out, actions.Permanent)
			if !strings.Contains(out.Error, tt.want) {
				t.Errorf("error = %q, want it to contain %q", out.Error, tt.want)
			}
			if strings.Contains(out.Error, "private-list") {
				t.Errorf("error %q shows the env() value", out.Error)
			}
			if n := srv.B.sessionCount(); n != 0 {
				t.Errorf("server was contacted %d times", n)
			}
		})
	}
}

func TestBadDelivery(t *testing.T) {
	t.Parallel()
	e := newExec(t, "127.0.0.1", 25, nil)
	for name, d := range map[string]*actions.Delivery{
		"nil":      nil,
		"no email": {ID: "d-1", Type: "email"},
		"no id":    delivery("", simple()),
	} {
		if out := e.Execute(context.Background(), d); out.Status != actions.Permanent {
			t.Errorf("%s: status %v, want permanent (%q)", name, out.Status, out.Error)
		}
	}
}

func TestMessageIDFromOddDeliveryIDs(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	seen := map[string]string{}
	for _, id := range []string{"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "has space", "has@at", "<angle>", "ünï", "has space "} {
		out1 := e.Execute(context.Background(), delivery(id, simple()))
		out2 := e.Execute(context.Background(), delivery(id, simple()))
		wantStatus(t, out1, actions.Delivered)
		if out1.ProviderID != out2.ProviderID {
			t.Errorf("id %q: Message-ID changed between attempts: %q, %q", id, out1.ProviderID, out2.ProviderID)
		}
		if _, err := mail.ParseAddress(strings.Trim(out1.ProviderID, "<>")); err != nil || !strings.HasSuffix(out1.ProviderID, "@example.com>") {
			t.Errorf("id %q: Message-ID %q is not a valid msg-id in the sender's domain (%v)", id, out1.ProviderID, err)
		}
		if prev, ok := seen[out1.ProviderID]; ok {
			t.Errorf("ids %q and %q share Message-ID %q", prev, id, out1.ProviderID)
		}
		seen[out1.ProviderID] = id
	}
	for _, m := range srv.B.messages() {
		id := parse(t, m.Data).Header.Get("Message-Id")
		if _, ok := seen[id]; !ok {
			t.Errorf("message sent with Message-ID %q that no outcome reported", id)
		}
	}
}

// TestCancelStopsPromptly covers both places an attempt can hang: before the
// greeting and in the middle of DATA, after go-mail's dial-only use of the
// context is over.
func TestCancelStopsPromptly(t *testing.T) {
	t.Parallel()
	t.Run("greeting", func(t *testing.T) {
		t.Parallel()
		host, port := startStaller(t)
		e := newExec(t, host, port, func(c *email.Config) { c.Timeout = time.Minute })
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		out := e.Execute(ctx, delivery("d-cancel-greet", simple()))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Execute took %s after cancellation", d)
		}
		wantStatus(t, out, actions.Retry)
		if !strings.Contains(out.Error, "interrupted") || !strings.Contains(out.Error, "canceled") {
			t.Errorf("error %q does not say the attempt was cancelled", out.Error)
		}
	})
	t.Run("data", func(t *testing.T) {
		t.Parallel()
		stall := make(chan struct{})
		started := make(chan struct{})
		var once sync.Once
		srv := startServer(t, &backend{DataStall: stall, OnData: func() { once.Do(func() { close(started) }) }}, "none", nil)
		t.Cleanup(func() { close(stall) }) // runs before the server is closed
		e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.Timeout = time.Minute })
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			<-started
			cancel()
		}()
		start := time.Now()
		out := e.Execute(ctx, delivery("d-cancel-data", simple()))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Execute took %s after cancellation", d)
		}
		wantStatus(t, out, actions.Retry)
		if !strings.Contains(out.Error, "interrupted") {
			t.Errorf("error %q does not say the attempt was interrupted", out.Error)
		}
	})
	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, nil, "none", nil)
		e := newExec(t, srv.Host, srv.Port, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out := e.Execute(ctx, delivery("d-cancel-before", simple()))
		wantStatus(t, out, actions.Retry)
		if n := srv.B.sessionCount(); n != 0 {
			t.Errorf("server was contacted %d times", n)
		}
	})
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	host, port := startStaller(t)
	e := newExec(t, host, port, func(c *email.Config) { c.Timeout = 200 * time.Millisecond })
	start := time.Now()
	out := e.Execute(context.Background(), delivery("d-timeout", simple()))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Execute took %s with a 200ms timeout", d)
	}
	wantStatus(t, out, actions.Retry)
	if !strings.Contains(out.Error, "timed out") && !strings.Contains(out.Error, "timeout") {
		t.Errorf("error %q does not say the attempt timed out", out.Error)
	}
}

// TestSecretsNeverLeak has the server echo everything secret it can see in
// its refusals, and checks that none of it reaches the Outcome or the log.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		password = "Hunter2-Pa55word"
		toSecret = "Ops Team <oncall+Sekr1tTag@private.example.com>"
		subjSec  = "SubjectSecret-77"
		bodySec  = "BodySecret-88"
	)
	secrets := []string{
		password, "oncall+Sekr1tTag@private.example.com", "Sekr1tTag", subjSec, bodySec,
		base64.StdEncoding.EncodeToString([]byte("\x00hook\x00" + password)),
		base64.StdEncoding.EncodeToString([]byte(password)),
	}
	tests := []struct {
		name string
		b    *backend
		want actions.Status
	}{
		{"auth rejected echoing credentials", &backend{User: "hook", AuthReply: func(user, pass string) error {
			blob := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
			return &smtp.SMTPError{Code: 535, Message: fmt.Sprintf("bad credentials %s/%s (%s)", user, pass, blob)}
		}}, actions.Permanent},
		{"auth rejected 454 echoing credentials", &backend{User: "hook", AuthReply: func(_, pass string) error {
			return &smtp.SMTPError{Code: 454, Message: "temporary failure for " + strings.ToUpper(pass)}
		}}, actions.Retry},
		{"rcpt rejected echoing address", &backend{User: "hook", Pass: password, RcptReply: func(to string) error {
			return &smtp.SMTPError{Code: 550, Message: "no such user " + strings.ToUpper(to)}
		}}, actions.Permanent},
		{"data rejected echoing content", &backend{User: "hook", Pass: password, DataReply: func(data []byte) error {
			p, _ := mail.ReadMessage(bytes.NewReader(data))
			b, _ := io.ReadAll(p.Body)
			return &smtp.SMTPError{Code: 451, Message: fmt.Sprintf("greylisted %q %q %q", p.Header.Get("Subject"), p.Header.Get("To"), b)}
		}}, actions.Retry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.b, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Username, c.Password = "hook", password
				c.Env = envMap(map[string]string{"TO": toSecret, "SUBJ": subjSec, "BODY": bodySec})
			})
			out := e.Execute(context.Background(), delivery("d-secret", &message{
				To:      []actions.Text{env("TO")},
				Subject: actions.Text{{Lit: "Alert "}, {Env: "SUBJ"}},
				Body:    actions.Text{{Lit: "token: "}, {Env: "BODY"}},
			}))
			wantStatus(t, out, tt.want)
			if out.StatusCode == 0 || out.Error == "" {
				t.Errorf("outcome %+v lacks the reply code or error", out)
			}
			for where, s := range map[string]string{"Error": out.Error, "Response": out.Response, "ProviderID": out.ProviderID} {
				for _, secret := range secrets {
					if strings.Contains(strings.ToLower(s), strings.ToLower(secret)) {
						t.Errorf("%s contains secret %q:\n%s", where, secret, s)
					}
				}
			}
			if !strings.Contains(out.Error+out.Response, "(sensitive)") {
				t.Errorf("expected the echoed secret to be replaced, got error %q response %q", out.Error, out.Response)
			}
		})
	}
}

func TestConcurrentAttempts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			out := e.Execute(context.Background(), delivery(fmt.Sprintf("d-conc-%d", i), simple()))
			if out.Status != actions.Delivered {
				t.Errorf("attempt %d: %v %q", i, out.Status, out.Error)
			}
		})
	}
	wg.Wait()
	if n := len(srv.B.messages()); n != 8 {
		t.Errorf("server got %d messages, want 8", n)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	t.Parallel()
	valid := email.Config{Host: "smtp.example.com", From: "alerts@example.com"}
	tests := []struct {
		name   string
		mutate func(*email.Config)
		want   string
	}{
		{"no host", func(c *email.Config) { c.Host = "" }, "smtp host is required"},
		{"host with port", func(c *email.Config) { c.Host = "smtp.example.com:587" }, "smtp host"},
		{"host with scheme", func(c *email.Config) { c.Host = "smtp://smtp.example.com" }, "smtp host"},
		{"port", func(c *email.Config) { c.Port = 70000 }, "smtp port"},
		{"tls", func(c *email.Config) { c.TLS = "ssl" }, `smtp tls "ssl"`},
		{"no from", func(c *email.Config) { c.From = "" }, "smtp from is required"},
		{"bad from", func(c *email.Config) { c.From = "alerts" }, `smtp from "alerts"`},
		{"from injection", func(c *email.Config) { c.From = "a@example.com\r\nBcc: x@evil.test" }, "line break"},
		{"password only", func(c *email.Config) { c.Password = "x" }, "smtp password"},
		{"username only", func(c *email.Config) { c.Username = "x" }, "smtp username"},
		{"clear-text auth", func(c *email.Config) { c.TLS, c.Username, c.Password = email.TLSNone, "u", "p" }, "clear text"},
		{"timeout", func(c *email.Config) { c.Timeout = -time.Second }, "smtp timeout"},
	}
	for _, tt := range tests {
		cfg := valid
		tt.mutate(&cfg)
		_, err := email.New(cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to contain %q", tt.name, err, tt.want)
		}
		if err != nil && cfg.Password != "" && strings.Contains(err.Error(), cfg.Password) && len(cfg.Password) > 1 {
			t.Errorf("%s: error shows the password", tt.name)
		}
	}

	for _, ok := range []email.Config{
		valid,
		{Host: "localhost", TLS: email.TLSNone, Username: "u", Password: "p", From: "a@example.com"},
		{Host: "::1", TLS: email.TLSImplicit, From: "A <a@example.com>"},
		{Host: "192.0.2.1", TLS: email.TLSStartTLS, Port: 2525, Username: "u", Password: "p", From: "a@example.com", TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}},
	} {
		if _, err := email.New(ok); err != nil {
			t.Errorf("New(%+v): %v", ok, err)
		}
	}
}

// encodings are the forms, besides textual escapes, in which a peer may
// echo a value it was sent.
func encodings(v string) [][2]string {
	b := []byte(v)
	var dec, hexRefs strings.Builder
	for _, c := range v {
		fmt.Fprintf(&dec, "&#%d;", c)
		fmt.Fprintf(&hexRefs, "&#x%X;", c)
	}
	return [][2]string{
		{"base64", base64.StdEncoding.EncodeToString(b)},
		{"base64 unpadded", base64.RawStdEncoding.EncodeToString(b)},
		{"base64url", base64.URLEncoding.EncodeToString(b)},
		{"base64url unpadded", base64.RawURLEncoding.EncodeToString(b)},
		{"hex", hex.EncodeToString(b)},
		{"HEX", strings.ToUpper(hex.EncodeToString(b))},
		{"HTML escaped", html.EscapeString(v)},
		{"HTML decimal references", dec.String()},
		{"HTML hex references", hexRefs.String()},
	}
}

// echoed is an SMTP reply text showing each value in each encoding as
// [name encoding=VALUE]. A raw NUL has no place in a reply line, so forms
// that keep one are left out.
func echoed(values ...[2]string) string {
	var b strings.Builder
	for _, v := range values {
		for _, e := range encodings(v[1]) {
			if !strings.Contains(e[1], "\x00") {
				fmt.Fprintf(&b, "[%s %s=%s] ", v[0], e[0], e[1])
			}
		}
	}
	return b.String()
}

var echoedValue = regexp.MustCompile(`\[([^=\]]+)=([^\]]*)\]`)

// TestEncodedSecretsNeverLeak has the server echo the password, the AUTH
// PLAIN blob, a secret recipient and secrets of the message in each
// encoding: the stored outcome must hide them all.
func TestEncodedSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const (
		password = "Hunter2-Pa55word<&>"
		toSecret = "Ops Team <oncall+Sekr1tTag@private.example.com>"
		toAddr   = "oncall+Sekr1tTag@private.example.com"
		subjSec  = `SubjectSecret-77 "quoted"`
		bodySec  = "BodySecret-88-ünï"
	)
	plain := "\x00hook\x00" + password
	tests := []struct {
		name   string
		b      *backend
		values []string
	}{
		{"auth", &backend{User: "hook", AuthReply: func(user, pass string) error {
			return &smtp.SMTPError{Code: 535, Message: echoed([2]string{"pass", pass}, [2]string{"plain", "\x00" + user + "\x00" + pass})}
		}}, []string{password, plain}},
		{"rcpt", &backend{User: "hook", Pass: password, RcptReply: func(to string) error {
			return &smtp.SMTPError{Code: 550, Message: echoed([2]string{"to", to})}
		}}, []string{toAddr}},
		{"data", &backend{User: "hook", Pass: password, DataReply: func(data []byte) error {
			if !bytes.Contains(data, []byte(bodySec[:12])) {
				return &smtp.SMTPError{Code: 554, Message: "no body secret in the message"}
			}
			return &smtp.SMTPError{Code: 554, Message: echoed([2]string{"subject", subjSec}, [2]string{"body", bodySec})}
		}}, []string{subjSec, bodySec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, tt.b, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Username, c.Password = "hook", password
				c.Env = envMap(map[string]string{"TO": toSecret, "SUBJ": subjSec, "BODY": bodySec})
			})
			out := e.Execute(context.Background(), delivery("d-encoded", &message{
				To:      []actions.Text{env("TO")},
				Subject: actions.Text{{Lit: "Alert "}, {Env: "SUBJ"}},
				Body:    actions.Text{{Lit: "token: "}, {Env: "BODY"}},
			}))
			wantStatus(t, out, actions.Permanent)
			shown := echoedValue.FindAllStringSubmatch(out.Error, -1)
			if len(shown) < len(tt.values)*(len(encodings(""))-1) {
				t.Fatalf("Error shows %d echoed values: %s", len(shown), out.Error)
			}
			for _, m := range shown {
				if m[2] != actions.Redaction {
					t.Errorf("not hidden: %s", m[0])
				}
			}
			for _, v := range tt.values {
				for _, enc := range encodings(v) {
					if strings.Contains(out.Error+out.Response, enc[1]) {
						t.Errorf("%s of %q is in the outcome", enc[0], v)
					}
				}
			}
		})
	}
}

// TestSSRFGuard dials the smtp block's host, which a rule file sets,
// through the same guard as an http action's url: each refused class of
// address fails for good with the http action's words, before anything is
// sent, unless --allow-cidr (Config.Allow) lets it through.
func TestSSRFGuard(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	for _, tc := range []struct{ host, want string }{
		{"127.0.0.1", "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"localhost", "" /* 127.0.0.1 or ::1, whichever the resolver puts first */},
		{"10.0.0.1", "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"169.254.169.254", "refusing to connect to 169.254.169.254: cloud metadata address (allow it with --allow-cidr)"},
		{"169.254.1.1", "refusing to connect to 169.254.1.1: link-local address (allow it with --allow-cidr)"},
		{"::ffff:127.0.0.1", "refusing to connect to 127.0.0.1: loopback address (allow it with --allow-cidr)"},
		{"::ffff:10.0.0.1", "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"},
		{"0.0.0.0", "refusing to connect to 0.0.0.0: unspecified address (allow it with --allow-cidr)"},
	} {
		e := newExec(t, tc.host, srv.Port, func(c *email.Config) { c.Allow = nil })
		out := e.Execute(context.Background(), delivery("d-ssrf", simple()))
		if out.Status != actions.Permanent || out.Error != tc.want && !(tc.want == "" && loopbackRefused.MatchString(out.Error)) {
			t.Errorf("%s: outcome %v %q, want permanent %q", tc.host, out.Status, out.Error, tc.want)
		}
	}
	if n := srv.B.sessionCount(); n != 0 {
		t.Errorf("server was contacted %d times", n)
	}
	for _, host := range []string{"localhost", "::ffff:127.0.0.1"} {
		e := newExec(t, host, srv.Port, nil) // Allow: 127.0.0.0/8
		wantStatus(t, e.Execute(context.Background(), delivery("d-allowed", simple())), actions.Delivered)
	}
}

var loopbackRefused = regexp.MustCompile(`^refusing to connect to (127\.0\.0\.1|::1): loopback address \(allow it with --allow-cidr\)$`)

// TestControlCharacters: subject, bodies and address names are refused,
// before connecting, when they hold a control character or a
// bidirectional control; a subject is one line, so a tab is refused there
// too, while bodies keep newlines and tabs.
func TestControlCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    func(*message)
		want string
	}{
		{"ESC in the subject", func(m *message) { m.Subject = lit("Alert \x1b]0;owned\x07") }, "email subject contains U+001B (a control character)"},
		{"tab in the subject", func(m *message) { m.Subject = lit("Alert\tnow") }, "email subject contains U+0009"},
		{"override in the subject from env()", func(m *message) { m.Subject = actions.Text{{Lit: "Alert "}, {Env: "RLO"}} }, "email subject contains U+202E"},
		{"NUL in the body", func(m *message) { m.Body = lit("a\x00b") }, "email body contains U+0000"},
		{"BEL in the body", func(m *message) { m.Body = lit("ring\a") }, "email body contains U+0007"},
		{"isolate in the html body", func(m *message) { m.HTMLBody = lit("<p>\u2066x\u2069</p>") }, "email html_body contains U+2066"},
		{"override in a recipient's name", func(m *message) {
			m.To = []actions.Text{{{Lit: "\"Ann \u202emoc.live@\" <ann@example.com>", Ev: true}}}
		}, "email to[0] contains U+202E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, nil, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Env = envMap(map[string]string{"RLO": "x\u202ey"})
			})
			m := simple()
			tt.m(m)
			out := e.Execute(context.Background(), delivery("d-ctl", m))
			wantStatus(t, out, actions.Permanent)
			if !strings.HasPrefix(out.Error, tt.want) {
				t.Errorf("error %q, want %q", out.Error, tt.want)
			}
			if n := srv.B.sessionCount(); n != 0 {
				t.Errorf("server was contacted %d times", n)
			}
		})
	}

	srv := startServer(t, nil, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	m := simple()
	m.Body = lit("line 1\n\tline 2\nשלום\u200f")
	wantStatus(t, e.Execute(context.Background(), delivery("d-ctl-ok", m)), actions.Delivered)
	if got := parse(t, srv.B.messages()[0].Data).Parts["text/plain"]; got != "line 1\n\tline 2\nשלום\u200f\n" {
		t.Errorf("body = %q", got)
	}

	// Literal text is checked when the rules are validated.
	typ := email.Type()
	for attr, s := range map[string]string{"subject": "a\tb", "body": "a\x1bb", "html_body": "\u202e", "to": "\"\u202eAnn\" <ann@example.com>"} {
		if check := typ.Attr(attr).Check; check == nil || !strings.Contains(check(s), "contains U+") {
			t.Errorf("validate %s: Check(%q) does not refuse it", attr, s)
		}
	}
}
