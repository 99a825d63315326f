package email

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/hookline/hookline/actions"
	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// failure classifies an error from opening a session (dialSession) or
// sending through one.
func (e *Executor) failure(parent, ctx context.Context, err error) actions.Outcome {
	var cfgErr *configError
	if errors.As(err, &cfgErr) {
		return actions.Outcome{Status: actions.Permanent, Error: cfgErr.Error()}
	}
	var blocked *actions.BlockedError
	if errors.As(err, &blocked) {
		// The same words as an http action's: the host is refused on every
		// retry until --allow-cidr changes.
		return actions.Outcome{Status: actions.Permanent, Error: blocked.Error()}
	}
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
