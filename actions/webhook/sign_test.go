package webhook

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookline/hookline/actions"
)

// testSecret is a Standard Webhooks secret as a receiver would configure it.
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestSignatureVerifiesWithOfficialLibrary(t *testing.T) {
	t.Parallel()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	// The official verifier checks the timestamp against the real clock,
	// so the injected one starts there and is then moved by hand.
	var clock atomic.Int64
	clock.Store(time.Now().Unix())
	srv, seen := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	e := newExecutor(t, Config{
		Env: envMap(map[string]string{"WH_SECRET": testSecret}),
		Now: func() time.Time { return time.Unix(clock.Load(), 0) },
	})
	d := delivery(actions.Literal(srv.URL))
	edit(d, func(h *httpAction) { h.signingSecret = actions.Text{{Env: "WH_SECRET"}} })
	for attempt := 1; attempt <= 2; attempt++ {
		d.Attempt = attempt
		if out := execute(t, e, d); out.Status != actions.Delivered {
			t.Fatalf("attempt %d: %+v", attempt, out)
		}
		r := <-seen
		if err := wh.Verify(r.Body, r.Header); err != nil {
			t.Errorf("attempt %d: official library rejects the signature: %v", attempt, err)
		}
		if got := r.Header.Get("webhook-id"); got != d.ID {
			t.Errorf("attempt %d: webhook-id = %q, want the delivery id %q", attempt, got, d.ID)
		}
		if got := r.Header.Get("webhook-timestamp"); got != strconv.FormatInt(clock.Load(), 10) {
			t.Errorf("attempt %d: webhook-timestamp = %q, want the injected clock's %d", attempt, got, clock.Load())
		}
		clock.Add(7)
	}
}

// TestSignatureRejectsTampering checks that what the library verifies is
// this request and nothing else: a signature over something other than the
// sent id, timestamp and body, or with a constant key, would still pass the
// untampered check but not these.
func TestSignatureRejectsTampering(t *testing.T) {
	t.Parallel()
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now() // Verify checks the timestamp against the real clock.
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{Now: func() time.Time { return now }})
	d := delivery(actions.Literal(srv.URL))
	// A rule cannot set the signature headers (TestRuleCannotSetOwnedHeaders).
	edit(d, func(h *httpAction) { h.signingSecret = actions.Literal(testSecret) })
	if out := execute(t, e, d); out.Status != actions.Delivered {
		t.Fatalf("%+v", out)
	}
	r := <-seen
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if got := r.Header.Values(name); len(got) != 1 {
			t.Errorf("%s = %q, want exactly one value", name, got)
		}
	}
	if err := wh.Verify(r.Body, r.Header); err != nil {
		t.Fatalf("untampered request: %v", err)
	}

	flipped := bytes.Clone(r.Body)
	flipped[len(flipped)-2] ^= 1
	otherKey, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key")))
	with := func(name, value string) http.Header {
		h := r.Header.Clone()
		h.Set(name, value)
		return h
	}
	tests := []struct {
		name   string
		wh     *standardwebhooks.Webhook
		body   []byte
		header http.Header
	}{
		{"flipped body byte", wh, flipped, r.Header},
		{"appended body", wh, append(bytes.Clone(r.Body), ' '), r.Header},
		{"empty body", wh, nil, r.Header},
		{"other webhook-id", wh, r.Body, with("webhook-id", d.ID+"x")},
		{"other timestamp", wh, r.Body, with("webhook-timestamp", strconv.FormatInt(now.Unix()-1, 10))},
		{"other secret", otherKey, r.Body, r.Header},
	}
	for _, tt := range tests {
		if err := tt.wh.Verify(tt.body, tt.header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, standardwebhooks.ErrNoMatchingSignature)
		}
	}
}

func TestSignatureKnownVector(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	srv, seen := receiver(t, nil)
	e := newExecutor(t, Config{Now: func() time.Time { return now }})
	d := delivery(actions.Literal(srv.URL))
	edit(d, func(h *httpAction) { h.signingSecret = actions.Literal(testSecret) })
	if out := execute(t, e, d); out.Status != actions.Delivered {
		t.Fatalf("%+v", out)
	}
	r := <-seen
	wh, _ := standardwebhooks.NewWebhook(testSecret)
	want, _ := wh.Sign(d.ID, now, []byte(`{"id":"evt-1"}`))
	if got := r.Header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature = %q, want %q", got, want)
	}
	if !strings.HasPrefix(want, "v1,") {
		t.Errorf("signature %q lacks the v1 prefix", want)
	}
	// A clock far in the past is still what gets signed.
	if err := wh.VerifyIgnoringTimestamp(r.Body, r.Header); err != nil {
		t.Error(err)
	}
}

func TestInvalidSigningSecret(t *testing.T) {
	t.Parallel()
	srv, seen := receiver(t, nil)
	tests := []struct{ name, secret, want string }{
		{"bad base64", "whsec_not*base64!!s3cr3t", "signing_secret is invalid: want whsec_ followed by standard base64"},
		{"empty key", "whsec_", "signing_secret is invalid: the key is empty"},
		// base64 skips line breaks, so this decodes to no key without error.
		{"only a line break", "whsec_\r\n", "signing_secret is invalid: the key is empty"},
	}
	for _, tt := range tests {
		e := newExecutor(t, Config{Env: envMap(map[string]string{"S": tt.secret})})
		d := delivery(actions.Literal(srv.URL))
		edit(d, func(h *httpAction) { h.signingSecret = actions.Text{{Env: "S"}} })
		out := execute(t, e, d)
		if out.Status != actions.Permanent || !strings.Contains(out.Error, tt.want) {
			t.Errorf("%s: outcome %v %q, want permanent %q", tt.name, out.Status, out.Error, tt.want)
		}
		if strings.Contains(tt.secret, "s3cr3t") && strings.Contains(out.Error, "s3cr3t") {
			t.Errorf("%s: error reveals the secret: %q", tt.name, out.Error)
		}
	}
	noRequest(t, seen)

	// A literal secret is resolved the same way.
	e := newExecutor(t, Config{})
	d := delivery(actions.Literal(srv.URL))
	edit(d, func(h *httpAction) {
		h.signingSecret = actions.Literal("whsec_" + base64.StdEncoding.EncodeToString([]byte("k"))[:3])
	})
	if out := execute(t, e, d); out.Status != actions.Permanent {
		t.Errorf("truncated base64: %+v", out)
	}
	noRequest(t, seen)
}
