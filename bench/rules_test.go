package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// TestGeneratedRulesAndEvents checks, in-process and without a server, that
// the generated rule set loads cleanly and that generated events decode,
// match without filter or render errors, and fire about as many deliveries
// as writeRules promises.
func TestGeneratedRulesAndEvents(t *testing.T) {
	dir := t.TempDir()
	rs, err := writeRules(dir, 1000, "http://127.0.0.1:9", 25)
	if err != nil {
		t.Fatal(err)
	}
	env := func(name string) (string, bool) { return "whsec_" + strings.Repeat("A", 44), true }
	set, compiled, diags := engine.LoadDir(dir, rules.Options{Types: builtin.Types(), LookupEnv: env, RequireEnv: true})
	if diags.HasErrors() {
		t.Fatalf("generated rules do not load:\n%s", diags.Error())
	}
	if len(set.Triggers) != 1000 || rs.HTTP+rs.SMS+rs.Email+rs.Silent != 1000 {
		t.Fatalf("%d triggers loaded, %v", len(set.Triggers), rs)
	}
	t.Logf("%v", rs)

	// The deadline is for hostile filters; these are ordinary ones, and a
	// busy test machine must not turn them into failures.
	e := engine.New(engine.Options{FilterTimeout: time.Minute})
	g := newEventGen(1, []string{"http://127.0.0.1:9"})
	const n = 2000
	fired := map[string]int{}
	for i := 0; i < n; i++ {
		seq, sent := g.next()
		ev, err := e.Decode(set.Schema, g.body(seq, sent))
		if err != nil {
			t.Fatalf("event %d: %v\n%s", seq, err, g.body(seq, sent))
		}
		res := e.Match(context.Background(), compiled, ev, engine.MatchOptions{})
		for _, f := range res.Failures {
			t.Fatalf("event %d (%s): trigger %s: %s: %v", seq, ev.Type, f.Trigger, f.Kind, f.Err)
		}
		for _, f := range res.Fired {
			d := f.Delivery
			fired[d.Type]++
			if body := d.Fields.Text("body").String(); d.Type == "sms" && !strings.Contains(body, benchRefPrefix+ceid(seq, sent)+" ") {
				t.Fatalf("sms body without its reference: %q", body)
			}
		}
	}
	total := fired["http"] + fired["sms"] + fired["email"]
	per := float64(total) / n
	t.Logf("deliveries per event: %.2f (%v)", per, fired)
	if per < 1 || per > 2.5 || fired["http"] == 0 || fired["sms"] == 0 || fired["email"] == 0 {
		t.Errorf("deliveries per event = %.2f (%v), want 1 to 2.5 of every type", per, fired)
	}
}
