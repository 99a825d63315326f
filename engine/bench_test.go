package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"cel.dev/cel-go/cel"

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/internal/pii"
	"github.com/hookline/hookline/rules"
)

// benchRules spreads n triggers over the 20 built-in event types; 10 % of
// the triggers of each type match the benchmark event.
func benchRules(b *testing.B, n int) *Compiled {
	b.Helper()
	var schema *rules.Schema
	{
		set, _ := rules.Load(fstest.MapFS{}, "", rules.Options{Types: builtin.Types()})
		schema = set.Schema
	}
	types := schema.EventNames()
	var src strings.Builder
	src.WriteString(`twilio {
  account_sid = "AC1"
  auth_token  = "t"
  from        = "+15550199"
}
`)
	for i := 0; i < n; i++ {
		typ := schema.Events[types[i%len(types)]]
		name := "nomatch"
		if (i/len(types))%10 == 0 {
			name = "Dr. Rivera"
		}
		filter := fmt.Sprintf("appointment.calendar.name == '%s' && participant.name != ''", name)
		body := "${participant.name}: ${appointment.title} on ${date_and_time_phrase(appointment.start_time)}"
		if !carries(typ, "appointment") || !carries(typ, "participant") {
			filter = fmt.Sprintf("event.source == '%s'", name)
			body = "event ${event.id} of type ${event.type}"
		}
		fmt.Fprintf(&src, `
trigger "t%d" {
  on   = [%q]
  when = %q
  action "sms" "desk" {
    to   = "+15550100"
    body = %q
  }
  action "http" "crm" {
    url     = "https://crm.example.com/hooks/%d"
    headers = { "X-Trigger" = "t%d" }
  }
}
`, i, typ.Name, filter, body, i, i)
	}
	_, set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(src.String())}}, "", rules.Options{Types: builtin.Types()})
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	return set
}

func carries(et *rules.EventType, name string) bool {
	for _, f := range et.Data {
		if f.Name == name {
			return true
		}
	}
	return false
}

var benchEvent = []byte(`{
  "specversion": "1.0", "id": "evt-1", "source": "https://app.apptoto.com/accounts/42",
  "type": "participant.confirmed", "time": "2026-11-30T09:00:00Z",
  "data": {
    "appointment": {
      "id": 5001, "external_id": "ext-5001", "calendar": {"id": 7, "name": "Dr. Rivera"},
      "title": "Dental Cleaning", "location": "12 Main St", "content": "Bring your card",
      "start_time": "2026-12-01T14:00:00Z", "end_time": "2026-12-01T14:45:00Z",
      "time_zone": "America/New_York", "all_day": false, "custom_data": {"room": "4"}
    },
    "participant": {
      "id": 9001, "name": "Ann Lee", "first_name": "Ann", "last_name": "Lee",
      "phone": "(555) 010-0123", "normalized_phone": "+15550100123", "email": "ann@example.net",
      "reminder_state": "confirmed", "previous_reminder_state": "sent"
    }
  }
}`)

// BenchmarkMatch measures decode + match + render of one event, including
// JSON decoding. Goal: ≤ 20 µs at 1,000 triggers, growing with triggers per
// event type rather than in total.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		set := benchRules(b, n)
		e := New(Options{})
		b.Run(fmt.Sprintf("triggers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			want := -1
			cpu := cpuTime()
			for b.Loop() {
				ev, err := e.Decode(set.Set().Schema, benchEvent)
				if err != nil {
					b.Fatal(err)
				}
				res := e.Match(context.Background(), set, ev, MatchOptions{})
				if len(res.Failures) > 0 {
					b.Fatalf("failures: %+v", res.Failures)
				}
				if want < 0 {
					want = len(res.Fired)
				} else if len(res.Fired) != want {
					b.Fatal("unstable result")
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(want), "deliveries/op")
		})
	}
}

// BenchmarkFilters measures one filter evaluation: common filters run
// without CEL's cost tracker, filters with a loop (or that could pass the
// cost limit) with it and the deadline's context.
func BenchmarkFilters(b *testing.B) {
	filters := []struct{ name, when string }{
		{"compare", "appointment.calendar.name == 'Dr. Rivera' && participant.name != ''"},
		{"trim_lower", "participant.reminder_state.trim().lowerAscii() == 'confirmed'"},
		{"loop_tracked", "appointment.custom_data.exists(k, k == 'room')"},
	}
	var src strings.Builder
	for _, f := range filters {
		fmt.Fprintf(&src, "trigger %q {\n  on   = [\"participant.confirmed\"]\n  when = %q\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n", f.name, f.when)
	}
	set := loadRules(b, src.String())
	e := New(Options{})
	ev, err := e.Decode(set.Set().Schema, benchEvent)
	if err != nil {
		b.Fatal(err)
	}
	act, err := cel.NewActivation(celVariables(ev))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range filters {
		t := set.Set().Trigger(f.name)
		b.Run(fmt.Sprintf("%s/tracked=%v", f.name, t.Tracked), func(b *testing.B) {
			b.ReportAllocs()
			dl := deadline{parent: context.Background(), start: time.Now(), timeout: time.Hour}
			defer dl.cancel()
			for b.Loop() {
				if ok, err := evalFilter(&dl, t.Programs[ev.Type], act, t.Tracked); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
	}
}

// BenchmarkDecode isolates CloudEvent decoding.
func BenchmarkDecode(b *testing.B) {
	set := benchRules(b, 1)
	e := New(Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decode(set.Set().Schema, benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdentifiers measures listing the personal identifiers of the
// decoded benchmark event for the erasure index (its participant's e-mail,
// phone and normalized phone), as intake does for every event.
func BenchmarkIdentifiers(b *testing.B) {
	set := benchRules(b, 1)
	ev, err := New(Options{}).Decode(set.Set().Schema, benchEvent)
	if err != nil {
		b.Fatal(err)
	}
	n := pii.Normalizer{CountryCode: "1"}
	b.ReportAllocs()
	for b.Loop() {
		if len(ev.Identifiers(n)) != 2 {
			b.Fatal("want 2 identifiers")
		}
	}
}
