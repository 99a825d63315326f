package email

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// The idle sessions kept are the newest maxIdleSessions fresher than
// maxIdleTime; the others are closed.
func TestIdleSessionsBounded(t *testing.T) {
	t.Parallel()
	open := func() (*session, net.Conn) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &session{raw: a}, b
	}
	closed := func(peer net.Conn) bool {
		// An open pipe's write waits for a reader: it times out.
		peer.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := peer.Write([]byte{0})
		return errors.Is(err, io.ErrClosedPipe)
	}
	var p sessions
	t0 := time.Now()
	var peers []net.Conn
	for i := range maxIdleSessions + 2 {
		s, peer := open()
		peers = append(peers, peer)
		p.put(s, t0.Add(time.Duration(i)*time.Second))
	}
	for i, peer := range peers {
		if want := i < 2; closed(peer) != want {
			t.Errorf("session %d closed = %v, want %v (the oldest beyond %d)", i, !want, want, maxIdleSessions)
		}
	}
	newest := p.idle[len(p.idle)-1]
	if got := p.get(t0.Add(time.Duration(maxIdleSessions+1) * time.Second)); got != newest {
		t.Error("get did not return the newest idle session")
	}
	// Past maxIdleTime every remaining one is stale.
	if got := p.get(t0.Add(time.Hour)); got != nil {
		t.Error("get returned a session idle for an hour")
	}
	for i, peer := range peers[2 : len(peers)-1] {
		if !closed(peer) {
			t.Errorf("stale session %d still open", i+2)
		}
	}
	if len(p.idle) != 0 {
		t.Errorf("%d sessions still idle", len(p.idle))
	}
}
