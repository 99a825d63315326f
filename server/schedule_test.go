package server

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// serverClock is the one clock of a server under test.
type serverClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *serverClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *serverClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const scheduleRules = `
trigger "unconfirmed" {
  on = ["participant.invite_sent"]
  schedule {
    delay     = "2h"
    cancel_on = ["participant.confirmed"]
    correlate = "appointment.id"
  }
  action "http" "desk" {
    url = "%s/desk"
  }
  action "http" "crm" {
    url = "%s/crm"
  }
}
`

func inviteData(appt int) string {
	return `{"appointment":{"id":` + itoa(appt) + `,"title":"Visit"},"participant":{"name":"Ann"}}`
}

// Scheduled actions wait as "scheduled" with their due time, a correlated
// event cancels the waiting ones of its appointment, a reload that
// disables an action cancels its waiting deliveries when due, and the
// rest run when the clock reaches them.
func TestScheduledActions(t *testing.T) { eachStore(t, testScheduledActions) }

func testScheduledActions(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	src := strings.ReplaceAll(scheduleRules, "%s", rc.URL)
	dir := writeRules(t, src)
	clock := &serverClock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	h := startServer(t, dir, nil, func(o *Options) {
		if store != nil {
			store(o)
		}
		o.Now = clock.Now
		o.Watch = "off"
	})
	code, ans := h.post(event("inv-1", "participant.invite_sent", inviteData(1)))
	if code != 202 {
		t.Fatalf("invite 1: %d %v", code, ans)
	}
	first := deliveryIDs(t, ans)
	_, ans = h.post(event("inv-2", "participant.invite_sent", inviteData(2)))
	second := deliveryIDs(t, ans)

	d := waitStatus(t, h, first[0], "scheduled")
	if d["due_at"] != "2026-12-02T11:00:00Z" || !strings.Contains(d["schedule"].(string), "2h after the event's arrival") {
		t.Errorf("scheduled delivery %v", d)
	}
	_, page := h.do("GET", "/v1/deliveries?status=scheduled", "", nil, nil)
	if n := len(page["deliveries"].([]any)); n != 4 {
		t.Errorf("%d scheduled, want 4", n)
	}

	// Appointment 1 is confirmed: both its waiting deliveries are canceled.
	code, ans = h.post(event("conf-1", "participant.confirmed", `{"appointment":{"id":1},"participant":{"name":"Ann"}}`))
	if code != 202 || ans["canceled"] != float64(2) {
		t.Fatalf("confirmation: %d %v, want 2 canceled", code, ans)
	}
	confID := ans["id"].(string)
	d = waitStatus(t, h, first[0], "canceled")
	if d["canceled_by"] != confID {
		t.Errorf("canceled_by %v, want %s", d["canceled_by"], confID)
	}

	// A reload disables the crm action; the desk one of appointment 2 is
	// canceled by hand.
	if err := os.WriteFile(filepath.Join(dir, "rules.hcl"), []byte(strings.Replace(src, `action "http" "crm" {`, `action "http" "crm" {
    enabled = false`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := h.srv.Reload("test"); res.Err != nil || !res.Changed {
		t.Fatalf("reload: %+v", res)
	}
	if code, ans := h.do("POST", "/v1/deliveries/"+second[0]+"/cancel", "", nil, nil); code != 200 {
		t.Fatalf("cancel: %d %v", code, ans)
	}
	if code, ans := h.do("POST", "/v1/deliveries/"+second[0]+"/cancel", "", nil, nil); code != 409 || ans["error"].(map[string]any)["code"] != "not_waiting" {
		t.Errorf("cancel again: %d %v, want 409 not_waiting", code, ans)
	}
	if code, _ := h.do("POST", "/v1/deliveries/dlv_nope/cancel", "", nil, nil); code != 404 {
		t.Errorf("cancel unknown: %d, want 404", code)
	}

	// Due: the crm delivery of appointment 2 is canceled for the reload;
	// a canceled delivery retried by hand runs now.
	clock.Advance(2 * time.Hour)
	d = waitStatus(t, h, second[1], "canceled")
	if d["canceled_by"] != "the action is disabled" {
		t.Errorf("canceled_by %v", d["canceled_by"])
	}
	if code, _ := h.do("POST", "/v1/deliveries/"+second[0]+"/retry", "", nil, nil); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	waitStatus(t, h, second[0], "delivered")
	if n := len(rc.requests("/desk")); n != 1 {
		t.Errorf("%d requests to /desk, want 1 (the retried one)", n)
	}
	if n := len(rc.requests("/crm")); n != 0 {
		t.Errorf("%d requests to /crm, want none", n)
	}
}
