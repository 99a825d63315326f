package console

import (
	"net"
	"sync"
	"time"
)

// Failed logins are limited per client address: the admin token is an
// operator's choice and may be guessable, and a login form is the one
// place that tries a token on anyone's behalf.
const (
	loginFailures = 10          // allowed per window and address
	loginWindow   = time.Minute // after which failures are forgotten
	loginClients  = 10000       // addresses tracked at most
)

type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// blocked says how long ip must wait before trying again; 0: it may.
func (l *loginLimiter) blocked(ip string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recent(ip, now)
	if len(recent) < loginFailures {
		return 0
	}
	return recent[0].Add(loginWindow).Sub(now)
}

func (l *loginLimiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil || len(l.fails) >= loginClients {
		// Forgetting everyone at once is crude, but keeps memory bounded
		// whatever number of addresses an attacker uses.
		l.fails = map[string][]time.Time{}
	}
	l.fails[ip] = append(l.recent(ip, now), now)
}

// recent drops ip's failures older than the window; l.mu is held.
func (l *loginLimiter) recent(ip string, now time.Time) []time.Time {
	list := l.fails[ip]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= loginWindow {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(l.fails, ip)
	} else {
		l.fails[ip] = list
	}
	return list
}
