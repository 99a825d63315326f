package email

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/actions"
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
	// Allow lists networks the SSRF guard lets through despite being
	// private, loopback, etc. (see actions.Guard); the server's address is
	// checked after DNS resolution, as an http action's is.
	Allow []netip.Prefix
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
		timeout:  cfg.Timeout,
		// The attempt's context bounds the dial; a dialer of its own would
		// only add a second clock.
		dial: (&actions.Guard{Allow: slices.Clone(cfg.Allow)}).DialContext(&net.Dialer{}),
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
	if e.timeout == 0 {
		e.timeout = DefaultTimeout
	}
	return e, nil
}
