// Package email performs the `action "email"` of a rule: one attempt sends
// one message through the `smtp` block's server with go-mail, and the SMTP
// conversation is turned into an actions.Outcome that steers the queue.
//
// go-mail only lets a context bound the TCP dial: once connected, a stalled
// server holds the attempt until go-mail's own deadline. Every connection
// is therefore dialled through a tracker that closes it as soon as the
// attempt's context is done, and when the session fails to open, because
// go-mail leaves the socket open on some failures (EHLO, STARTTLS, AUTH).
// A session that carried a message cleanly stays open for the next attempt
// (sessions.go); one that failed in any way is closed.
//
// Everything the executor reports passes through an actions.Redactor that
// knows the SMTP password and every env() value of the delivery: servers echo
// recipients and sometimes credentials in their replies, lower-cased or not,
// and go-mail copies the recipients into its errors.
package email

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/mail"
	"time"

	"github.com/hookline/hookline/actions"
)

// Executor sends email deliveries. It is safe for concurrent use; an
// attempt takes an idle session or opens its own.
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
	timeout   time.Duration
	redactors actions.RedactorCache
	sessions  sessions
	// dial connects through the SSRF guard: the host comes from a rule
	// file, like an http action's url.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Execute makes one attempt at an email delivery. It returns when the server has
// accepted or refused the message, the connection has failed, the attempt
// has timed out, or ctx is done, whichever comes first.
func (e *Executor) Execute(ctx context.Context, d *actions.Delivery) actions.Outcome {
	start := time.Now()
	red := e.newRedactor()
	out := e.execute(ctx, d, red)
	out.Duration = time.Since(start)
	// Every string leaving the executor goes through the redactor,
	// including the ones built here, so a new message cannot forget to.
	out.Error = red.Redact(out.Error)
	out.Response = actions.Truncate(red.Redact(out.Response), actions.ResponseLimit)
	// ProviderID is not redacted: it is made of the delivery id and the from
	// domain only, and a short secret would otherwise mangle it.
	return out
}

// newRedactor hides, besides every env() value and recipient of an attempt,
// the SMTP password.
func (e *Executor) newRedactor() *actions.Redactor {
	r := e.redactors.New()
	if e.password != "" {
		// AUTH sends the password base64-encoded, alone (LOGIN) or inside
		// the PLAIN blob, where the user name shifts its alignment; the
		// redactor looks for the base64 of each value it is given.
		r.Add(e.password, "\x00"+e.username+"\x00"+e.password)
	}
	return r
}

func permanent(format string, args ...any) actions.Outcome {
	return actions.Outcome{Status: actions.Permanent, Error: fmt.Sprintf(format, args...)}
}

func (e *Executor) execute(ctx context.Context, d *actions.Delivery, red *actions.Redactor) actions.Outcome {
	if d == nil || len(d.Fields) == 0 {
		return permanent("delivery has no email message")
	}
	m := messageOf(d)

	// Secrets are registered before anything that may fail is attempted, so
	// that even an error about the value itself cannot show it.
	for _, list := range [][]actions.Text{m.to, m.cc, m.bcc, {m.replyTo, m.subject, m.body, m.htmlBody}} {
		for _, t := range list {
			red.AddText(t, e.env)
		}
	}

	msg, msgID, out, ok := e.compose(d, m, red)
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

var _ actions.Executor = (*Executor)(nil)

// CloseIdleConnections closes the sessions kept open between attempts, e.g.
// at shutdown. The Executor stays usable.
func (e *Executor) CloseIdleConnections() { e.sessions.closeIdle() }
