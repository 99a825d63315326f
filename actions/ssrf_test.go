package actions

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGuardCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		reason string // "" means allowed
	}{
		// Global unicast is the whole point.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"172.32.0.1", ""},  // just outside 172.16/12
		{"100.128.0.1", ""}, // just outside 100.64/10
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8

		{"127.0.0.1", "loopback address"},
		{"127.255.255.254", "loopback address"},
		{"::1", "loopback address"},
		{"10.0.0.1", "private address"},
		{"172.16.0.1", "private address"},
		{"172.31.255.255", "private address"},
		{"192.168.1.1", "private address"},
		{"fc00::1", "private address"},
		{"fd12:3456::1", "private address"},
		{"fec0::1", "private address"},
		{"169.254.1.1", "link-local address"},
		{"fe80::1", "link-local address"},
		{"fe80::1%eth0", "link-local address"}, // zones must not hide the range
		{"100.64.0.1", "carrier-grade NAT address"},
		{"100.127.255.255", "carrier-grade NAT address"},
		{"224.0.0.1", "multicast address"},
		{"239.255.255.250", "multicast address"},
		{"ff02::1", "multicast address"},
		{"0.0.0.0", "unspecified address"},
		{"0.1.2.3", "unspecified address"},
		{"::", "unspecified address"},
		{"255.255.255.255", "broadcast address"},
		{"240.0.0.1", "reserved address"},
		{"198.18.0.1", "reserved address"},
		{"2001:db8::1", "reserved address"},
		{"2001:0:4136:e378::1", "reserved address"}, // Teredo
		{"::10.0.0.1", "private address"},           // IPv4-compatible
		{"::8.8.8.8", "reserved address"},
		{"169.254.169.254", "cloud metadata address"},
		{"169.254.170.2", "cloud metadata address"},
		{"100.100.100.200", "cloud metadata address"},
		{"fd00:ec2::254", "cloud metadata address"},
		{"fd20:ce::254", "cloud metadata address"},

		// IPv4-mapped, NAT64 and 6to4 forms reach the embedded address.
		{"::ffff:127.0.0.1", "loopback address"},
		{"::ffff:10.0.0.1", "private address"},
		{"::ffff:192.168.0.1", "private address"},
		{"::ffff:169.254.169.254", "cloud metadata address"},
		{"::ffff:100.64.0.1", "carrier-grade NAT address"},
		{"::ffff:0.0.0.0", "unspecified address"},
		{"::ffff:224.0.0.1", "multicast address"},
		{"::ffff:255.255.255.255", "broadcast address"},
		{"64:ff9b::a9fe:a9fe", "cloud metadata address"},
		{"64:ff9b::7f00:1", "loopback address"},
		{"2002:a00:1::1", "private address"},
		{"2002:a9fe:a9fe::", "cloud metadata address"},
	}
	var g Guard
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			err := g.Check(netip.MustParseAddr(tt.addr))
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want allowed", tt.addr, err)
				}
				return
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("Check(%s) = %v, want *BlockedError", tt.addr, err)
			}
			if be.Reason != tt.reason {
				t.Errorf("Check(%s) reason = %q, want %q", tt.addr, be.Reason, tt.reason)
			}
			if !strings.Contains(err.Error(), "--allow-cidr") {
				t.Errorf("error %q does not say how to allow the address", err)
			}
		})
	}
}

func TestGuardAllow(t *testing.T) {
	t.Parallel()
	g := &Guard{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00:1::/32"),
	}}
	tests := []struct {
		addr    string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"127.9.9.9", true},
		{"::ffff:127.0.0.1", true}, // the same socket as 127.0.0.1
		{"10.1.2.3", true},
		{"::ffff:10.1.2.3", true},
		{"fd00:1::5", true},
		{"10.2.0.1", false},
		{"::1", false}, // allowing IPv4 loopback does not allow IPv6 loopback
		{"169.254.169.254", false},
		{"fd00:2::5", false},
		{"8.8.8.8", true}, // the allowlist only adds
	}
	for _, tt := range tests {
		err := g.Check(netip.MustParseAddr(tt.addr))
		if got := err == nil; got != tt.allowed {
			t.Errorf("Check(%s) = %v, want allowed=%v", tt.addr, err, tt.allowed)
		}
	}
}

func TestGuardMessage(t *testing.T) {
	t.Parallel()
	var g *Guard // nil is usable and allows nothing extra
	err := g.Check(netip.MustParseAddr("10.0.0.1"))
	want := "refusing to connect to 10.0.0.1: private address (allow it with --allow-cidr)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	err = g.Check(netip.MustParseAddr("::ffff:10.0.0.1"))
	want = "refusing to connect to ::ffff:10.0.0.1 (embeds 10.0.0.1): private address (allow it with --allow-cidr)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestGuardControlFailsClosed(t *testing.T) {
	t.Parallel()
	var g Guard
	for _, addr := range []string{"", "not-an-address:80", "example.com:443", "10.0.0.1"} {
		var be *BlockedError
		if err := g.Control("tcp", addr, nil); !errors.As(err, &be) {
			t.Errorf("Control(%q) = %v, want *BlockedError", addr, err)
		}
	}
	if err := g.Control("tcp4", "8.8.8.8:443", nil); err != nil {
		t.Errorf("Control(8.8.8.8:443) = %v", err)
	}
	if err := g.Control("tcp6", "[::ffff:127.0.0.1]:80", nil); err == nil {
		t.Error("Control([::ffff:127.0.0.1]:80) allowed a mapped loopback address")
	}
}

// TestGuardDial dials a real loopback listener: the guard must sit on the
// socket path, not in a pre-flight check that resolution could outwit.
func TestGuardDial(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// "localhost" exercises the resolve-then-dial path the guard exists for.
	for _, target := range []string{ln.Addr().String(), "localhost:" + portOf(t, ln)} {
		var blocked Guard
		_, err = blocked.DialContext(nil)(ctx, "tcp4", target)
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Fatalf("dial %s: got %v, want *BlockedError", target, err)
		}
		if be.Reason != "loopback address" {
			t.Errorf("dial %s: reason %q", target, be.Reason)
		}
	}

	// The base dialer's own Control still runs, after the guard.
	var ran bool
	base := &net.Dialer{Control: func(string, string, syscall.RawConn) error { ran = true; return nil }}
	allowed := &Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	c, err := allowed.DialContext(base)(ctx, "tcp4", ln.Addr().String())
	if err != nil {
		t.Fatalf("allowed dial: %v", err)
	}
	c.Close()
	if !ran {
		t.Error("base dialer's Control did not run")
	}
	if base.ControlContext != nil {
		t.Error("DialContext modified the base dialer")
	}
}

func portOf(t *testing.T, ln net.Listener) string {
	t.Helper()
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}
