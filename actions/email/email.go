// Package email performs the `action "email"` of a rule: one attempt sends
// one message through the `smtp` block's server with go-mail, and the SMTP
// conversation is turned into an actions.Outcome that steers the queue.
//
// go-mail only lets a context bound the TCP dial: once connected, a stalled
// server holds the attempt until go-mail's own deadline. Every attempt
// therefore dials through a tracker that closes the connection as soon as the
// attempt's context is done, and also after the attempt returns, because
// go-mail leaves the socket open on some failures (EHLO, STARTTLS, AUTH).
//
// Everything the executor reports passes through a redactor that knows the
// SMTP password and every env() value of the delivery: servers echo
// recipients and sometimes credentials in their replies, and go-mail copies
// the recipients into its errors.
package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hookline/hookline/actions"
	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// TLS modes of the smtp block.
const (
	// TLSImplicit speaks TLS from the first byte (SMTPS, usually port 465).
	TLSImplicit = "tls"
	// TLSStartTLS connects in clear text and requires the server to offer
	// STARTTLS before anything else is sent (submission, usually port 587).
	TLSStartTLS = "starttls"
	// TLSNone never encrypts; meant for a relay on the same host or network.
	TLSNone = "none"
)

// DefaultTimeout bounds one attempt, dial to QUIT, when Config.Timeout is
// zero, so that a server that stops answering cannot hold a worker for ever
// even when the queue's context has no deadline.
const DefaultTimeout = 30 * time.Second

// Config is the `smtp` block, with secrets already resolved. New copies what
// it needs, so later changes to the struct have no effect.
type Config struct {
	Host string
	// Port zero means the usual port of the TLS mode: 465, 587 or 25.
	Port int
	// TLS is TLSImplicit, TLSStartTLS or TLSNone; empty means TLSStartTLS.
	TLS string

	// Username turns on SMTP AUTH; Password is then required.
	Username string
	Password string

	// From is an RFC 5322 address, with or without a display name. Its
	// bare address is also the envelope sender (MAIL FROM).
	From string

	// TLSConfig replaces the default TLS settings (system roots, TLS 1.2+),
	// e.g. to trust a private CA. An empty ServerName is filled in with Host.
	TLSConfig *tls.Config

	// Env resolves env() references in the delivery; nil means os.LookupEnv.
	Env actions.EnvFunc
	// Logger gets one line per attempt (debug when delivered, warn
	// otherwise); nil discards.
	Logger *slog.Logger
	// Timeout bounds one attempt; zero means DefaultTimeout.
	Timeout time.Duration
}

// Validate reports every problem with the configuration, each naming the
// field at fault. The password is never shown.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case c.Host == "":
		add("smtp host is required")
	case !validHost(c.Host):
		add("smtp host %q must be a host name or IP address only, without a scheme or port (set port separately)", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("smtp port %d is out of range; use 1-65535, or leave it unset for the usual port of the tls mode", c.Port)
	}
	switch c.TLS {
	case "", TLSImplicit, TLSStartTLS, TLSNone:
	default:
		add("smtp tls %q is not a known mode; use %q (implicit TLS), %q or %q", c.TLS, TLSImplicit, TLSStartTLS, TLSNone)
	}

	switch {
	case c.Username == "" && c.Password != "":
		add("smtp password is set but username is not; set both to authenticate, or neither")
	case c.Username != "" && c.Password == "":
		add("smtp username is set but password is empty; check that the variable holding it is set")
	case c.Username != "" && c.TLS == TLSNone && !isLoopback(c.Host):
		// go-mail would refuse PLAIN and LOGIN at send time anyway; saying
		// so now turns every later delivery failure into one load error.
		add("smtp username is set with tls = %q, which would send the password in clear text to %s; use %q or %q (clear-text AUTH is allowed only to localhost)", TLSNone, c.Host, TLSStartTLS, TLSImplicit)
	}
	if strings.ContainsAny(c.Username, "\r\n") {
		add("smtp username contains a line break")
	}

	if c.From == "" {
		add("smtp from is required")
	} else if _, err := parseFrom(c.From); err != nil {
		add("smtp from %q: %v", c.From, err)
	}
	if c.Timeout < 0 {
		add("smtp timeout %s is negative", c.Timeout)
	}
	return errors.Join(errs...)
}

// validHost accepts a DNS name or an IP literal. go-mail builds its dial
// address with "%s:%d", so a port or scheme here would silently produce a
// wrong one.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	return !strings.ContainsAny(h, ":/@[] \t\r\n")
}

// isLoopback mirrors go-mail's rule for allowing PLAIN and LOGIN without
// TLS: it compares the name, it does not resolve it.
func isLoopback(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func parseFrom(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	return mail.ParseAddress(s)
}

// Executor sends email deliveries. It holds no per-attempt state and is safe
// for concurrent use; every attempt opens its own connection.
type Executor struct {
	host      string
	addr      string // host:port, IPv6-safe
	port      int
	mode      string
	username  string
	password  string
	from      *mail.Address
	idDomain  string // right-hand side of Message-IDs
	helo      string
	tlsConfig *tls.Config
	env       actions.EnvFunc
	log       *slog.Logger
	timeout   time.Duration
}

// New checks cfg and returns an Executor for it.
func New(cfg Config) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	from, _ := parseFrom(cfg.From) // checked by Validate
	e := &Executor{
		host:     cfg.Host,
		port:     cfg.Port,
		mode:     cfg.TLS,
		username: cfg.Username,
		password: cfg.Password,
		from:     from,
		idDomain: "hookline",
		env:      cfg.Env,
		log:      cfg.Logger,
		timeout:  cfg.Timeout,
	}
	if e.mode == "" {
		e.mode = TLSStartTLS
	}
	if e.port == 0 {
		e.port = map[string]int{TLSImplicit: 465, TLSStartTLS: 587, TLSNone: 25}[e.mode]
	}
	e.addr = net.JoinHostPort(e.host, strconv.Itoa(e.port))
	// A Message-ID whose right-hand side is not a domain costs spam-filter
	// points, so the sender's own domain is used when it is plain ASCII.
	if _, domain, ok := strings.Cut(from.Address, "@"); ok && isDotAtom(domain) {
		e.idDomain = domain
	}
	// os.Hostname is what go-mail would use; asking once here keeps a
	// syscall out of every attempt.
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		e.helo = h
	} else {
		e.helo = "localhost"
	}
	if e.mode != TLSNone {
		if cfg.TLSConfig != nil {
			e.tlsConfig = cfg.TLSConfig.Clone()
		} else {
			e.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		// Without a ServerName crypto/tls refuses to verify (STARTTLS) or
		// verifies nothing useful; it is always the configured host.
		if e.tlsConfig.ServerName == "" {
			e.tlsConfig.ServerName = e.host
		}
	}
	if e.env == nil {
		e.env = os.LookupEnv
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.timeout == 0 {
		e.timeout = DefaultTimeout
	}
	return e, nil
}

// Execute makes one attempt at d.Email. It returns when the server has
// accepted or refused the message, the connection has failed, the attempt
// has timed out, or ctx is done, whichever comes first.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	start := time.Now()
	red := e.newRedactor()
	out := e.execute(ctx, d, red)
	out.Duration = time.Since(start)
	// Every string leaving the executor goes through the redactor,
	// including the ones built here, so a new message cannot forget to.
	out.Error = red.clean(out.Error)
	out.Response = truncate(red.clean(out.Response), actions.ResponseLimit)
	// ProviderID is not cleaned: it is made of the delivery id and the from
	// domain only, and a short secret would otherwise mangle it.

	level := slog.LevelDebug
	if out.Status != actions.Delivered {
		level = slog.LevelWarn
	}
	var id, address string
	var attempt int
	if d != nil {
		id, address, attempt = d.ID, d.Address, d.Attempt
	}
	e.log.Log(ctx, level, "email attempt",
		slog.String("delivery", id),
		slog.String("address", address),
		slog.Int("attempt", attempt),
		slog.String("server", e.addr),
		slog.String("status", out.Status.String()),
		slog.Int("status_code", out.StatusCode),
		slog.String("message_id", out.ProviderID),
		slog.Duration("duration", out.Duration),
		slog.String("error", out.Error),
	)
	return out
}

func permanent(format string, args ...any) actions.Outcome {
	return actions.Outcome{Status: actions.Permanent, Error: fmt.Sprintf(format, args...)}
}

func (e *Executor) execute(ctx context.Context, d *actions.Delivery, red *redactor) actions.Outcome {
	if d == nil || d.Email == nil {
		return permanent("delivery has no email message")
	}
	m := d.Email

	// Secrets are registered before anything that may fail is attempted, so
	// that even an error about the value itself cannot show it.
	for _, list := range [][]actions.Text{m.To, m.Cc, m.Bcc, {m.ReplyTo, m.Subject, m.Body, m.HTMLBody}} {
		for _, t := range list {
			red.addText(t, e.env)
		}
	}

	msg, msgID, out, ok := e.compose(d, red)
	if !ok {
		return out
	}
	if err := ctx.Err(); err != nil {
		return actions.Outcome{Status: actions.Retry, Error: "not sent: " + err.Error(), ProviderID: msgID}
	}
	out = e.send(ctx, msg)
	out.ProviderID = msgID
	return out
}

// compose builds the message. Every failure here is Permanent: the same
// delivery would fail the same way on every retry.
func (e *Executor) compose(d *actions.Delivery, red *redactor) (msg *gomail.Msg, msgID string, out actions.Outcome, ok bool) {
	m := d.Email
	msgID, err := e.messageID(d.ID)
	if err != nil {
		return nil, "", permanent("%v", err), false
	}

	var rcpts [3][]*mail.Address
	for i, field := range []string{"to", "cc", "bcc"} {
		texts := [][]actions.Text{m.To, m.Cc, m.Bcc}[i]
		for j, t := range texts {
			list, err := e.addresses(fmt.Sprintf("email %s[%d]", field, j), t, red)
			if err != nil {
				return nil, "", permanent("%v", err), false
			}
			rcpts[i] = append(rcpts[i], list...)
		}
	}
	if len(rcpts[0])+len(rcpts[1])+len(rcpts[2]) == 0 {
		return nil, "", permanent("email has no recipients; set at least one of to, cc or bcc"), false
	}
	var replyTo []*mail.Address
	if !m.ReplyTo.IsZero() {
		if replyTo, err = e.addresses("email reply_to", m.ReplyTo, red); err != nil {
			return nil, "", permanent("%v", err), false
		}
	}

	subject, err := m.Subject.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email subject: %v", err), false
	}
	if strings.ContainsAny(subject, "\r\n") {
		return nil, "", permanent("email subject %q contains a line break (CR or LF), which could inject mail headers; refusing to send", m.Subject.Redacted()), false
	}
	body, err := m.Body.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email body: %v", err), false
	}
	html, err := m.HTMLBody.Resolve(e.env)
	if err != nil {
		return nil, "", permanent("email html_body: %v", err), false
	}
	if !utf8.ValidString(subject) || !utf8.ValidString(body) || !utf8.ValidString(html) {
		return nil, "", permanent("email subject or body is not valid UTF-8"), false
	}

	// go-mail's default User-Agent advertises the library and its version
	// to every recipient; it says nothing useful about the message.
	msg = gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(e.from)
	// An address header set to an empty list is written as an empty
	// header ("Cc:"), so only non-empty ones are set.
	for i, h := range []gomail.AddrHeader{gomail.HeaderTo, gomail.HeaderCc, gomail.HeaderBcc} {
		if len(rcpts[i]) > 0 {
			msg.SetAddrHeaderFromMailAddress(h, rcpts[i]...)
		}
	}
	if len(replyTo) > 0 {
		msg.ReplyToMailAddress(replyTo...)
	}
	msg.Subject(subject)
	msg.SetMessageIDWithValue(msgID)
	// RFC 3834: tells vacation responders and ticket systems not to answer
	// a machine, which could otherwise start a mail loop with a rule.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, body)
	if html != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	}
	return msg, "<" + msgID + ">", actions.Outcome{}, true
}

// addresses resolves one entry of an address field. An entry may hold
// several comma-separated addresses, so that one env() variable can name a
// whole team.
func (e *Executor) addresses(field string, t actions.Text, red *redactor) ([]*mail.Address, error) {
	s, err := t.Resolve(e.env)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	// net/mail treats CRLF followed by a space as folding white space and
	// would accept it; a line break has no business in a rendered address.
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%s %q contains a line break (CR or LF), which could inject mail headers; refusing to send", field, t.Redacted())
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s %q is empty", field, t.Redacted())
	}
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q is not a valid email address (%v); expected e.g. ops@example.com or \"Ops\" <ops@example.com>", field, t.Redacted(), err)
	}
	if t.Sensitive() {
		// Servers echo the bare address, which need not appear verbatim in
		// the variable ("Ops <ops@example.com>", stray spaces).
		for _, a := range list {
			red.add(a.Address)
			red.add(a.Name)
		}
	}
	return list, nil
}

// messageID derives the Message-ID from the delivery id, so that every retry
// of a delivery carries the same one and recipients' mail systems can tell a
// resend from a new message.
func (e *Executor) messageID(id string) (string, error) {
	if id == "" {
		return "", errors.New("delivery has no id, so no stable Message-ID can be made")
	}
	left := id
	if !isDotAtom(id) || len(id) > 128 {
		// An id that is not a valid msg-id left part is hashed, not
		// escaped: escaping could make two ids collide.
		sum := sha256.Sum256([]byte(id))
		left = "h" + hex.EncodeToString(sum[:16])
	}
	return left + "@" + e.idDomain, nil
}

// isDotAtom reports whether s is an RFC 5322 dot-atom-text of ASCII.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// send runs the SMTP conversation.
func (e *Executor) send(parent context.Context, msg *gomail.Msg) actions.Outcome {
	timedOut := fmt.Errorf("attempt timed out after %s", e.timeout)
	ctx, cancel := context.WithTimeoutCause(parent, e.timeout, timedOut)
	defer cancel()

	conns := &connTracker{ctx: ctx, addr: e.addr}
	if e.mode == TLSImplicit {
		conns.tlsConfig = e.tlsConfig
	}
	stop := context.AfterFunc(ctx, conns.closeAll)
	defer stop()
	defer conns.closeAll()

	opts := []gomail.Option{
		gomail.WithPort(e.port),
		gomail.WithTimeout(e.timeout),
		gomail.WithHELO(e.helo),
		// The tracker dials for go-mail, which then skips its own TLS dial:
		// implicit TLS is done by the tracker, and go-mail's "host:port"
		// formatting (wrong for IPv6) is never used.
		gomail.WithDialContextFunc(conns.dial),
	}
	switch e.mode {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTLSConfig(e.tlsConfig))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(e.tlsConfig))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if e.username != "" {
		// PLAIN and LOGIN cover nearly every submission server (LOGIN-only
		// ones included). go-mail refuses both without TLS unless the host
		// is localhost; anything else the server offers is then chosen by
		// go-mail's auto-discovery.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(e.username), gomail.WithPassword(e.password))
	}
	client, err := gomail.NewClient(e.host, opts...)
	if err != nil {
		return permanent("smtp client: %v", err)
	}

	err = client.DialAndSendWithContext(ctx, msg)
	if msg.IsDelivered() {
		// DATA was accepted; a failure after it (RSET, QUIT, a closed
		// connection) must not make the queue send the message twice.
		out := actions.Outcome{Status: actions.Delivered, StatusCode: 250, Response: "250 " + msg.ServerResponse()}
		if err != nil {
			out.Error = fmt.Sprintf("message accepted, but closing the session failed: %v", err)
		}
		return out
	}
	if err == nil {
		// Cannot happen with one message; treated as a transient fault
		// rather than as a delivery nobody saw accepted.
		return actions.Outcome{Status: actions.Retry, Error: fmt.Sprintf("smtp %s: message was not delivered, and go-mail reported no error", e.addr)}
	}
	return e.failure(parent, ctx, err)
}

// failure classifies an error from DialAndSendWithContext.
func (e *Executor) failure(parent, ctx context.Context, err error) actions.Outcome {
	out := actions.Outcome{Status: actions.Retry}
	switch {
	case parent.Err() != nil:
		out.Error = fmt.Sprintf("smtp %s: attempt interrupted: %v", e.addr, context.Cause(parent))
		return out
	case ctx.Err() != nil:
		out.Error = fmt.Sprintf("smtp %s: %v", e.addr, context.Cause(ctx))
		return out
	}
	out.Error = fmt.Sprintf("smtp %s: %v", e.addr, err)

	// The reply code: go-mail keeps the server's error as a *textproto.Error
	// in the dial phase (greeting, EHLO, STARTTLS, AUTH), but its SendError
	// for MAIL/RCPT/DATA has no Unwrap and exposes only the code it parsed.
	var tpErr *textproto.Error
	var sendErr *gomail.SendError
	switch {
	case errors.As(err, &tpErr):
		out.StatusCode = tpErr.Code
		out.Response = fmt.Sprintf("%d %s", tpErr.Code, tpErr.Msg)
	case errors.As(err, &sendErr):
		out.StatusCode = sendErr.ErrorCode()
	}
	switch {
	case out.StatusCode >= 500 && out.StatusCode < 600:
		out.Status = actions.Permanent
		return out
	case out.StatusCode >= 400 && out.StatusCode < 500:
		return out
	}

	// No reply code. What remains is either the network (Retry) or a
	// mismatch between the configuration and the server that no retry can
	// fix.
	if sendErr != nil && sendErr.Reason == gomail.ErrNoUnencoded {
		out.Status = actions.Permanent
		return out
	}
	authMismatch := []error{
		gosmtp.ErrUnencrypted, gosmtp.ErrWrongHostname, gomail.ErrNoSupportedAuthDiscovered,
		gomail.ErrPlainAuthNotSupported, gomail.ErrLoginAuthNotSupported,
		gomail.ErrCramMD5AuthNotSupported, gomail.ErrNTLMAuthNotSupported, gomail.ErrXOauth2AuthNotSupported,
		gomail.ErrSCRAMSHA1AuthNotSupported, gomail.ErrSCRAMSHA1PLUSAuthNotSupported,
		gomail.ErrSCRAMSHA256AuthNotSupported, gomail.ErrSCRAMSHA256PLUSAuthNotSupported,
	}
	if slices.ContainsFunc(authMismatch, func(target error) bool { return errors.Is(err, target) }) {
		out.Status = actions.Permanent
		out.Error += "; the server offers no usable AUTH mechanism for this connection"
		return out
	}
	// go-mail reports a missing STARTTLS or AUTH extension with plain
	// fmt.Errorf values; their wording is pinned by this package's tests.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "does not support STARTTLS"):
		out.Status = actions.Permanent
		out.Error += fmt.Sprintf(" (tls = %q requires it; use %q for implicit TLS)", TLSStartTLS, TLSImplicit)
	case strings.Contains(msg, "server does not support SMTP AUTH"):
		out.Status = actions.Permanent
		out.Error += " (username is set, but the server offers no AUTH)"
	}
	return out
}

// connTracker dials for go-mail and closes every connection it made when
// the attempt's context is done or the attempt is over.
type connTracker struct {
	ctx       context.Context
	addr      string
	tlsConfig *tls.Config // non-nil: implicit TLS

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// dial ignores go-mail's address; see Executor.send. dctx is go-mail's, a
// child of the attempt's context with go-mail's own deadline.
func (t *connTracker) dial(dctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(dctx, network, t.addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if t.closed {
		// The context ended between the dial and now; closeAll has run
		// already and would miss this connection.
		t.mu.Unlock()
		raw.Close()
		return nil, context.Cause(t.ctx)
	}
	t.conns = append(t.conns, raw)
	t.mu.Unlock()

	if t.tlsConfig == nil {
		return raw, nil
	}
	// go-mail's smtp client tells an encrypted connection by its type, so
	// the *tls.Conn itself is returned, not a wrapper.
	tc := tls.Client(raw, t.tlsConfig)
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}

// closeAll closes the raw sockets: that unblocks any read or write in
// progress, TLS or not, without waiting on a close_notify.
func (t *connTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.conns = nil
}

// redactor replaces known secret values in text meant for storage or logs.
// Matching ignores case, because servers often lower-case the addresses they
// echo.
type redactor struct {
	secrets []string
	re      *regexp.Regexp // built on first use after the last add
}

const redacted = "(sensitive)"

func (e *Executor) newRedactor() *redactor {
	r := &redactor{}
	if e.password != "" {
		r.add(e.password)
		// AUTH sends the password base64-encoded, alone (LOGIN) or inside
		// the PLAIN blob; a server may echo either.
		r.add(base64.StdEncoding.EncodeToString([]byte(e.password)))
		r.add(base64.StdEncoding.EncodeToString([]byte("\x00" + e.username + "\x00" + e.password)))
	}
	return r
}

func (r *redactor) add(s string) {
	for _, v := range []string{s, strings.TrimSpace(s)} {
		if v != "" && !slices.Contains(r.secrets, v) {
			r.secrets = append(r.secrets, v)
			r.re = nil
		}
	}
}

// addText registers the values of t's env() parts. A variable that is not
// set has no value to hide; resolving t reports it later.
func (r *redactor) addText(t actions.Text, env actions.EnvFunc) {
	for _, p := range t {
		if p.Env == "" {
			continue
		}
		if v, ok := env(p.Env); ok {
			r.add(v)
		}
	}
}

func (r *redactor) clean(s string) string {
	if s == "" || len(r.secrets) == 0 {
		return s
	}
	if r.re == nil {
		// Longest first, so that a secret containing another is replaced
		// whole rather than leaving its remainder in the text.
		sorted := slices.Clone(r.secrets)
		slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
		quoted := make([]string, len(sorted))
		for i, v := range sorted {
			quoted[i] = regexp.QuoteMeta(v)
		}
		r.re = regexp.MustCompile("(?i)" + strings.Join(quoted, "|"))
	}
	return r.re.ReplaceAllLiteralString(s, redacted)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

var _ actions.Executor = (*Executor)(nil)
