package server

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/testaction"
)

const pageRule = `
trigger "t" {
  on = ["participant.confirmed"]
  action "page" "oncall" {
    to      = "team:front-desk"
    message = "${participant.name} confirmed ${appointment.title}"
    tags    = ["confirmed"]
  }
}`

// TestActionTypeFromItsPackageOnly runs the test-only "page" action type
// through the whole server: loading with its provider block, rendering,
// the store, its executor against a real HTTP peer, and the API. Nothing
// in the server names it; it comes in through Options.Types.
func TestActionTypeFromItsPackageOnly(t *testing.T) { eachStore(t, testActionTypeFromItsPackageOnly) }

func testActionTypeFromItsPackageOnly(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	dir := writeRules(t, pageRule+`
pager {
  endpoint = "`+rc.URL+`/pages"
  token    = env("PAGER_TOKEN")
}`)
	h := startServer(t, dir, map[string]string{"PAGER_TOKEN": "tok-page-77"}, func(o *Options) {
		o.Types = testaction.Types()
		if store != nil {
			store(o)
		}
	})
	status, ans := h.post(event("page-1", "participant.confirmed", confirmedData))
	if status != 202 {
		t.Fatalf("post: %d %v", status, ans)
	}
	ids := deliveryIDs(t, ans)
	if len(ids) != 1 {
		t.Fatalf("deliveries %v", ans)
	}
	got := rc.wait(t, "/pages", 1)
	var page testaction.Page
	if err := json.Unmarshal(got[0].body, &page); err != nil {
		t.Fatal(err)
	}
	want := testaction.Page{ID: ids[0], To: "team:front-desk", Message: "Ann confirmed Visit", Tags: []string{"confirmed"}, Priority: "low"}
	if page.ID != want.ID || page.To != want.To || page.Message != want.Message || strings.Join(page.Tags, ",") != "confirmed" || page.Priority != want.Priority {
		t.Errorf("page %+v, want %+v", page, want)
	}
	if a := got[0].header.Get("Authorization"); a != "Bearer tok-page-77" {
		t.Errorf("Authorization %q: the provider block's secret was not resolved", a)
	}
	d := waitStatus(t, h, ids[0], "delivered")
	rendered, _ := d["rendered"].(map[string]any)
	if rendered["to"] != "team:front-desk" || rendered["priority"] != "low" || d["type"] != "page" {
		t.Errorf("the API shows %v", d)
	}
}

// TestUnknownActionTypeRefusesToStart: the same rules without the type
// registered are invalid, with the diagnostic naming the types there are.
func TestUnknownActionTypeRefusesToStart(t *testing.T) {
	dir := writeRules(t, pageRule)
	_, err := New(context.Background(), Options{RulesDir: dir, DataDir: filepath.Join(t.TempDir(), "data")})
	var re *RulesError
	if !errors.As(err, &re) || !strings.Contains(re.Diags.Error(), `There is no action type "page"; use one of email, http, sms`) {
		t.Fatalf("New: %v", err)
	}
}
