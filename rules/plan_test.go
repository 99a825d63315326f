package rules

import (
	"slices"
	"testing"
	"testing/fstest"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
)

func mustLoad(t *testing.T, src string) *Set {
	t.Helper()
	set, diags := Load(fstest.MapFS{"r.hcl": {Data: []byte(src)}}, "", Options{Types: builtin.Types(), LookupEnv: func(string) (string, bool) { return "", true }})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	return set
}

func TestDiffRenameIsDeleteAndCreate(t *testing.T) {
	t.Parallel()
	before := mustLoad(t, `
trigger "a" {
  on = ["appointment.created"]
  action "http" "h" { url = "https://example.com" }
}
trigger "a-2" {
  on = ["appointment.created"]
  action "http" "h" { url = "https://example.com" }
}`)
	after := mustLoad(t, `
trigger "a" {
  on = ["appointment.created"]
  action "http" "renamed" {   url   =   "https://example.com" }
}
trigger "a-2" {
  on = ["appointment.created"]
  action "http" "h" {
    url = "https://example.com"
  }
}`)
	got := Diff(before, after)
	want := []struct{ addr, change string }{
		{"a.http.h", "delete"},
		{"a.http.renamed", "create"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes %+v; whitespace-only edits must not count", len(got), got)
	}
	for i, w := range want {
		if got[i].Address != w.addr || got[i].Change != w.change {
			t.Errorf("change %d = %s %s, want %s %s", i, got[i].Address, got[i].Change, w.addr, w.change)
		}
	}
	if got[1].After["url"] != `"https://example.com"` {
		t.Errorf("created url shown as %q", got[1].After["url"])
	}
}

func TestDiffNeverShowsSensitiveSource(t *testing.T) {
	t.Parallel()
	before := mustLoad(t, `
trigger "a" {
  on = ["appointment.created"]
  action "http" "h" {
    url  = "https://example.com"
    body = "token ${env("OLD")}"
  }
}`)
	after := mustLoad(t, `
trigger "a" {
  on = ["appointment.created"]
  action "http" "h" {
    url  = "https://example.com"
    body = "token ${env("NEW")}"
  }
}`)
	got := Diff(before, after)
	if len(got) != 1 || got[0].Change != "update" {
		t.Fatalf("want one update, got %+v", got)
	}
	if got[0].Before["body"] != actions.Redaction || got[0].After["body"] != actions.Redaction {
		t.Errorf("sensitive attribute shown: %q -> %q", got[0].Before["body"], got[0].After["body"])
	}
	if attrs := got[0].Attrs(); len(attrs) != 1 || attrs[0] != "body" {
		t.Errorf("changed attributes = %v, want [body]", attrs)
	}
}

func TestDiffNamesSecretsButNotValues(t *testing.T) {
	t.Parallel()
	before := mustLoad(t, `
trigger "a" {
  on = ["booking.completed"]
  action "http" "crm" {
    url     = "https://crm.example.com"
    headers = { "X-Api-Key" = env("CRM_API_KEY") }
  }
}`)
	after := mustLoad(t, `
trigger "a" {
  on = ["booking.completed"]
  action "http" "crm" {
    url     = "https://crm.example.com"
    headers = { "X-Api-Key" = env("CRM_API_KEY_V2") }
  }
}`)
	got := Diff(before, after)
	if len(got) != 1 {
		t.Fatalf("want one change, got %+v", got)
	}
	c := got[0]
	if c.Before["headers"] != actions.Redaction {
		t.Errorf("Before must stay masked for existing readers, got %q", c.Before["headers"])
	}
	if s, _ := c.Shown("headers", true); s != `{ "X-Api-Key" = env("CRM_API_KEY_V2") }` {
		t.Errorf("shown after = %q", s)
	}
	if n := c.EnvAfter["headers"]; len(n) != 1 || n[0] != "CRM_API_KEY_V2" {
		t.Errorf("EnvAfter = %v", c.EnvAfter)
	}
	if c.File != "r.hcl" || c.Line != 4 {
		t.Errorf("location = %s:%d, want r.hcl:4", c.File, c.Line)
	}
	added, removed := Secrets(before, after)
	if len(added) != 1 || added[0] != "CRM_API_KEY_V2" || len(removed) != 1 || removed[0] != "CRM_API_KEY" {
		t.Errorf("Secrets = %v, %v", added, removed)
	}
}

func TestDiffTestBlocks(t *testing.T) {
	t.Parallel()
	rule := `
trigger "a" {
  on = ["appointment.created"]
  action "http" "h" { url = "https://example.com" }
}
`
	before := mustLoad(t, rule+`
test "a" {
  event = { type = "appointment.created" }
  fires = ["a.http.h"]
}
`)
	after := mustLoad(t, rule+`
test "a" {
  event = { type = "appointment.created" }
  fires = []
}
`)
	got := Diff(before, after)
	if len(got) != 1 || got[0].Kind != "test" || got[0].Address != "a" || got[0].Change != "update" {
		t.Fatalf("want the test's update, and a trigger of the same name untouched; got %+v", got)
	}
	if attrs := got[0].Attrs(); len(attrs) != 1 || attrs[0] != "fires" {
		t.Errorf("changed attributes = %v, want [fires]", attrs)
	}
}

func TestWordDiff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ before, after, want string }{
		{`"Ann cancelled Cleaning"`, `"Ann called off Cleaning"`, `"Ann [-cancelled-]{+called off+} Cleaning"`},
		{`"${participant.name} confirmed"`, `"${participant.first_name} confirmed"`, `"${participant.[-name-]{+first_name+}} confirmed"`},
		{`"a b"`, `"a b c"`, `"a b{+ c+}"`},
		{`"a b c"`, `"a c"`, `"a [-b -]c"`},
	} {
		if got, ok := WordDiff(tc.before, tc.after); !ok || got != tc.want {
			t.Errorf("WordDiff(%s, %s) = %s, want %s", tc.before, tc.after, got, tc.want)
		}
	}
}

func TestDiffScheduleAttributeByAttribute(t *testing.T) {
	t.Parallel()
	rule := func(delay, to string) string {
		return `
trigger "a" {
  on = ["participant.invite_sent"]
  schedule {
    delay     = "` + delay + `"
    cancel_on = ["participant.confirmed"]
    correlate = "appointment.id"
    window {
      time_zone = appointment.time_zone
      from      = "08:00"
      to        = "` + to + `"
    }
  }
  action "http" "h" { url = "https://example.com" }
  action "http" "own" {
    url = "https://example.com"
    schedule { delay = "1h" }
  }
}
`
	}
	got := Diff(mustLoad(t, rule("2h", "20:00")), mustLoad(t, rule("3h", "18:00")))
	if len(got) != 1 || got[0].Address != "a.http.h" || got[0].Change != "update" {
		t.Fatalf("want only a.http.h updated (the other has its own schedule); got %+v", got)
	}
	if attrs := got[0].Attrs(); !slices.Equal(attrs, []string{"schedule.delay", "schedule.window.to"}) {
		t.Errorf("changed attributes = %v, want [schedule.delay schedule.window.to]", attrs)
	}
}
