package console

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 5 * time.Minute: "5m", 90 * time.Minute: "1h30m", 10 * time.Hour: "10h",
		time.Hour + 30*time.Second: "1h0m30s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestSafeNextStaysOnTheConsole(t *testing.T) {
	for next, want := range map[string]string{
		"/deliveries?status=failed": "/deliveries?status=failed",
		"//evil.example/":           "/",
		"/\\evil.example":           "/",
		"https://evil.example/":     "/",
		"":                          "/",
		"/a\r\nSet-Cookie: x":       "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestLoginLimiter(t *testing.T) {
	var l loginLimiter
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for i := range loginFailures {
		if l.blocked("10.0.0.1", t0) != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		l.fail("10.0.0.1", t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(loginFailures * time.Second)
	if wait := l.blocked("10.0.0.1", now); wait != loginWindow-loginFailures*time.Second {
		t.Errorf("after %d failures: wait %v, want until the first is a window old", loginFailures, wait)
	}
	if l.blocked("10.0.0.2", now) != 0 {
		t.Error("another address was blocked")
	}
	if l.blocked("10.0.0.1", t0.Add(loginWindow)) != 0 {
		t.Error("still blocked once the first failure left the window")
	}
}

func TestCachedSharesOneCountPerTTL(t *testing.T) {
	var c cached[int]
	calls := 0
	compute := func(context.Context) (int, error) { calls++; return calls, nil }
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	if v, _ := c.get(ctx, t0, compute); v != 1 {
		t.Fatalf("first get = %d", v)
	}
	if v, _ := c.get(ctx, t0.Add(summaryTTL-time.Millisecond), compute); v != 1 || calls != 1 {
		t.Errorf("within the TTL: %d after %d computations, want the first value", v, calls)
	}
	if v, _ := c.get(ctx, t0.Add(summaryTTL), compute); v != 2 {
		t.Errorf("after the TTL: %d, want a new computation", v)
	}
	failing := func(context.Context) (int, error) { return 0, errors.New("store down") }
	if _, err := c.get(ctx, t0.Add(3*summaryTTL), failing); err == nil {
		t.Error("an error was not returned")
	}
	if v, _ := c.get(ctx, t0.Add(3*summaryTTL), compute); v != 3 {
		t.Errorf("after an error: %d, want a new computation (errors are not kept)", v)
	}
}
