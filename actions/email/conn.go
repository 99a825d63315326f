package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/hookline/hookline/actions"
	gomail "github.com/wneessen/go-mail"
)

// send runs the SMTP conversation.
func (e *Executor) send(parent context.Context, msg *gomail.Msg) actions.Outcome {
	timedOut := fmt.Errorf("attempt timed out after %s", e.timeout)
	ctx, cancel := context.WithTimeoutCause(parent, e.timeout, timedOut)
	defer cancel()

	conns := &connTracker{ctx: ctx, addr: e.addr, dialer: e.dial}
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

// connTracker dials for go-mail and closes every connection it made when
// the attempt's context is done or the attempt is over.
type connTracker struct {
	ctx       context.Context
	addr      string
	dialer    func(ctx context.Context, network, addr string) (net.Conn, error) // guarded
	tlsConfig *tls.Config                                                       // non-nil: implicit TLS

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// dial ignores go-mail's address; see Executor.send. dctx is go-mail's, a
// child of the attempt's context with go-mail's own deadline.
func (t *connTracker) dial(dctx context.Context, network, _ string) (net.Conn, error) {
	raw, err := t.dialer(dctx, network, t.addr)
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
