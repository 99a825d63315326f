package server

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limitsRules declare an event type with a long list and a long string,
// and triggers whose filters and templates would each, without limits,
// compare for minutes or build gigabytes from one such event.
const limitsRules = `
object "bulk" {
  n     = integer
  s     = string
  items = list(string)
}
event "bulk.posted" {
  data { bulk = bulk }
}
trigger "render" {
  on = ["bulk.posted"]
  action "http" "format" {
    url  = "%[1]s/r"
    body = format("%%${bulk.n}s", bulk.s)
  }
  action "http" "formatlist" {
    url  = "%[1]s/r"
    body = join(",", formatlist("%%s-%%s", bulk.items, bulk.s))
  }
  action "http" "loop" {
    url  = "%[1]s/r"
    body = "%%{ for i in bulk.items }${bulk.s}%%{ endfor }"
  }
  action "http" "nested" {
    url  = "%[1]s/r"
    body = jsonencode([for a in bulk.items : [for b in bulk.items : b]])
  }
  action "http" "replace" {
    url  = "%[1]s/r"
    body = replace(bulk.s, "a", bulk.s)
  }
  action "http" "ok" {
    url  = "%[1]s/ok"
    body = "${length(distinct(bulk.items))} items"
  }
}
trigger "filter" {
  on   = ["bulk.posted"]
  when = "sets.contains(bulk.items, bulk.items) || bulk.items.distinct().size() > 0"
  action "http" "h" { url = "%[1]s/f" }
}
`

func bulkBody(id string, items, n int, s string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"specversion":"1.0","id":%q,"source":"test","type":"bulk.posted","data":{"bulk":{"n":%d,"s":%q,"items":[`, id, n, s)
	for i := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d"`, i)
	}
	b.WriteString(`]}}}`)
	return []byte(b.String())
}

// Events built to make filters compare for minutes and templates build
// gigabytes (format("%${n}s") with n = 1,000,000,000, loops repeating a
// 100 KB field per element of a 20,000-element list) are accepted at once
// with those triggers under errors, while the heap stays far below 200 MB.
// Not parallel: the heap is the whole test binary's.
func TestAmplifyingEventsKeepMemoryBounded(t *testing.T) {
	rc := newReceiver(t)
	h := startServer(t, writeRules(t, fmt.Sprintf(limitsRules, rc.URL)), nil, nil)
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	const events = 30
	s := strings.Repeat("a", 100_000)
	for i := range events {
		status, ans := h.post(bulkBody(fmt.Sprintf("amp-%d", i), 20_000, 1_000_000_000, s))
		if status != 202 {
			t.Fatalf("event %d: %d %v", i, status, ans)
		}
		errs, _ := ans["errors"].([]any)
		kinds := map[string]string{}
		for _, e := range errs {
			m := e.(map[string]any)
			name := m["trigger"].(string)
			if a, ok := m["action"].(string); ok {
				name = a
			}
			kinds[name] = m["kind"].(string) + ": " + m["message"].(string)
		}
		for _, name := range []string{"render.http.format", "render.http.formatlist", "render.http.loop", "render.http.nested", "render.http.replace"} {
			if !strings.HasPrefix(kinds[name], "render error: body: rendering limit") {
				t.Fatalf("event %d: %s: %q", i, name, kinds[name])
			}
		}
		if !strings.HasPrefix(kinds["filter"], "filter error: filter stopped at the cost limit") {
			t.Fatalf("event %d: filter: %q", i, kinds["filter"])
		}
		if len(kinds) != 6 || len(deliveryIDs(t, ans)) != 1 {
			t.Fatalf("event %d: errors %v, deliveries %v", i, kinds, ans["deliveries"])
		}
	}
	close(stop)
	wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d events of %d KB: peak heap %d MB, heap obtained from the OS %d MB, process memory %d MB",
		events, len(bulkBody("x", 20_000, 1_000_000_000, s))>>10, peak.Load()>>20, ms.HeapSys>>20, ms.Sys>>20)
	if peak.Load() > 200<<20 {
		t.Errorf("peak heap %d MB, want < 200 MB", peak.Load()>>20)
	}
	rc.wait(t, "/ok", events)
	if got := string(rc.requests("/ok")[0].body); got != "20000 items" {
		t.Errorf("ok: %q", got)
	}
}
