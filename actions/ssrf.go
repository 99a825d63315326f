package actions

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Guard refuses connections to addresses a rule author should not be able
// to reach from the engine's network position: loopback, private and
// link-local networks, cloud metadata services and other non-global ranges.
//
// It checks the address the socket is about to connect to, after DNS
// resolution, so a name that resolves to a public address when validated and
// to a private one when dialled (DNS rebinding) is still refused. The zero
// value and a nil *Guard allow no exceptions.
type Guard struct {
	// Allow lists networks that are reachable even though they fall in a
	// refused range, e.g. 127.0.0.0/8 in tests or 10.1.0.0/16 for an
	// internal receiver. It overrides every rule, metadata addresses
	// included, so keep the prefixes narrow.
	Allow []netip.Prefix
}

// BlockedError is returned when the Guard refuses a connection. Executors
// look for it with errors.As to report a permanent failure: the same address
// will be refused on every retry.
type BlockedError struct {
	Addr netip.Addr // the address as dialled, zone removed
	// Embedded is the IPv4 address carried inside an IPv6 form (mapped,
	// NAT64, 6to4) when that is what was refused; otherwise invalid.
	Embedded netip.Addr
	Reason   string // e.g. "private address"
}

func (e *BlockedError) Error() string {
	if !e.Addr.IsValid() {
		return "refusing to connect: " + e.Reason
	}
	target := e.Addr.String()
	if e.Embedded.IsValid() {
		target = fmt.Sprintf("%s (embeds %s)", target, e.Embedded)
	}
	return fmt.Sprintf("refusing to connect to %s: %s (allow it with --allow-cidr)", target, e.Reason)
}

// Control has the shape of net.Dialer.Control. The dialer calls it for every
// address it tries, after resolution and before connect(2).
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		// Fail closed: an address we cannot read is an address we cannot vet.
		return &BlockedError{Reason: fmt.Sprintf("cannot parse dial address %q on %s", address, network)}
	}
	return g.Check(ap.Addr())
}

// Check reports whether addr may be connected to, as a *BlockedError when it
// may not. Other transports (SMTP relays, provider APIs) can use it directly.
func (g *Guard) Check(addr netip.Addr) error {
	// netip.Prefix.Contains never matches an address with a zone, so a
	// zoned fe80::1%eth0 would slip past every range below.
	addr = addr.WithZone("")
	if !addr.IsValid() {
		return &BlockedError{Reason: "invalid address"}
	}
	v4 := embeddedIPv4(addr)
	if g.allowed(addr) || (v4.IsValid() && g.allowed(v4)) {
		return nil
	}
	// The embedded address is where packets end up, so its reason is the
	// one worth reporting.
	if v4.IsValid() {
		if reason := refusal(v4); reason != "" {
			return &BlockedError{Addr: addr, Embedded: v4, Reason: reason}
		}
	}
	if reason := refusal(addr); reason != "" {
		return &BlockedError{Addr: addr, Reason: reason}
	}
	return nil
}

// DialContext returns a dial function for http.Transport.DialContext that
// runs Control on every connection attempt. base may be nil; it is copied,
// never modified, and any Control or ControlContext it has still runs after
// the guard's check.
func (g *Guard) DialContext(base *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	if base != nil {
		c := *base
		d = &c
	}
	prevCtx, prev := d.ControlContext, d.Control
	// ControlContext wins over Control when both are set, so the guard must
	// live there to be sure it runs.
	d.Control = nil
	d.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := g.Control(network, address, c); err != nil {
			return err
		}
		switch {
		case prevCtx != nil:
			return prevCtx(ctx, network, address, c)
		case prev != nil:
			return prev(network, address, c)
		}
		return nil
	}
	return d.DialContext
}

func (g *Guard) allowed(addr netip.Addr) bool {
	if g == nil {
		return false
	}
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// embeddedIPv4 returns the IPv4 address that an IPv6 form delivers packets
// to, through the kernel (mapped, compatible) or a translator the network may
// run (NAT64, 6to4). An attacker picks whichever form the filter forgets.
func embeddedIPv4(addr netip.Addr) netip.Addr {
	if !addr.Is6() {
		return netip.Addr{}
	}
	b := addr.As16()
	switch {
	case addr.Is4In6():
		return addr.Unmap()
	case nat64.Contains(addr),
		// :: and ::1 sit in ::/96 too, but they are not IPv4 addresses.
		ipv4Compatible.Contains(addr) && b[12] != 0:
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(addr):
		return netip.AddrFrom4([4]byte(b[2:6]))
	}
	return netip.Addr{}
}

var (
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	ipv4Compatible = netip.MustParsePrefix("::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// refusal names the refused range addr falls in, or "" if it is global.
// Specific entries come first so that 169.254.169.254 reads as a metadata
// address rather than merely link-local.
func refusal(addr netip.Addr) string {
	for _, r := range refusedRanges {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	return ""
}

type refusedRange struct {
	prefix netip.Prefix
	reason string
}

const metadata = "cloud metadata address"

// refusedRanges is immutable after init; it is data, not state.
var refusedRanges = func() []refusedRange {
	table := []struct{ cidr, reason string }{
		// Cloud metadata endpoints hand out credentials to whoever asks.
		{"169.254.169.254/32", metadata},     // AWS, GCP, Azure, OCI, DigitalOcean…
		{"169.254.170.2/32", metadata},       // AWS ECS task credentials
		{"169.254.169.123/32", metadata},     // AWS time sync, same host service
		{"100.100.100.200/32", metadata},     // Alibaba Cloud
		{"192.0.0.192/32", metadata},         // Oracle Cloud (legacy)
		{"fd00:ec2::254/128", metadata},      // AWS IPv6
		{"fd00:ec2::23/128", metadata},       // AWS IPv6 DNS/time
		{"fd20:ce::254/128", metadata},       // GCP IPv6
		{"0.0.0.0/8", "unspecified address"}, // Linux connects 0.0.0.0 to the local host
		{"::/128", "unspecified address"},
		{"127.0.0.0/8", "loopback address"},
		{"::1/128", "loopback address"},
		{"10.0.0.0/8", "private address"},
		{"172.16.0.0/12", "private address"},
		{"192.168.0.0/16", "private address"},
		{"fc00::/7", "private address"},
		{"fec0::/10", "private address"}, // deprecated site-local, still routed by some stacks
		{"169.254.0.0/16", "link-local address"},
		{"fe80::/10", "link-local address"},
		{"100.64.0.0/10", "carrier-grade NAT address"},
		{"224.0.0.0/4", "multicast address"},
		{"ff00::/8", "multicast address"},
		{"255.255.255.255/32", "broadcast address"},
		{"240.0.0.0/4", "reserved address"},
		{"192.0.0.0/24", "reserved address"},
		{"198.18.0.0/15", "reserved address"}, // benchmarking, often used inside data centres
		{"192.0.2.0/24", "reserved address"},
		{"198.51.100.0/24", "reserved address"},
		{"203.0.113.0/24", "reserved address"},
		{"100::/64", "reserved address"},
		{"2001:db8::/32", "reserved address"},
		{"2001::/32", "reserved address"},      // Teredo: the IPv4 relay is obfuscated, not checkable
		{"64:ff9b:1::/48", "reserved address"}, // local-use NAT64, embedding depends on the site
		// IPv4-compatible addresses were deprecated in 2006; nothing
		// legitimate uses them, whatever IPv4 address they embed.
		{"::/96", "reserved address"},
	}
	out := make([]refusedRange, len(table))
	for i, e := range table {
		out[i] = refusedRange{netip.MustParsePrefix(e.cidr), e.reason}
	}
	return out
}()
