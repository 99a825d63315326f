package email

import (
	"net"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	gosmtp "github.com/wneessen/go-mail/smtp"
)

// A session left open after a message carries the next one: connecting,
// EHLO, STARTTLS and AUTH were most of an attempt's round trips (and, with
// TLS, most of its CPU), which every MTA's client saves the same way. A
// session is used by one attempt at a time and only after a message went
// through it cleanly; one that fails in any way is closed.
const (
	// maxIdleSessions bounds the sessions kept open beyond the attempts
	// running; servers limit connections per client, a few dozen at most.
	maxIdleSessions = 4
	// maxIdleTime is how long an idle session is kept. RFC 5321 asks
	// servers to wait five minutes for a command, but many close idle
	// sessions sooner; one closed meanwhile costs a NOOP and a new dial.
	maxIdleTime = 30 * time.Second
)

// session is an SMTP session past EHLO, STARTTLS and AUTH, with the go-mail
// client that opened it.
type session struct {
	mail *gomail.Client
	smtp *gosmtp.Client
	raw  net.Conn // under any TLS: closing it unblocks a stalled read
	idle time.Time
}

// close drops the connection without a QUIT, which could itself stall.
func (s *session) close() { _ = s.raw.Close() }

// sessions holds an executor's idle sessions, newest last.
type sessions struct {
	mu   sync.Mutex
	idle []*session
}

// get takes the newest idle session still fresh at now, or returns nil.
// Stale ones are closed.
func (p *sessions) get(now time.Time) *session {
	p.mu.Lock()
	stale := p.expire(now)
	var s *session
	if n := len(p.idle); n > 0 {
		s, p.idle[n-1] = p.idle[n-1], nil
		p.idle = p.idle[:n-1]
	}
	p.mu.Unlock()
	closeAll(stale)
	return s
}

// put keeps s for the next attempt, closing the oldest session if there
// are too many.
func (p *sessions) put(s *session, now time.Time) {
	// Deadlines are the attempt's; the next attempt sets its own.
	if err := s.raw.SetDeadline(time.Time{}); err != nil {
		s.close()
		return
	}
	s.idle = now
	p.mu.Lock()
	p.idle = append(p.idle, s)
	stale := p.expire(now)
	if over := len(p.idle) - maxIdleSessions; over > 0 {
		stale = append(stale, p.removeOldest(over)...)
	}
	p.mu.Unlock()
	closeAll(stale)
}

// expire removes the sessions idle longer than maxIdleTime and returns
// them for closing outside the lock.
func (p *sessions) expire(now time.Time) []*session {
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idle) > maxIdleTime {
		n++
	}
	return p.removeOldest(n)
}

// removeOldest removes the n oldest idle sessions and returns them.
func (p *sessions) removeOldest(n int) []*session {
	if n == 0 {
		return nil
	}
	old := append([]*session(nil), p.idle[:n]...)
	m := copy(p.idle, p.idle[n:])
	clear(p.idle[m:])
	p.idle = p.idle[:m]
	return old
}

// closeIdle closes every idle session.
func (p *sessions) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	closeAll(idle)
}

func closeAll(sessions []*session) {
	for _, s := range sessions {
		s.close()
	}
}
