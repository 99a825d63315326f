package email_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/email"
)

// Attempts one after another share one SMTP session, and each message is
// sent once.
func TestSessionCarriesTheNextMessage(t *testing.T) {
	t.Parallel()
	srv := startServer(t, &backend{User: "hook", Pass: "pa55word"}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, func(c *email.Config) { c.Username, c.Password = "hook", "pa55word" })
	for i := range 3 {
		wantStatus(t, e.Execute(context.Background(), delivery(fmt.Sprint("d-", i), simple())), actions.Delivered)
	}
	if n := srv.B.sessionCount(); n != 1 {
		t.Errorf("3 messages took %d sessions, want 1", n)
	}
	if got := srv.B.messages(); len(got) != 3 || got[2].AuthUser != "hook" {
		t.Errorf("server got %d messages (last authenticated as %q), want 3 as hook", len(got), got[len(got)-1].AuthUser)
	}
}

// A session the server closed while it was idle is replaced within the
// attempt, and the message still goes exactly once.
func TestIdleSessionClosedByServerIsReplaced(t *testing.T) {
	t.Parallel()
	srv := startServer(t, &backend{}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	wantStatus(t, e.Execute(context.Background(), delivery("d-1", simple())), actions.Delivered)
	srv.B.hangUp()
	wantStatus(t, e.Execute(context.Background(), delivery("d-2", simple())), actions.Delivered)
	if n := srv.B.sessionCount(); n != 2 {
		t.Errorf("sessions = %d, want 2 (the closed one, then a new one)", n)
	}
	if n := len(srv.B.messages()); n != 2 {
		t.Errorf("server got %d messages, want 2", n)
	}
}

// A session in which anything failed is not used again: the server's state
// in it is not known.
func TestFailedSessionIsNotReused(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	refuse := true
	srv := startServer(t, &backend{RcptReply: func(string) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			refuse = false
			return &smtp.SMTPError{Code: 451, Message: "try again later"}
		}
		return nil
	}}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	wantStatus(t, e.Execute(context.Background(), delivery("d-1", simple())), actions.Retry)
	wantStatus(t, e.Execute(context.Background(), delivery("d-1", simple())), actions.Delivered)
	wantStatus(t, e.Execute(context.Background(), delivery("d-2", simple())), actions.Delivered)
	if n := srv.B.sessionCount(); n != 2 {
		t.Errorf("sessions = %d, want 2 (the failed one, then one for both messages)", n)
	}
}

// Concurrent attempts each have a session of their own, and sessions are
// used again (go test -race).
func TestConcurrentAttemptsShareSessions(t *testing.T) {
	t.Parallel()
	srv := startServer(t, &backend{}, "none", nil)
	e := newExec(t, srv.Host, srv.Port, nil)
	const workers, each = 6, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if out := e.Execute(context.Background(), delivery(fmt.Sprint("d-", w, "-", i), simple())); out.Status != actions.Delivered {
					errs <- errors.New(out.Error)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(srv.B.messages()); n != workers*each {
		t.Errorf("server got %d messages, want %d", n, workers*each)
	}
	if n := srv.B.sessionCount(); n > workers*each/2 {
		t.Errorf("%d messages took %d sessions; sessions are not being used again", workers*each, n)
	}
	e.CloseIdleConnections()
	wantStatus(t, e.Execute(context.Background(), delivery("d-after", simple())), actions.Delivered)
}
