package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hookline/hookline/actions"
	gomail "github.com/wneessen/go-mail"
)

// send runs the SMTP conversation for one message, on a session left open
// by an earlier attempt when there is one (sessions.go), else on a new one.
func (e *Executor) send(parent context.Context, msg *gomail.Msg) actions.Outcome {
	timedOut := fmt.Errorf("attempt timed out after %s", e.timeout)
	ctx, cancel := context.WithTimeoutCause(parent, e.timeout, timedOut)
	defer cancel()

	for reuse := true; ; reuse = false {
		var s *session
		if reuse {
			s = e.sessions.get(time.Now())
		}
		fresh := s == nil
		if fresh {
			var err error
			if s, err = e.dialSession(ctx); err != nil {
				return e.failure(parent, ctx, err)
			}
		}
		stop := context.AfterFunc(ctx, s.close)
		err := s.mail.SendWithSMTPClient(s.smtp, msg)
		interrupted := !stop()
		if msg.IsDelivered() {
			// DATA was accepted; a failure after it (the RSET that readies
			// the session for the next message, a closed connection) must
			// not make the queue send the message twice.
			out := actions.Outcome{Status: actions.Delivered, StatusCode: 250, Response: "250 " + msg.ServerResponse()}
			if err != nil {
				out.Error = fmt.Sprintf("message accepted, but readying the session for the next one failed: %v", err)
			}
			if err != nil || interrupted {
				s.close()
			} else {
				e.sessions.put(s, time.Now())
			}
			return out
		}
		// After a failure the session's state is not known: it is not
		// used again.
		s.close()
		if !fresh && idleSessionDied(err) && ctx.Err() == nil {
			// The server closed the session while it was idle, which it
			// may: the NOOP before the message found out, so nothing of
			// the message was sent. A new session gets it.
			continue
		}
		if err == nil {
			// Cannot happen with one message; treated as a transient fault
			// rather than as a delivery nobody saw accepted.
			return actions.Outcome{Status: actions.Retry, Error: fmt.Sprintf("smtp %s: message was not delivered, and go-mail reported no error", e.addr)}
		}
		return e.failure(parent, ctx, err)
	}
}

// idleSessionDied reports whether err is go-mail's check of the
// connection, made before MAIL FROM, failing.
func idleSessionDied(err error) bool {
	var sendErr *gomail.SendError
	return errors.As(err, &sendErr) && sendErr.Reason == gomail.ErrConnCheck
}

// dialSession connects, greets and, as configured, starts TLS and
// authenticates. Each session has a go-mail client of its own: go-mail
// changes a client's settings while it authenticates, so one client cannot
// open sessions concurrently.
func (e *Executor) dialSession(ctx context.Context) (*session, error) {
	conns := &connTracker{ctx: ctx, addr: e.addr, dialer: e.dial}
	if e.mode == TLSImplicit {
		conns.tlsConfig = e.tlsConfig
	}
	stop := context.AfterFunc(ctx, conns.closeAll)
	defer stop()
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
		return nil, &configError{err}
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		// go-mail leaves the socket open when EHLO, STARTTLS or AUTH fails.
		conns.closeAll()
		return nil, err
	}
	raw := conns.take()
	if raw == nil {
		return nil, context.Cause(ctx) // closed as the attempt ended
	}
	return &session{mail: client, smtp: sc, raw: raw}, nil
}

// configError is go-mail refusing the executor's settings, which no retry
// changes.
type configError struct{ err error }

func (e *configError) Error() string { return "smtp client: " + e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// connTracker dials for go-mail and closes the connection it made when the
// attempt's context is done, or when the dial fails part way.
type connTracker struct {
	ctx       context.Context
	addr      string
	dialer    func(ctx context.Context, network, addr string) (net.Conn, error) // guarded
	tlsConfig *tls.Config                                                       // non-nil: implicit TLS

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// dial ignores go-mail's address; see Executor.dialSession. dctx is
// go-mail's, a child of the attempt's context with go-mail's own deadline.
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

// take hands the session's connection over to its caller: the tracker no
// longer closes it. nil if the tracker has closed it already.
func (t *connTracker) take() net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.conns) == 0 {
		return nil
	}
	c := t.conns[len(t.conns)-1]
	t.conns = t.conns[:len(t.conns)-1]
	return c
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
