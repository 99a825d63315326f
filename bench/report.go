package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

func (r *Report) print(w io.Writer) {
	c := r.Config
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	mode := fmt.Sprintf("as fast as possible (%d in flight)", c.Workers)
	if c.Rate > 0 {
		mode = fmt.Sprintf("%d events/s", c.Rate)
	}
	p("")
	p("== hookline bench: %s, %d node(s), %s, %s for %s", r.Store, c.Nodes, r.Rules, mode, c.Duration)
	p("machine:          %s; other processes (not the servers, the harness or PostgreSQL) used %.0f%% of it during the load", r.Machine, 100*r.OtherLoad)
	p("hookline:         %s", r.Built)
	if c.Chaos {
		p("chaos:            %d kills (SIGKILL every %s ±25%%), mean kill→ready %s; receiver fails %.0f%% of deliveries",
			r.Kills, c.KillEvery, ms(r.Restart), 100*c.FailRate)
	} else if c.FailRate > 0 {
		p("faults:           receiver fails %.0f%% of deliveries", 100*c.FailRate)
	}
	p("intake:           %d sent, %d accepted; %s events/s accepted; latency p50 %s, p99 %s",
		r.Sent, r.Accepted, num(r.Load.Throughput), ms(r.Load.P50), ms(r.Load.P99))
	if r.Raw != nil {
		note := ""
		if c.Rate > 0 {
			note = " (fixed-rate run: not a ceiling)"
		}
		p("raw loopback:     %s req/s (p50 %s, p99 %s) with the same tool and settings against a trivial 200 handler (other load %.0f%%); intake is %.1f%% of it%s",
			num(r.Raw.Throughput), ms(r.Raw.P50), ms(r.Raw.P99), 100*r.RawOtherLoad, 100*r.Load.Throughput/r.Raw.Throughput, note)
	}
	p("deliveries:       %d promised (%.2f per event), %d delivered (%s), lost %d, duplicated %d (%.3f%%), unexpected %d",
		r.Expected, ratio(r.Expected, r.Accepted), r.Delivered, kinds(r.ByKind), r.Lost, r.Duplicates, 100*ratio(r.Duplicates, r.Delivered), r.Unexpected)
	drained := "drained"
	if !r.Drained {
		drained = "NOT drained"
	}
	after := ""
	if r.DeliveriesPerSecAfter > 0 {
		after = fmt.Sprintf(", %s/s after the load (the backlog, delivery alone)", num(r.DeliveriesPerSecAfter))
	}
	p("delivery rate:    %s/s during the load, %s/s from start to the last delivery%s; %s %s after the load",
		num(r.DeliveriesPerSecLoad), num(r.DeliveriesPerSec), after, drained, r.DrainWait.Round(100*time.Millisecond))
	if r.River != nil {
		note := ""
		if c.Rate > 0 {
			note = " (fixed-rate run: not a ceiling)"
		}
		after := ""
		if r.DeliveriesPerSecAfter > 0 {
			after = fmt.Sprintf(", %.0f%% after the load", 100*r.DeliveriesPerSecAfter/r.River.PerSec)
		}
		p("River no-op:      %s jobs/s (%d jobs, %d workers, %s, the server's settings; other load %.0f%%); deliveries are %.0f%% of it from start to end%s%s",
			num(r.River.PerSec), r.River.Jobs, c.ServerWorkers, r.Store, 100*r.RiverOtherLoad, 100*r.DeliveriesPerSec/r.River.PerSec, after, note)
	}
	p("event→delivered:  p50 %s, p99 %s (request sent → receiver accepted, retries included)", ms(r.E2EP50), ms(r.E2EP99))
	p("errors:           intake: %s", topErrors(r.IntakeErrors, 4))
	if r.Resent > 0 {
		p("                  %d events sent again after a lost answer: %d had been stored (200), %d had not (202)",
			r.Resent, r.Resent200, r.Resent-r.Resent200)
	}
	p("                  trigger errors in answers %d; receiver: %d requests, %d failed on purpose, %d bad signatures, %d malformed",
		r.TriggerErrors, r.PeerRequests, r.Injected, r.BadSignature, r.BadRequest)
	for _, e := range r.StopErrs {
		p("                  stop: %s", e)
	}
	db := ""
	if r.CPU.Database > 0.005 {
		db = fmt.Sprintf(", PostgreSQL %.2f", r.CPU.Database)
	}
	p("server:           peak RSS %.0f MiB (VmHWM, highest of any server process); CPU during the load: servers %.2f cores, harness (vegeta, receiver) %.2f%s, other processes %.2f",
		float64(r.PeakRSS)/1024, r.CPU.Servers, r.CPU.Harness, db, r.CPU.Other)
	p("cost:             %s", r.Cost)
	if c.Soak > 0 {
		p("soak:             --retention %s; store size (hookline_store_size_bytes) and events removed:", c.Retention)
		for _, s := range r.Sizes {
			p("                  %8s  %10s  %d", s.At.Round(time.Second), mib(s.Bytes), s.Removed)
		}
		switch {
		case !r.SoakJudged:
			p("                  too short to tell whether the size levels off (%d retention periods needed)", soakSettle)
		case r.SoakLevelled:
			p("                  levels off: %+.1f%% over the second half (at most %.0f%%)", 100*r.SoakGrowth, 100*soakLevel)
		default:
			p("                  does NOT level off: %+.1f%% over the second half (at most %.0f%%)", 100*r.SoakGrowth, 100*soakLevel)
		}
	}
	switch {
	case r.Pass():
		p("RESULT: PASS (nothing accepted was lost)")
	case r.Lost > 0 || r.Accepted == 0:
		p("RESULT: FAIL: %d accepted deliveries lost", r.Lost)
	default:
		p("RESULT: FAIL: the store's size did not level off")
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(100 * time.Millisecond).String()
}

// num formats a rate with thousands separators.
func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func kinds(m map[string]int) string {
	var parts []string
	for _, k := range []string{"http", "sms", "email"} {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	return strings.Join(parts, ", ")
}
