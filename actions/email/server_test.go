package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// received is one message as the test server saw it.
type received struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
}

// backend is a go-smtp Backend that stores what it receives. Its hooks let a
// test refuse any step with the reply it chooses.
type backend struct {
	// User and Pass, when User is set, make the server offer AUTH and
	// require it before MAIL.
	User, Pass string
	LoginOnly  bool                          // offer LOGIN instead of PLAIN
	AuthReply  func(user, pass string) error // replaces the credential check
	Greet      error                         // refuse EHLO/HELO with this
	MailReply  func(from string) error       // per MAIL FROM
	RcptReply  func(to string) error         // per RCPT TO
	DataReply  func(data []byte) error       // after the message is read
	DataStall  chan struct{}                 // DATA blocks until closed
	OnData     func()                        // called when DATA starts
	Logout     chan struct{}                 // gets a value when a session ends

	mu       sync.Mutex
	msgs     []received
	sessions int
	conns    []*smtp.Conn
}

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	b.sessions++
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	if b.Greet != nil {
		return nil, b.Greet
	}
	return &session{b: b, c: c}, nil
}

func (b *backend) messages() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

// hangUp closes every connection the server has accepted, as a server
// does with sessions idle too long.
func (b *backend) hangUp() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.Close()
	}
}

func (b *backend) sessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions
}

type session struct {
	b    *backend
	c    *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	switch {
	case s.b.User == "":
		return nil
	case s.b.LoginOnly:
		return []string{"LOGIN"}
	}
	return []string{sasl.Plain}
}

func (s *session) check(user, pass string) error {
	if s.b.AuthReply != nil {
		if err := s.b.AuthReply(user, pass); err != nil {
			return err
		}
	} else if user != s.b.User || pass != s.b.Pass {
		return smtp.ErrAuthFailed
	}
	s.user = user
	return nil
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case mech == sasl.Plain && !s.b.LoginOnly:
		return sasl.NewPlainServer(func(_, user, pass string) error { return s.check(user, pass) }), nil
	case mech == "LOGIN" && s.b.LoginOnly:
		return &loginServer{check: s.check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	if s.b.MailReply != nil {
		if err := s.b.MailReply(from); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.RcptReply != nil {
		if err := s.b.RcptReply(to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.b.OnData != nil {
		s.b.OnData()
	}
	if s.b.DataStall != nil {
		<-s.b.DataStall
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.b.DataReply != nil {
		if err := s.b.DataReply(data); err != nil {
			return err
		}
	}
	_, isTLS := s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, received{From: s.from, To: s.to, Data: data, TLS: isTLS, AuthUser: s.user})
	s.b.mu.Unlock()
	return nil
}

func (s *session) Reset() { s.from, s.to = "", nil }
func (s *session) Logout() error {
	select {
	case s.b.Logout <- struct{}{}:
	default: // nil channel, or nobody waiting for a second one
	}
	return nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) == 0 {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.step = 2
		l.user = string(resp)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(resp))
	}
}

// testServer is a go-smtp server on a loopback port.
type testServer struct {
	Host string
	Port int
	B    *backend
}

// startServer serves b on 127.0.0.1 in the given tls mode ("none",
// "starttls" or "tls"). cert is needed for the last two.
func startServer(t *testing.T, b *backend, mode string, cert *tls.Certificate) *testServer {
	t.Helper()
	if b == nil {
		b = &backend{}
	}
	s := smtp.NewServer(b)
	s.Domain = "mx.test"
	s.AllowInsecureAuth = true // AUTH over plain TCP on loopback
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch mode {
	case "starttls":
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	case "tls":
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
		l = tls.NewListener(l, s.TLSConfig)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(l); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		// Close only knows listeners that Serve has registered, which it
		// may not have done yet; closing l as well always ends Serve.
		s.Close()
		l.Close()
		<-done
	})
	_, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	return &testServer{Host: "127.0.0.1", Port: p, B: b}
}

// startStaller accepts connections and never says anything, like a server
// behind a black-holing firewall after the handshake.
func startStaller(t *testing.T) (host string, port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ = strconv.Atoi(p)
	return "127.0.0.1", port
}

// freePort returns a loopback port with nothing listening on it.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t *testing.T) (*tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "hookline test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
