package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/rules"
)

func loadExample(t testing.TB) *Compiled {
	t.Helper()
	_, set, diags := LoadDir("../examples/apptoto", rules.Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "x", true }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return set
}

func loadRules(t testing.TB, src string) *Compiled {
	t.Helper()
	_, set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(src)}}, "", rules.Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "x", true }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return set
}

func decodeFile(t testing.TB, e *Engine, set *Compiled, name string) *Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../examples/apptoto/events", name))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.Decode(set.Set().Schema, b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func addresses(res *Result) []string {
	var out []string
	for _, f := range res.Fired {
		out = append(out, f.Delivery.Address)
	}
	return out
}

func TestMatchExamples(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	tests := []struct {
		event string
		want  []string
	}{
		{"participant-replied-cancel.json", []string{"front_desk_cancel_alert.sms.front_desk"}},
		{"participant-replied-yes.json", nil},
		{"participant-confirmed.json", []string{"confirmed_email_staff.email.staff", "next_day_follow_up.email.participant"}},
		{"participant-invite-sent.json", []string{"unconfirmed_invite_alert.sms.front_desk"}},
		{"participant-not-coming.json", []string{"not_coming_sms_front_desk.sms.front_desk"}},
		{"booking-completed.json", []string{"crm_booking_sync.http.crm"}},
		{"message-failed.json", []string{"message_failed_email.email.office_manager"}},
		{"participant-stop-listed.json", []string{"stop_list_sync.http.opt_out"}},
	}
	for _, tt := range tests {
		res := e.Match(context.Background(), set, decodeFile(t, e, set, tt.event), MatchOptions{})
		if len(res.Failures) > 0 {
			t.Errorf("%s: failures %+v", tt.event, res.Failures)
		}
		if got := addresses(res); !slices.Equal(got, tt.want) {
			t.Errorf("%s: fired %v, want %v", tt.event, got, tt.want)
		}
	}
}

func TestRenderSMSUsesAppointmentTimeZone(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	res := e.Match(context.Background(), set, decodeFile(t, e, set, "participant-replied-cancel.json"), MatchOptions{})
	if len(res.Fired) != 1 {
		t.Fatalf("want one delivery, got %+v", res)
	}
	d := res.Fired[0].Delivery
	if d.Fields.Text("body") == nil || d.Type != "sms" || d.Trigger != "front_desk_cancel_alert" || d.EventID != "evt-replied-1001" {
		t.Fatalf("unexpected delivery %+v", d)
	}
	// 14:00Z is 9:00 AM in New York, the appointment's zone.
	if got, want := d.Fields.Text("body").Redacted(), "Ann Lee cancelled Dental Cleaning on Tuesday, December 1 at 9:00 AM"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
	if got := d.Fields.Text("to").Redacted(); got != "+15550100" {
		t.Errorf("to = %q", got)
	}
}

func TestRenderHTTPKeepsSecretsAsReferences(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	res := e.Match(context.Background(), set, decodeFile(t, e, set, "booking-completed.json"), MatchOptions{})
	if len(res.Fired) != 1 {
		t.Fatalf("want one delivery, got %+v", res)
	}
	req := res.Fired[0].Delivery.Fields
	if req.Literal("method") != "POST" || req.Text("url").Redacted() != "https://crm.example.com/hooks/bookings" {
		t.Fatalf("request %+v", req)
	}
	headers := req.Map("headers")
	if len(headers) != 1 || headers[0].Name != "X-Api-Key" {
		t.Fatalf("headers %+v", headers)
	}
	if want := (actions.Text{{Env: "CRM_API_KEY"}}); !slices.Equal(headers[0].Value, want) {
		t.Fatalf("header value = %#v, want a reference %#v", headers[0].Value, want)
	}
	// The default body is the event as received, undeclared fields included.
	var body map[string]any
	if err := json.Unmarshal([]byte(req.Text("body").Redacted()), &body); err != nil {
		t.Fatal(err)
	}
	if body["id"] != "evt-booking-4001" || !strings.Contains(req.Text("body").Redacted(), "passed through untouched") {
		t.Errorf("default body is not the event: %s", req.Text("body").Redacted())
	}
	// Nothing in the serialized delivery holds a token or a secret value.
	b, _ := json.Marshal(res.Fired[0].Delivery)
	if strings.Contains(string(b), "⟦") {
		t.Errorf("token leaked into the delivery: %s", b)
	}
}

func TestAbsentValuesReadAsZero(t *testing.T) {
	t.Parallel()
	set := loadRules(t, `
trigger "no_email" {
  on   = ["message.failed"]
  when = "participant.email == '' && !has(participant.email) && appointment.id == 0 && message.body.size() == 0"
  action "http" "h" {
    url  = "https://example.com"
    body = "[${participant.name}][${appointment.title}][${date_phrase(appointment.start_time)}][${appointment.id}]"
  }
}
trigger "has_email" {
  on   = ["message.failed"]
  when = "has(participant.email)"
  action "http" "h" { url = "https://example.com" }
}
`)
	e := New(Options{})
	ev, err := e.Decode(set.Set().Schema, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"message.failed",
		"data":{"message":{"id":1,"body":null},"participant":{"email":null}}}`))
	if err != nil {
		t.Fatal(err)
	}
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	if len(res.Failures) > 0 {
		t.Fatalf("failures: %+v", res.Failures)
	}
	if got := addresses(res); !slices.Equal(got, []string{"no_email.http.h"}) {
		t.Fatalf("fired %v", got)
	}
	if got := res.Fired[0].Delivery.Fields.Text("body").Redacted(); got != "[][][][0]" {
		t.Errorf("body = %q", got)
	}
}

func TestFilterErrorsAreNotMisses(t *testing.T) {
	t.Parallel()
	// Ten nested loops over ten elements: far over the cost limit.
	loops := "true"
	for i := 0; i < 10; i++ {
		loops = "[0,1,2,3,4,5,6,7,8,9].all(x" + string(rune('a'+i)) + ", " + loops + ")"
	}
	set := loadRules(t, `
trigger "runaway" {
  on   = ["appointment.created"]
  when = "`+loops+`"
  action "http" "h" { url = "https://example.com" }
}
trigger "div" {
  on   = ["appointment.created"]
  when = "10 / appointment.id > 1"
  action "http" "h" { url = "https://example.com" }
}
trigger "ok" {
  on = ["appointment.created"]
  action "http" "h" { url = "https://example.com" }
}
`)
	// A generous deadline, so that the cost limit is what stops the loop
	// even on a loaded machine under -race.
	e := New(Options{FilterTimeout: time.Minute})
	ev, err := e.Decode(set.Set().Schema, []byte(`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	if got := addresses(res); !slices.Equal(got, []string{"ok.http.h"}) {
		t.Errorf("fired %v", got)
	}
	failed := map[string]string{}
	for _, f := range res.Failures {
		if f.Kind != FilterError {
			t.Errorf("kind %s", f.Kind)
		}
		failed[f.Trigger] = f.Err.Error()
	}
	if !strings.Contains(failed["runaway"], "cost") {
		t.Errorf("runaway: want a cost limit error, got %q", failed["runaway"])
	}
	if !strings.Contains(failed["div"], "division by zero") {
		t.Errorf("div: want division by zero, got %q", failed["div"])
	}
	// With a tiny deadline the same loop is stopped by the deadline instead;
	// the loop-free filters do not depend on it.
	res = New(Options{FilterTimeout: time.Microsecond}).Match(context.Background(), set, ev, MatchOptions{})
	for _, f := range res.Failures {
		if f.Trigger == "runaway" && !strings.Contains(f.Err.Error(), "deadline") {
			t.Errorf("runaway with a tiny deadline: %v", f.Err)
		}
	}
	if got := addresses(res); !slices.Equal(got, []string{"ok.http.h"}) {
		t.Errorf("with a tiny deadline, fired %v", got)
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	set2 := loadRules(t, `
trigger "vip" {
  on   = ["participant.replied"]
  when = "participant.name != '' && appointment.calendar.name == 'VIP' && message.body != ''"
  action "http" "h" { url = "https://example.com" }
}
trigger "off" {
  on      = ["participant.replied"]
  enabled = false
  action "http" "h" { url = "https://example.com" }
}
trigger "other" {
  on = ["appointment.created"]
  action "http" "h" { url = "https://example.com" }
}
`)
	ev := decodeFile(t, e, set2, "participant-replied-yes.json")
	res := e.Match(context.Background(), set2, ev, MatchOptions{Explain: true})
	reasons := map[string]Skip{}
	for _, s := range res.Skipped {
		reasons[s.Trigger] = s
	}
	if s := reasons["vip"]; s.Reason != SkipFilterFalse || s.Detail != `appointment.calendar.name == "VIP" is false` {
		t.Errorf("vip: %+v", s)
	}
	if s := reasons["off"]; s.Reason != SkipTriggerDisabled {
		t.Errorf("off: %+v", s)
	}
	if s := reasons["other"]; s.Reason != SkipOtherType {
		t.Errorf("other: %+v", s)
	}
	// Without Explain, the server pays for neither.
	res = e.Match(context.Background(), set2, ev, MatchOptions{})
	for _, s := range res.Skipped {
		if s.Reason == SkipOtherType || s.Detail != "" {
			t.Errorf("explanation without Explain: %+v", s)
		}
	}
}

func TestMatchRefusesAnEventOfAnotherSet(t *testing.T) {
	t.Parallel()
	e := New(Options{})
	src := `
trigger "t" {
  on = ["participant.replied"]
  action "http" "h" { url = "https://example.com" }
}`
	a, b := loadRules(t, src), loadRules(t, src)
	ev := decodeFile(t, e, a, "participant-replied-yes.json")
	if res := e.Match(context.Background(), a, ev, MatchOptions{}); len(res.Fired) != 1 {
		t.Fatalf("its own set: %+v", res)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "another rule set") {
			t.Fatalf("an event decoded against another set was matched: %v", r)
		}
	}()
	e.Match(context.Background(), b, ev, MatchOptions{})
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	tests := []struct {
		body, path, msg string
		unknownType     bool
	}{
		{`{"specversion":"1.0",`, "", "invalid JSON", false},
		{`[]`, "", "must be a JSON object", false},
		{`{"specversion":"1.0","source":"s","type":"appointment.created"}`, "id", "missing", false},
		{`{"specversion":"0.3","id":"1","source":"s","type":"appointment.created"}`, "specversion", "unsupported", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.create"}`, "type", `did you mean "appointment.created"?`, true},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","time":"yesterday"}`, "time", "RFC 3339", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{}}`, "data.appointment", "required", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{"id":"5"}}}`, "data.appointment.id", "expected an integer, got a string", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{"id":1.5}}}`, "data.appointment.id", "expected an integer", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{"calendar":{"name":3}}}}`, "data.appointment.calendar.name", "expected a string, got a number", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{"custom_data":{"a":1}}}}`, "data.appointment.custom_data.a", "expected a string", false},
		{`{"specversion":"1.0","id":"1","source":"s","type":"appointment.created","data":{"appointment":{"start_time":"2026-13-01"}}}`, "data.appointment.start_time", "RFC 3339", false},
	}
	for _, tt := range tests {
		_, err := e.Decode(set.Set().Schema, []byte(tt.body))
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: want a DecodeError, got %v", tt.body, err)
			continue
		}
		if de.Path != tt.path || !strings.Contains(de.Message, tt.msg) || de.UnknownType != tt.unknownType {
			t.Errorf("%s:\n got %+v\nwant path %q, message containing %q", tt.body, de, tt.path, tt.msg)
		}
	}
}

func TestDecodeKeepsOptionalAbsentAndExtras(t *testing.T) {
	t.Parallel()
	set := loadExample(t)
	e := New(Options{})
	ev := decodeFile(t, e, set, "participant-stop-listed.json")
	if _, ok := ev.Data["appointment"]; ok {
		t.Error("absent optional appointment must stay absent")
	}
	p := ev.Data["participant"].(map[string]any)
	if p["id"] != int64(9007) || p["email"] != "gus@example.com" {
		t.Errorf("participant = %#v", p)
	}
}

// TestPrunedVariablesRenderTheSame renders templates that read single
// fields, whole sub-objects and maps: pruning the converted event to what
// the set reads must not change any of them.
func TestPrunedVariablesRenderTheSame(t *testing.T) {
	t.Parallel()
	set := loadRules(t, `
trigger "t" {
  on = ["participant.replied"]
  action "http" "fields" {
    url  = "https://example.com/a"
    body = "${appointment.title}|${appointment.calendar.name}|${participant.name}"
  }
  action "http" "whole" {
    url  = "https://example.com/b"
    body = jsonencode({ cal = appointment.calendar, data = appointment.custom_data, room = appointment.custom_data["room"] })
  }
}`)
	e := New(Options{})
	ev := decodeFile(t, e, set, "participant-replied-cancel.json")
	if u := set.Set().Usage("appointment"); u == nil || u.Whole || !u.Field("calendar").Whole || u.Field("title") == nil || u.Field("location") != nil {
		t.Fatalf("usage of appointment = %+v", u)
	}
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	if len(res.Failures) > 0 || len(res.Fired) != 2 {
		t.Fatalf("result %+v", res)
	}
	if got := res.Fired[0].Delivery.Fields.Text("body").Redacted(); got != "Dental Cleaning|Dr. Rivera|Ann Lee" {
		t.Errorf("fields: %q", got)
	}
	if got := res.Fired[1].Delivery.Fields.Text("body").Redacted(); got != `{"cal":{"id":7,"name":"Dr. Rivera"},"data":{"room":"4"},"room":"4"}` {
		t.Errorf("whole: %q", got)
	}
}

// TestCompileRefusesAnInconsistentSet: Compile checks what matching relies
// on instead of failing per event, and Load reports that as an error
// diagnostic, which a reload treats like rules that failed to load.
func TestCompileRefusesAnInconsistentSet(t *testing.T) {
	t.Parallel()
	set, _, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(`
trigger "t" {
  on   = ["participant.replied", "participant.confirmed"]
  when = "participant.name != ''"
  action "http" "h" { url = "https://example.com" }
}`)}}, "", rules.Options{Types: builtin.Types()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	if _, err := Compile(set); err != nil {
		t.Fatalf("a loaded set: %v", err)
	}
	delete(set.Triggers[0].Programs, "participant.confirmed")
	_, err := Compile(set)
	if err == nil || !strings.Contains(err.Error(), "trigger t: its filter was not compiled for event type participant.confirmed") {
		t.Fatalf("Compile: %v", err)
	}
	_, c, diags := compileLoaded(set, nil)
	if c != nil || !diags.HasErrors() || diags[0].Summary != "Rules could not be compiled" {
		t.Fatalf("compileLoaded: %v %v", c, diags)
	}
}

// bulkRules declare an event type carrying a long list, for the limits
// tests: what one event's data can make a filter or a template do.
const bulkSchema = `
object "bulk" {
  n     = integer
  s     = string
  items = list(string)
}
event "bulk.posted" {
  data { bulk = bulk }
}
`

// bulkEvent is a bulk.posted event whose list has n distinct elements.
func bulkEvent(t testing.TB, e *Engine, set *Compiled, n int, fields string) *Event {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"specversion":"1.0","id":"bulk-1","source":"test","type":"bulk.posted","data":{"bulk":{` + fields + `"items":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%d"`, i)
	}
	b.WriteString(`]}}}`)
	ev, err := e.Decode(set.Set().Schema, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Filters whose work grows faster than the event (every pair of a list's
// elements, or output built far beyond it) stop at the cost limit before
// doing that work: a filter error for their trigger, the others proceed.
func TestRunawayFiltersStopAtTheCostLimit(t *testing.T) {
	t.Parallel()
	filters := map[string]string{
		"contains": "sets.contains(bulk.items, bulk.items)",
		"distinct": "bulk.items.distinct().size() > 0",
		"sort":     "bulk.items.sort().size() > 0",
		"flatten":  "bulk.items.slice(0, 1000).map(i, bulk.items).flatten().size() > 0",
		"replace":  "bulk.s.replace('', bulk.s).size() > 0 || true",
		"join":     "bulk.items.slice(0, 1000).map(i, bulk.s).join(',') != ''",
		"regex":    "bulk.s.matches(bulk.s + bulk.s)",
	}
	want := map[string]string{
		"contains": "sets.contains() on lists of 100000 and 100000 elements",
		"distinct": "distinct() on a list of 100000 elements",
		"sort":     "sort() on a list of 100000 elements",
		"flatten":  "flatten() producing more than",
		"replace":  "replace() building",
		"join":     "join() building more than",
		"regex":    "matches() of a 20000-character pattern on 10000 characters",
	}
	src := bulkSchema + `
trigger "cheap" {
  on   = ["bulk.posted"]
  when = "bulk.n > 0"
  action "http" "h" { url = "https://example.com" }
}
`
	for name, f := range filters {
		src += fmt.Sprintf("trigger %q {\n  on = [\"bulk.posted\"]\n  when = %q\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n", name, f)
	}
	set := loadRules(t, src)
	for name := range filters {
		if !set.Set().Trigger(name).Tracked {
			t.Errorf("%s: not tracked", name)
		}
	}
	if set.Set().Trigger("cheap").Tracked {
		t.Error("cheap: tracked")
	}
	e := New(Options{FilterTimeout: time.Hour}) // the cost limit, not the deadline, must stop them
	ev := bulkEvent(t, e, set, 100_000, `"n":1,"s":"`+strings.Repeat("a", 10_000)+`",`)
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	if got := addresses(res); !slices.Equal(got, []string{"cheap.http.h"}) {
		t.Errorf("fired %v", got)
	}
	failed := map[string]error{}
	for _, f := range res.Failures {
		if f.Kind != FilterError {
			t.Errorf("%s: kind %s", f.Trigger, f.Kind)
		}
		failed[f.Trigger] = f.Err
	}
	for name, msg := range want {
		err := failed[name]
		if !errors.Is(err, ErrFilterCost) || !strings.Contains(fmt.Sprint(err), msg) {
			t.Errorf("%s: got %v, want a cost limit error about %q", name, err, msg)
		}
	}
}

// Once the request goes away no filter starts, costly or not; a trigger
// without a filter still fires (the caller will not store it anyway), and
// so may one a guard decides without running it (bulk.n == 1).
func TestFiltersStopWithTheRequest(t *testing.T) {
	t.Parallel()
	set := loadRules(t, bulkSchema+`
trigger "costly" {
  on   = ["bulk.posted"]
  when = "bulk.items.exists(i, i == 'x')"
  action "http" "h" { url = "https://example.com" }
}
trigger "cheap" {
  on   = ["bulk.posted"]
  when = "bulk.n > 0"
  action "http" "h" { url = "https://example.com" }
}
trigger "always" {
  on = ["bulk.posted"]
  action "http" "h" { url = "https://example.com" }
}
`)
	if !set.Set().Trigger("costly").Tracked || set.Set().Trigger("cheap").Tracked {
		t.Fatal("want only the loop tracked")
	}
	e := New(Options{FilterTimeout: time.Hour})
	ev := bulkEvent(t, e, set, 10, `"n":1,`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := e.Match(ctx, set, ev, MatchOptions{})
	if got := addresses(res); !slices.Equal(got, []string{"always.http.h"}) {
		t.Errorf("fired %v", got)
	}
	if len(res.Failures) != 2 {
		t.Fatalf("failures %+v", res.Failures)
	}
	for _, f := range res.Failures {
		if f.Kind != FilterError || !errors.Is(f.Err, context.Canceled) || !strings.Contains(f.Err.Error(), "request was cancelled") {
			t.Errorf("%s: %v", f.Trigger, f.Err)
		}
	}
}

// What one event can make a template build is bounded: functions that
// build more than they are given, loops repeating a field per element of a
// list, and plain concatenation stop at the attribute limit before building
// past it; the event itself as the default body is not counted.
func TestRenderLimits(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{ // action -> body, as written in the rule
		"format":        `format("%${bulk.n}s", bulk.s)`,
		"formatlist":    `join(",", formatlist("%s-%s", bulk.items, bulk.s))`,
		"format_repeat": `format("%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s%[1]s", bulk.s)`,
		"join_for":      `join(",", [for i in bulk.items : bulk.s])`,
		"directive":     `"%{ for i in bulk.items }${bulk.s}%{ endfor }"`,
		"nested":        `jsonencode([for a in bulk.items : [for b in bulk.items : b]])`,
		"replace":       `replace(bulk.s, "a", bulk.s)`,
		"regex_replace": `regex_replace(bulk.s, "a", "$0$0$0$0")`,
		"indent":        `indent(bulk.n, "a\nb\nc")`,
		"jsonencode":    `jsonencode(bulk.items)`,
		"concat":        `"${bulk.s}${bulk.s}${bulk.s}"`,
		"distinct":      `"${length(distinct(bulk.items))} distinct"`,
		"cut_down":      `substr("${bulk.s}${bulk.s}${bulk.s}", 0, 5)`,
	}
	want := map[string]string{
		"format":        "format() could build",
		"formatlist":    "formatlist() could build",
		"format_repeat": "format() could build",
		"join_for":      "its for loops would build more than 262144 bytes",
		"directive":     "its for loops would build more than 262144 bytes",
		"nested":        "its for loops would build more than 262144 bytes",
		"replace":       "replace() could build",
		"regex_replace": "regex_replace() could build",
		"indent":        "indent() could build",
		"jsonencode":    "jsonencode() could build",
		"concat":        "the rendered value is more than 262144 bytes",
	}
	src := bulkSchema + "trigger \"t\" {\n  on = [\"bulk.posted\"]\n"
	for name, body := range bodies {
		src += fmt.Sprintf("  action \"http\" %q {\n    url  = \"https://example.com\"\n    body = %s\n  }\n", name, body)
	}
	src += "  action \"http\" \"raw\" { url = \"https://example.com\" }\n}\n"
	set := loadRules(t, src)
	e := New(Options{})
	ev := bulkEvent(t, e, set, 100_000, `"n":1000000000,"s":"`+strings.Repeat("a", 100_000)+`",`)
	if len(ev.Raw) <= rules.DefaultMaxAttrBytes {
		t.Fatalf("the event (%d bytes) must be larger than an attribute may be", len(ev.Raw))
	}
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	fired := map[string]*actions.Delivery{}
	for _, f := range res.Fired {
		fired[f.Delivery.Name] = f.Delivery
	}
	if d := fired["raw"]; d == nil || d.Fields.Text("body").Redacted() != string(ev.Raw) {
		t.Error("the event as default body did not pass whole")
	}
	if d := fired["distinct"]; d == nil || d.Fields.Text("body").Redacted() != "100000 distinct" {
		t.Errorf("distinct: %+v", d)
	}
	// Only what an attribute renders to is limited by concatenation: a
	// template a function cuts down renders, through HCL as without limits.
	if d := fired["cut_down"]; d == nil || d.Fields.Text("body").Redacted() != "aaaaa" {
		t.Errorf("cut_down: %+v", d)
	}
	failed := map[string]error{}
	for _, f := range res.Failures {
		if f.Kind != RenderError {
			t.Errorf("%s: kind %s", f.Action, f.Kind)
		}
		failed[strings.TrimPrefix(f.Action, "t.http.")] = f.Err
	}
	for name, msg := range want {
		err := failed[name]
		if !errors.Is(err, rules.ErrRenderLimit) || !strings.HasPrefix(err.Error(), "body: ") || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: got %v, want a render limit error about %q", name, err, msg)
		}
	}
	if len(failed) != len(want) {
		t.Errorf("%d failures, want %d", len(failed), len(want))
	}
}

// The limits are the rule set's: lower ones bound each attribute and the
// fields of a delivery together.
func TestRenderLimitsAreConfigurable(t *testing.T) {
	t.Parallel()
	_, set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(bulkSchema + `
trigger "t" {
  on = ["bulk.posted"]
  action "http" "one" {
    url  = "https://example.com"
    body = bulk.s
  }
  action "http" "two" {
    url     = "https://example.com"
    headers = { "X-S" = bulk.s }
    body    = bulk.s
  }
  action "http" "big" {
    url  = "https://example.com"
    body = "${bulk.s}${bulk.s}"
  }
}
`)}}, "", rules.Options{Types: builtin.Types(), Limits: rules.RenderLimits{Attr: 1000, Delivery: 1500}})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	e := New(Options{})
	ev := bulkEvent(t, e, set, 1, `"s":"`+strings.Repeat("b", 800)+`",`)
	res := e.Match(context.Background(), set, ev, MatchOptions{})
	if got := addresses(res); !slices.Equal(got, []string{"t.http.one"}) {
		t.Errorf("fired %v", got)
	}
	msgs := map[string]string{}
	for _, f := range res.Failures {
		msgs[f.Action] = f.Err.Error()
	}
	if m := msgs["t.http.two"]; !strings.Contains(m, "the delivery's fields would be 1622 bytes with body, over the limit of 1500 bytes per delivery") {
		t.Errorf("two: %q", m)
	}
	if m := msgs["t.http.big"]; !strings.Contains(m, "body: rendering limit: the rendered value is more than 1000 bytes") {
		t.Errorf("big: %q", m)
	}
}
