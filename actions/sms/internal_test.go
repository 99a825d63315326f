package sms

import (
	"net/http"
	"testing"
	"time"

	"github.com/hookline/hookline/actions"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"120", now.Add(2 * time.Minute)},
		{" 5 ", now.Add(5 * time.Second)},
		{"0", time.Time{}},
		{"-3", time.Time{}},
		{"99999999999", now.Add(actions.MaxRetryAfter)}, // clamped: a broken peer, not a plan
		{now.Add(48 * time.Hour).Format(http.TimeFormat), now.Add(actions.MaxRetryAfter)},
		{"1.5", time.Time{}},
		{now.Add(time.Hour).Format(http.TimeFormat), now.Add(time.Hour)},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Time{}},
		{"tomorrow", time.Time{}},
	} {
		if got := actions.RetryAfter(tc.in, now, actions.MaxRetryAfter); !got.Equal(tc.want) {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIsE164(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"+14155552671": true, "+12": true, "+123456789012345": true,
		"+1234567890123456": false, "+1": false, "+0123": false, "14155552671": false,
		"+1415555267a": false, "+": false, "": false, "++1415": false,
	} {
		if got := isE164(s); got != want {
			t.Errorf("isE164(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestRedactorCredentials covers what newRedactor adds to the shared
// redactor; the forms it looks for are tested in package actions.
func TestRedactorCredentials(t *testing.T) {
	t.Parallel()
	r := newRedactor(nil, "AC1", "tok")
	if got := r.Redact("secret tok, auth QUMxOnRvaw=="); got != "secret (sensitive), auth (sensitive)" {
		t.Errorf("Redact = %q", got)
	}
}

// TestNoProxy: a proxy from the environment would be dialled instead of
// api_base_url, so the guard would vet the proxy's address, not Twilio's.
func TestNoProxy(t *testing.T) {
	t.Parallel()
	e, err := New(Config{AccountSID: "AC1", AuthToken: "tok", From: "+15550199"})
	if err != nil {
		t.Fatal(err)
	}
	if e.pool.Proxy != nil {
		t.Error("the transport uses a proxy")
	}
	if e.transport != http.RoundTripper(e.pool) {
		t.Error("attempts do not go through the guarded transport")
	}
}
