package sms

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hookline/hookline/actions"
)

// attemptTransport is the RoundTripper of one attempt's http.Client. It
// makes up for what twilio-go lacks: it binds the request to the attempt's
// context (twilio-go builds every request on context.Background), points it
// at api_base_url, and keeps the status, headers and start of the reply,
// which twilio-go drops when it turns an error reply into a Go error.
//
// It belongs to one attempt and is used from one goroutine, so its fields
// need no lock.
type attemptTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	target *url.URL // nil: leave the URL as twilio-go built it

	status int
	header http.Header
	body   []byte // the first actions.ResponseLimit bytes read of the reply
	open   []*recordingBody
}

func (t *attemptTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx) // a RoundTripper must not change the request it is given
	if t.target != nil {
		r.URL.Scheme = t.target.Scheme
		r.URL.Host = t.target.Host
		r.Host = "" // send the Host of the target, not api.twilio.com
		if prefix := strings.TrimSuffix(t.target.Path, "/"); prefix != "" {
			r.URL.Path = prefix + r.URL.Path
			r.URL.RawPath = ""
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	t.status, t.header, t.body = resp.StatusCode, resp.Header, nil
	b := &recordingBody{rc: resp.Body, t: t}
	t.open = append(t.open, b)
	resp.Body = b
	return resp, nil
}

// finish closes every reply body. twilio-go never closes the body of an
// error reply, which would pin the connection and its goroutines until the
// peer hangs up. A non-2xx body is read on a little first, so that Response
// can show a proxy's error page that twilio-go gave up on after one byte.
func (t *attemptTransport) finish() {
	for _, b := range t.open {
		if t.status >= 300 && len(t.body) < actions.ResponseLimit {
			_, _ = io.Copy(io.Discard, io.LimitReader(b, actions.ResponseLimit))
		}
		_ = b.Close()
	}
}

// recordingBody keeps the start of what is read through it.
type recordingBody struct {
	rc     io.ReadCloser
	t      *attemptTransport
	closed bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if room := actions.ResponseLimit - len(b.t.body); room > 0 {
		b.t.body = append(b.t.body, p[:min(n, room)]...)
	}
	return n, err
}

func (b *recordingBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	return b.rc.Close()
}
