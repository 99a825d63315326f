package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func thousandTriggers(version int) string {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, `trigger "t%d" {
  description = "version %d"
  on          = ["participant.confirmed"]
  when        = "appointment.calendar.name == 'Calendar %d'"
  action "http" "h" {
    url  = "https://crm.example.com/hooks/%d"
    body = "${participant.name}: ${appointment.title} on ${date_and_time_phrase(appointment.start_time)}"
  }
}
`, i, version, i, i)
	}
	return b.String()
}

// BenchmarkReload measures file write -> new rules live for 1,000 triggers
// through the fsnotify watcher, default debounce (250 ms) included.
func BenchmarkReload(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "rules.hcl")
	if err := os.WriteFile(path, []byte(thousandTriggers(0)), 0o644); err != nil {
		b.Fatal(err)
	}
	h := startServer(b, dir, nil, func(o *Options) { o.Sandbox = true })
	live := &h.srv.live
	for i := 0; b.Loop(); i++ {
		old := live.Load().Set().Hash
		if err := os.WriteFile(path, []byte(thousandTriggers(i+1)), 0o644); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for live.Load().Set().Hash == old {
			if time.Now().After(deadline) {
				b.Fatal("the new rules never went live")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// BenchmarkReloadCall measures Server.Reload itself for 1,000 triggers:
// hash, load, compile and executors, then the swap; no watcher, no
// debounce. Goal: ≤ 500 ms.
func BenchmarkReloadCall(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "rules.hcl")
	if err := os.WriteFile(path, []byte(thousandTriggers(0)), 0o644); err != nil {
		b.Fatal(err)
	}
	h := startServer(b, dir, nil, func(o *Options) { o.Sandbox = true; o.Watch = "off" })
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if err := os.WriteFile(path, []byte(thousandTriggers(i+1)), 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if res := h.srv.Reload("bench"); !res.Changed || res.Err != nil {
			b.Fatalf("reload: %+v", res)
		}
	}
}
