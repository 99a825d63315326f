package console

import (
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

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST:8080": true, "127.0.0.1:8080": true, "127.3.4.5": true, "[::1]:80": true,
		"evil.example": false, "localhost.evil.example": false, "10.0.0.1:8080": false, "": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v", host, got)
		}
	}
}
