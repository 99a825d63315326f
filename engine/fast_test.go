package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"cel.dev/cel-go/cel"
)

// renderBoth renders every action listening to ev's type twice, through
// the plan and through HCL alone, and fails on any difference.
func renderBoth(t *testing.T, e *Engine, c *Compiled, ev *Event) int {
	t.Helper()
	comp := c.byType[ev.Type]
	set := c.Set()
	fast, slow := eventScope{e: e, set: set, ev: ev, comp: comp, limits: set.Limits()}, eventScope{e: e, set: set, ev: ev, limits: set.Limits()}
	n := 0
	for i, tr := range set.TriggersFor(ev.Type) {
		for j, a := range tr.Actions {
			want, wantErr := render(&slow, a, throughHCL(comp.actions[i][j]))
			got, gotErr := render(&fast, a, comp.actions[i][j])
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("%s on %s:\n got %s, %v\nwant %s, %v", a.Address, ev.ID, g, gotErr, w, wantErr)
			}
			n++
		}
	}
	return n
}

// throughHCL is ca without fast forms and pre-rendered templates: every
// template evaluated by HCL, as before either existed.
func throughHCL(ca *compiledAction) *compiledAction {
	slow := &compiledAction{roots: ca.roots}
	for _, c := range ca.attrs {
		if !c.spec.Kind.Static() {
			c.fast, c.konst = nil, nil
		}
		slow.attrs = append(slow.attrs, c)
	}
	return slow
}

func TestCompiledRendersAsHCL(t *testing.T) {
	t.Parallel()
	set := loadRules(t, `
twilio {
  account_sid = "AC1"
  auth_token  = env("TWILIO_AUTH_TOKEN")
  from        = "+15550199"
}
smtp {
  host = "smtp.example.com"
  port = 587
  from = "desk@example.com"
}
object "reading" {
  value = number
  count = integer
  ok    = bool
  at    = timestamp
  note  = any
}
event "sensor.read" {
  data {
    reading = reading
    other   = optional(reading)
  }
}
trigger "numbers" {
  on = ["sensor.read"]
  action "http" "h" {
    url  = "https://example.com/${reading.count}"
    body = "${reading.value}|${reading.count}|${reading.ok}|${reading.at}|${other.value}|${other.at}|${event.time}|${event.subject}"
    headers = { "X-Note" = reading.note }
  }
  action "http" "calls" {
    url  = "https://example.com"
    body = "${format("%.3f/%05d", reading.value, reading.count)} ${tostring(reading.ok)} ${jsonencode(reading.note)} ${coalesce(tostring(other.count), "x")}"
    signing_secret = "k-${env("SIGNING")}"
  }
  action "http" "any" {
    url  = "https://example.com"
    body = "${reading.note}"
  }
  action "http" "bare_any" {
    url  = "https://example.com"
    body = reading.note
  }
  action "http" "objects" {
    url     = "https://example.com"
    body    = jsonencode({ a = reading.count, "b" = "${reading.value}|${event.id}", c = { nested = reading.ok, "x-y" = event.type, note = reading.note }, a = "again", true = 2, null = other.count, "" = "empty" })
    headers = { X-Plain = "v-${reading.count}", "X-Type" = event.type }
  }
  action "http" "object_keys" {
    url  = "https://example.com"
    body = jsonencode({ "${event.type}" = 1, (event.id) = 2 })
  }
  action "http" "object_null" {
    url  = "https://example.com"
    body = jsonencode({ a = null, b = reading.count })
  }
}
trigger "people" {
  on = ["participant.confirmed", "booking.completed"]
  action "sms" "s" {
    to   = participant.phone
    body = "${upper(participant.name)} ${substr(participant.name, 0, 3)} ${date_and_time_phrase(appointment.start_time)} ${date_and_time_phrase(appointment.start_time, "Europe/Paris")} ${appointment.calendar.name}${appointment.id}${appointment.all_day}"
    status_callback = "https://example.com/cb/${appointment.id}"
  }
  action "sms" "again" {
    to   = "+15550100"
    body = "${date_and_time_phrase(appointment.start_time)}|${upper(participant.first_name)}|${upper(participant.name)}|${date_and_time_phrase(appointment.end_time)}"
  }
  action "sms" "secret" {
    to   = "+15550100"
    body = "${participant.name}: ${env("TOKEN")}"
  }
  action "sms" "bad_time" {
    to   = "+15550100"
    body = date_phrase(participant.name)
  }
  action "email" "e" {
    to       = participant.email
    cc       = [participant.email, "x@example.com"]
    bcc      = "audit@example.com"
    subject  = "${title(appointment.title)} ${jsonencode(appointment.custom_data)} ${appointment.custom_data["room"]}"
    body     = "${lookup(appointment.custom_data, "room", "none")} ${length(appointment.custom_data)}"
    reply_to = "${event.id}@${event.source}"
  }
  action "http" "h" {
    url     = "https://example.com/${event.type}"
    headers = { "X-Name" = participant.name, "X-Key" = env("TOKEN") }
    body    = "${appointment.time_zone == "" ? "none" : appointment.time_zone}"
  }
}
`)
	// The object constructors with constant keys and plain values take the
	// fast path (else the comparisons below would prove nothing of it).
	fastAttrs := map[string]bool{}
	for i, tr := range set.Set().TriggersFor("sensor.read") {
		for j, a := range tr.Actions {
			for _, c := range set.byType["sensor.read"].actions[i][j].attrs {
				fastAttrs[a.Address+"."+c.spec.Name] = c.fast != nil
			}
		}
	}
	for attr, want := range map[string]bool{
		"numbers.http.objects.body": true, "numbers.http.objects.headers": true, "numbers.http.h.headers": true,
		"numbers.http.object_keys.body": false, "numbers.http.object_null.body": true, // null gives up when run
	} {
		if fastAttrs[attr] != want {
			t.Errorf("%s: fast form %v, want %v", attr, fastAttrs[attr], want)
		}
	}

	e := New(Options{})
	n := 0
	for _, body := range []string{
		`{"specversion":"1.0","id":"r1","source":"s","type":"sensor.read","time":"2026-12-01T09:00:00.123+02:00","subject":"x",
		  "data":{"reading":{"value":1.5e-7,"count":42,"ok":true,"at":"2026-12-01T09:00:00Z","note":{"b":[1,"two",null],"a":2.5}}}}`,
		`{"specversion":"1.0","id":"r2","source":"s","type":"sensor.read",
		  "data":{"reading":{"value":12345678.9,"count":-3,"note":"plain"},"other":{"count":7}}}`,
		`{"specversion":"1.0","id":"r3","source":"s","type":"sensor.read","data":{"reading":{}}}`,
		`{"specversion":"1.0","id":"p1","source":"s","type":"participant.confirmed",
		  "data":{"appointment":{"start_time":"2026-12-01T14:00:00Z","end_time":"2026-12-01T15:30:00Z","time_zone":"Asia/Kolkata","title":"a b","custom_data":{"room":"4"}},
		          "participant":{"name":"Åsa Ñu","first_name":"Åsa","phone":"+1555","email":"a@example.com"}}}`,
		`{"specversion":"1.0","id":"p2","source":"s","type":"participant.confirmed","data":{"appointment":{"time_zone":"Nowhere/Else"},"participant":{}}}`,
	} {
		ev, err := e.Decode(set.Set().Schema, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		n += renderBoth(t, e, set, ev)
	}
	ex := loadExample(t)
	files, _ := filepath.Glob("../examples/apptoto/events/*.json")
	for _, f := range files {
		n += renderBoth(t, e, ex, decodeFile(t, e, ex, filepath.Base(f)))
	}
	if n < 30 {
		t.Errorf("only %d actions rendered", n)
	}
}

// TestEngineKeepsNoRuleSet checks that a rule set dropped by a reload is
// not kept alive by the engine that matched events with it.
func TestEngineKeepsNoRuleSet(t *testing.T) {
	e := New(Options{})
	set := loadExample(t)
	b, err := os.ReadFile("../examples/apptoto/events/booking-completed.json")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.Decode(set.Set().Schema, b)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.Match(context.Background(), set, ev, MatchOptions{}); len(res.Fired) == 0 {
		t.Fatal("nothing fired")
	}
	key := weak.Make(set)
	set, ev = nil, nil
	for i := 0; i < 50; i++ {
		runtime.GC()
		if key.Value() == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the compiled rules outlived their last use")
}

// TestGuardsDecideAsCEL runs every filter through CEL and checks that Match,
// which skips CEL where a guard decides, agrees on each trigger.
func TestGuardsDecideAsCEL(t *testing.T) {
	t.Parallel()
	filters := []string{
		"appointment.calendar.name == 'Dr. Rivera'",
		"appointment.calendar.name == 'Dr. Rivera' && participant.name != ''",
		"appointment.calendar.name == 'Dr. Rivera' && participant.name == 'nobody'",
		"'Dr. Rivera' == appointment.calendar.name && participant.name != ''",
		"appointment.calendar.name == '' && participant.email == ''",
		"appointment.title == ''",
		"booking.type.key == '' || booking.type.key == 'new'",
		"booking.type.key == ''",
		"participant.email == 'ann@example.net' && [1, 2].all(x, x > 0)",
		"event.source == 'https://app.apptoto.com/accounts/42'",
		"event.subject == ''",
		"event.id == 'evt-1' && event.type == 'participant.confirmed'",
		"has(appointment.title) && appointment.title == 'Dental Cleaning'",
		"appointment.id == 5001 && appointment.title == 'Dental Cleaning'",
		"appointment.custom_data.room == '4'",
		"appointment.title == 'Dental Cleaning' && appointment.custom_data.missing == 'x'",
		"appointment.title == 'nope' && appointment.custom_data.missing == 'x'",
		// Integer fields: a calendar per trigger.
		"appointment.calendar.id == 7",
		"appointment.calendar.id == 7 && participant.name != ''",
		"appointment.calendar.id == 8 && participant.name != ''",
		"7 == appointment.calendar.id",
		"appointment.calendar.id == 0",
		"appointment.calendar.id == 0 && participant.name == ''",
		"appointment.id == 5001",
		"appointment.id == -5001 || participant.name != ''",
	}
	var src strings.Builder
	for i, f := range filters {
		on := `"participant.confirmed", "participant.booking_accepted"`
		if strings.Contains(f, "booking.") {
			on = `"participant.booking_accepted"`
		}
		fmt.Fprintf(&src, "trigger \"t%02d\" {\n  on = [%s]\n  when = %q\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n", i, on, f)
	}
	set := loadRules(t, src.String())
	e := New(Options{})
	guarded, intGuards := 0, 0
	for _, body := range []string{
		string(benchEvent),
		`{"specversion":"1.0","id":"evt-2","source":"s","type":"participant.booking_accepted","subject":"x","data":{"appointment":{},"participant":{},"booking":{}}}`,
		`{"specversion":"1.0","id":"evt-3","source":"s","type":"participant.booking_accepted",
		  "data":{"appointment":{"calendar":{"name":"Dr. Rivera"},"title":""},"participant":{"email":"ann@example.net"},"booking":{"type":{"key":"new"}}}}`,
	} {
		ev, err := e.Decode(set.Set().Schema, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range set.byType[ev.Type].guards {
			if g != nil {
				guarded++
				if g.isInt {
					intGuards++
				}
			}
		}
		res := e.Match(context.Background(), set, ev, MatchOptions{})
		act, err := cel.NewActivation(celVariables(ev))
		if err != nil {
			t.Fatal(err)
		}
		dl := deadline{parent: context.Background(), start: time.Now(), timeout: time.Second}
		for _, tr := range set.Set().TriggersFor(ev.Type) {
			want, wantErr := evalFilter(&dl, tr.Programs[ev.Type], act, tr.Tracked)
			got, gotErr := true, error(nil)
			for _, s := range res.Skipped {
				if s.Trigger == tr.Name {
					got = false
				}
			}
			for _, f := range res.Failures {
				if f.Trigger == tr.Name {
					got, gotErr = false, f.Err
				}
			}
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s on %s (%s): got %v, %v; CEL says %v, %v", tr.Name, ev.ID, tr.When, got, gotErr, want, wantErr)
			}
		}
		dl.cancel()
	}
	if guarded < 35 || intGuards < 3*7 {
		t.Errorf("only %d guards, %d of them on integers", guarded, intGuards)
	}
}
