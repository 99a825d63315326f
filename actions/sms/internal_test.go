package sms

import (
	"net/http"
	"testing"
	"time"
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
		{"99999999999", time.Time{}}, // beyond a week: a broken peer, not a plan
		{"1.5", time.Time{}},
		{now.Add(time.Hour).Format(http.TimeFormat), now.Add(time.Hour)},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Time{}},
		{"tomorrow", time.Time{}},
	} {
		if got := retryAfter(tc.in, now); !got.Equal(tc.want) {
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

func TestRedactorLongestFirst(t *testing.T) {
	t.Parallel()
	r := newRedactor("AC1", "tok")
	r.add("abc")
	r.add("abcdef")
	if got := r.clean("x abcdef y abc z"); got != "x (sensitive) y (sensitive) z" {
		t.Errorf("clean = %q", got)
	}
	r.add("Zq9 ö&<") // added after a clean: the replacer must be rebuilt
	for in, want := range map[string]string{
		`a Zq9 ö&< b`:                   `a (sensitive) b`,
		`a Zq9+%C3%B6%26%3C b`:          `a (sensitive) b`,
		`a Zq9%20%C3%B6&%3C b`:          `a (sensitive) b`,
		`a Zq9 ö\u0026\u003c b`:         `a (sensitive) b`,
		`a Zq9 \u00f6&< b`:              `a (sensitive) b`,
		"secret tok, auth QUMxOnRvaw==": "secret (sensitive), auth (sensitive)",
	} {
		if got := r.clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
