package rules

import (
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
