package engine

import (
	"context"
	"strings"
	"testing"
	"time"
)

const scheduleRules = `
trigger "timed" {
  on = ["participant.confirmed"]
  action "http" "delayed" {
    url = "https://example.com/a"
    schedule { delay = "2h" }
  }
  action "http" "next_day" {
    url = "https://example.com/b"
    schedule {
      at = "${timeadd(appointment.end_time, "24h")}"
      window {
        time_zone = appointment.time_zone
        days      = ["mon", "tue", "wed", "thu", "fri"]
        from      = "10:00"
        to        = "18:00"
      }
    }
  }
  action "http" "quiet" {
    url = "https://example.com/c"
    schedule {
      window {
        time_zone = "America/New_York"
        from      = "08:00"
        to        = "20:00"
      }
    }
  }
  action "http" "now" { url = "https://example.com/d" }
}

trigger "unconfirmed" {
  on = ["participant.invite_sent"]
  schedule {
    delay      = "2h"
    cancel_on  = ["participant.confirmed", "appointment.deleted"]
    correlate  = "appointment.id"
    late_after = "30m"
  }
  action "http" "front_desk" { url = "https://example.com/e" }
}
`

const confirmed = `{"specversion":"1.0","id":"e1","source":"s","type":"participant.confirmed","time":"2026-12-03T20:00:00Z",
 "data":{"appointment":{"id":5003,"title":"Massage","start_time":"2026-12-03T18:00:00Z","end_time":"2026-12-04T19:00:00Z","time_zone":"%s"},
 "participant":{"id":9,"name":"Carla Diaz","email":"carla@example.org"}}}`

func TestScheduleTiming(t *testing.T) {
	t.Parallel()
	set := loadRules(t, scheduleRules)
	e := New(Options{})
	ev, err := e.Decode(set.Set().Schema, []byte(strings.Replace(confirmed, "%s", "America/Los_Angeles", 1)))
	if err != nil {
		t.Fatal(err)
	}
	// Thursday 2026-12-03 22:30 in New York: outside its quiet hours.
	now := time.Date(2026, 12, 4, 3, 30, 0, 0, time.UTC)
	res := e.Match(context.Background(), set, ev, MatchOptions{Now: now})
	if len(res.Failures) > 0 {
		t.Fatalf("failures: %+v", res.Failures)
	}
	due := map[string]string{}
	for _, f := range res.Fired {
		if f.Timing == nil {
			due[f.Action.Name] = "now"
			continue
		}
		due[f.Action.Name] = f.Timing.Due.UTC().Format(time.RFC3339)
	}
	want := map[string]string{
		"delayed": "2026-12-03T22:00:00Z", // 2h after the event's own time, not its arrival
		// end 2026-12-04T19:00Z + 24h = Saturday 11:00 in Los Angeles: waits for Monday 10:00 PST.
		"next_day": "2026-12-07T18:00:00Z",
		"quiet":    "2026-12-04T13:00:00Z", // Friday 08:00 in New York
		"now":      "now",
	}
	for k, w := range want {
		if due[k] != w {
			t.Errorf("%s: due %s, want %s", k, due[k], w)
		}
	}
	// A confirmation cancels the waiting reminder of the same appointment.
	if len(res.Cancels) != 1 || res.Cancels[0] != (Cancel{Action: "unconfirmed.http.front_desk", Correlation: "5003"}) {
		t.Errorf("cancels = %+v", res.Cancels)
	}
}

func TestScheduleReason(t *testing.T) {
	t.Parallel()
	set := loadRules(t, scheduleRules)
	e := New(Options{})
	ev, _ := e.Decode(set.Set().Schema, []byte(strings.Replace(confirmed, "%s", "America/Los_Angeles", 1)))
	res := e.Match(context.Background(), set, ev, MatchOptions{Now: time.Date(2026, 12, 4, 3, 30, 0, 0, time.UTC)})
	for _, f := range res.Fired {
		if f.Action.Name == "next_day" {
			if want := "at 2026-12-05T19:00:00Z; next window opening after 2026-12-05 11:00, in America/Los_Angeles"; f.Timing.Reason != want {
				t.Errorf("reason %q, want %q", f.Timing.Reason, want)
			}
			return
		}
	}
	t.Fatal("next_day did not fire")
}

func TestScheduleBadZoneFailsOnlyItsAction(t *testing.T) {
	t.Parallel()
	set := loadRules(t, scheduleRules)
	e := New(Options{})
	ev, err := e.Decode(set.Set().Schema, []byte(strings.Replace(confirmed, "%s", "Mars/Olympus_Mons", 1)))
	if err != nil {
		t.Fatal(err)
	}
	res := e.Match(context.Background(), set, ev, MatchOptions{Now: time.Now()})
	if len(res.Failures) != 1 || res.Failures[0].Action != "timed.http.next_day" || res.Failures[0].Kind != RenderError {
		t.Fatalf("failures = %+v, want one render error for next_day", res.Failures)
	}
	if !strings.Contains(res.Failures[0].Err.Error(), `"Mars/Olympus_Mons" is not an IANA time zone`) {
		t.Errorf("error %q does not name the zone", res.Failures[0].Err)
	}
	if got := addresses(res); len(got) != 3 {
		t.Errorf("fired %v, want the other three actions", got)
	}
}

func TestScheduleCorrelationAndExpiry(t *testing.T) {
	t.Parallel()
	set := loadRules(t, scheduleRules)
	e := New(Options{})
	invite := `{"specversion":"1.0","id":"e2","source":"s","type":"participant.invite_sent",
	 "data":{"appointment":{"id":77,"title":"x","start_time":"2026-12-03T18:00:00Z","end_time":"2026-12-03T19:00:00Z"},"participant":{"id":1,"name":"A"}}}`
	ev, err := e.Decode(set.Set().Schema, []byte(invite))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	res := e.Match(context.Background(), set, ev, MatchOptions{Now: now})
	if len(res.Fired) != 1 {
		t.Fatalf("fired %v", addresses(res))
	}
	tm := res.Fired[0].Timing
	if !tm.Due.Equal(now.Add(2*time.Hour)) || tm.Correlation != "77" {
		t.Errorf("timing %+v: want due 2h after arrival (the event has no time), correlation 77", tm)
	}
	if tm.Expired(tm.Due.Add(30*time.Minute)) || !tm.Expired(tm.Due.Add(31*time.Minute)) {
		t.Error("late_after 30m: expired only past 30 minutes after due")
	}
	// An appointment.deleted without an id cancels nothing.
	del := `{"specversion":"1.0","id":"e3","source":"s","type":"appointment.deleted","data":{"appointment":{"title":"x"}}}`
	ev, err = e.Decode(set.Set().Schema, []byte(del))
	if err != nil {
		t.Fatal(err)
	}
	if res := e.Match(context.Background(), set, ev, MatchOptions{Now: now}); len(res.Cancels) != 0 {
		t.Errorf("cancels = %+v, want none", res.Cancels)
	}
}
