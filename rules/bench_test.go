package rules

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookline/hookline/actions/builtin"
)

// generatedRules returns n triggers spread over the built-in event types,
// each with a CEL filter and a templated action: the shape of a large
// production rule set.
func generatedRules(tb testing.TB, n int) fstest.MapFS {
	tb.Helper()
	types := []string{
		"participant.confirmed", "participant.not_coming", "participant.needs_reschedule",
		"participant.replied", "participant.checkin_state_changed", "participant.reminder_state_changed",
		"participant.invite_sent", "appointment.created", "appointment.modified", "appointment.deleted",
	}
	fsys := fstest.MapFS{"providers.hcl": {Data: []byte(`
twilio {
  account_sid = "AC1"
  auth_token  = "t"
  from        = "+15550199"
}
`)}}
	for f := 0; f*100 < n; f++ {
		var b strings.Builder
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			typ := types[i%len(types)]
			fmt.Fprintf(&b, `
trigger "t%d" {
  description = "generated trigger %d"
  on          = [%q]
  when        = "appointment.calendar.name == 'Calendar %d' && appointment.title.startsWith('Visit')"
  action "sms" "desk" {
    to   = "+1555010%04d"
    body = "${upper(appointment.title)} at ${date_and_time_phrase(appointment.start_time)} (${appointment.location})"
  }
  action "http" "crm" {
    url     = "https://crm.example.com/hooks/%d"
    headers = { "X-Calendar" = appointment.calendar.name }
    body    = jsonencode({ id = appointment.id, title = appointment.title })
  }
}
`, i, i, typ, i, i%10000, i)
		}
		fsys[fmt.Sprintf("rules%03d.hcl", f)] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return fsys
}

// BenchmarkLoad measures load+validate of a generated rule set: parsing,
// schema checks, CEL compilation and template checking. Goal: < 1 s for
// 1,000 triggers.
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{100, 1000} {
		fsys := generatedRules(b, n)
		b.Run(fmt.Sprintf("triggers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				set, diags := Load(fsys, "", Options{Types: builtin.Types()})
				if diags.HasErrors() || len(set.Triggers) != n {
					b.Fatalf("load failed: %s", diags.Error())
				}
			}
		})
	}
}
