package email_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/actions/email"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// ev is a literal rendered from the event, as the engine marks it.
func ev(s string) actions.Text { return actions.Text{{Lit: s, Ev: true}} }

// TestEventAddressIsOne: an address the event provides names one
// recipient; the rule's own text and env() values may list several.
func TestEventAddressIsOne(t *testing.T) {
	t.Parallel()
	const more = "the address comes from the event and holds more than one address"
	tests := []struct {
		name string
		m    func(*message)
		want string   // "" means delivered
		rcpt []string // when delivered
	}{
		{"comma in an event address", func(m *message) { m.To = []actions.Text{ev("a@example.com, victim@evil.com")} },
			"email to[0]: " + more + " (2 found)", nil},
		{"second entry from the event", func(m *message) {
			m.To = []actions.Text{ev("ops@example.com"), ev("a@example.com,victim@evil.com")}
		}, "email to[1]: " + more, nil},
		{"cc from the event", func(m *message) { m.Cc = []actions.Text{ev("a@example.com; b@example.com, c@example.com")} }, "email cc[0]", nil},
		{"group from the event", func(m *message) { m.Bcc = []actions.Text{ev("Team: a@example.com, victim@evil.com;")} }, "email bcc[0]: " + more, nil},
		{"empty group from the event", func(m *message) { m.Bcc = []actions.Text{ev("Team:;")} }, "email bcc[0]: the address comes from the event and holds no address", nil},
		{"reply_to from the event", func(m *message) { m.ReplyTo = ev("a@example.com, victim@evil.com") }, "email reply_to: " + more, nil},
		{"event text around an env() team", func(m *message) {
			m.To = []actions.Text{{{Lit: "a@example.com, ", Ev: true}, {Env: "TEAM"}}}
		}, "email to[0]: " + more + " (3 found)", nil},
		{"one event address with a comma in its name", func(m *message) { m.To = []actions.Text{ev(`"Lee, Ann" <ann@example.com>`)} },
			"", []string{"ann@example.com"}},
		{"literal team", func(m *message) { m.To = []actions.Text{lit("a@example.com, b@example.com")} },
			"", []string{"a@example.com", "b@example.com"}},
		{"env() team beside an event address", func(m *message) { m.To = []actions.Text{env("TEAM"), ev("ann@example.com")} },
			"", []string{"bob@example.net", "carol@example.org", "ann@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, nil, "none", nil)
			e := newExec(t, srv.Host, srv.Port, func(c *email.Config) {
				c.Env = envMap(map[string]string{"TEAM": "bob@example.net, Carol <carol@example.org>"})
			})
			m := simple()
			tt.m(m)
			out := e.Execute(context.Background(), delivery("d-prov", m))
			if tt.want == "" {
				wantStatus(t, out, actions.Delivered)
				if got := srv.B.messages()[0].To; !slices.Equal(got, tt.rcpt) {
					t.Errorf("RCPT TO = %q, want %q", got, tt.rcpt)
				}
				return
			}
			wantStatus(t, out, actions.Permanent)
			if !strings.Contains(out.Error, tt.want) {
				t.Errorf("error %q, want it to contain %q", out.Error, tt.want)
			}
			if strings.Contains(out.Error, "bob@") {
				t.Errorf("error %q shows the env() value", out.Error)
			}
			if n := srv.B.sessionCount(); n != 0 {
				t.Errorf("server was contacted %d times", n)
			}
		})
	}
}

// TestEventAddressEndToEnd renders rules through the engine, which marks
// what it renders from the event, and sends the deliveries: a comma in an
// event's address no longer adds a recipient.
func TestEventAddressEndToEnd(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil, "none", nil)
	envs := map[string]string{"TEAM": "bob@example.net, carol@example.org"}
	lookup := func(name string) (string, bool) { v, ok := envs[name]; return v, ok }
	src := fmt.Sprintf(`
smtp {
  host = %q
  port = %d
  from = "desk@example.com"
  tls  = "none"
}
trigger "t" {
  on = ["participant.confirmed"]
  action "email" "event" {
    to      = participant.email
    subject = "Confirmed"
    body    = "b"
  }
  action "email" "event_named" {
    to      = "${participant.name} <frontdesk@example.com>"
    subject = "Confirmed"
    body    = "b"
  }
  action "email" "env_team" {
    to      = [env("TEAM"), "ops@example.com"]
    subject = "Confirmed: ${participant.name}"
    body    = "b"
  }
  action "email" "env_team_and_event" {
    to      = [env("TEAM"), participant.email]
    subject = "Confirmed"
    body    = "b"
  }
}
`, srv.Host, srv.Port)
	_, compiled, diags := engine.Load(fstest.MapFS{"r.hcl": {Data: []byte(src)}}, "", rules.Options{Types: builtin.Types(), LookupEnv: lookup})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	exec, err := email.Type().New(actions.Runtime{
		Settings: actions.Settings{"host": srv.Host, "port": fmt.Sprint(srv.Port), "from": "desk@example.com", "tls": "none"},
		Env:      lookup,
		Allow:    loopback,
	})
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(engine.Options{})
	send := func(name, addr string) map[string]actions.Outcome {
		body := fmt.Sprintf(`{"specversion":"1.0","id":"e-%s","source":"test","type":"participant.confirmed",
			"data":{"appointment":{"id":1},"participant":{"name":%q,"email":%q}}}`, addr, name, addr)
		event, err := eng.Decode(compiled.Set().Schema, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		outs := map[string]actions.Outcome{}
		for _, f := range eng.Match(context.Background(), compiled, event, engine.MatchOptions{}).Fired {
			f.Delivery.ID = "d-" + f.Delivery.Name
			outs[f.Delivery.Name] = exec.Execute(context.Background(), f.Delivery)
		}
		return outs
	}

	// The name can smuggle a second address into a template as well.
	outs := send("victim@evil.com, Ann", "ann@example.com, victim@evil.com")
	for name, field := range map[string]string{"event": "to[0]", "event_named": "to[0]", "env_team_and_event": "to[1]"} {
		if out := outs[name]; out.Status != actions.Permanent || !strings.Contains(out.Error, "email "+field+": the address comes from the event and holds more than one address") {
			t.Errorf("%s: outcome %v %q, want permanent", name, out.Status, out.Error)
		}
	}
	if out := outs["env_team"]; out.Status != actions.Delivered {
		t.Errorf("env_team: outcome %v %q, want delivered", out.Status, out.Error)
	}
	outs = send("Ann", "ann@example.com")
	for _, name := range []string{"event", "event_named", "env_team", "env_team_and_event"} {
		if out := outs[name]; out.Status != actions.Delivered {
			t.Errorf("%s with one address: outcome %v %q, want delivered", name, out.Status, out.Error)
		}
	}
	var got []string
	for _, m := range srv.B.messages() {
		got = append(got, m.To...)
	}
	slices.Sort(got)
	want := []string{
		"ann@example.com", "ann@example.com", // event, env_team_and_event
		"bob@example.net", "bob@example.net", "bob@example.net", // env_team twice, env_team_and_event
		"carol@example.org", "carol@example.org", "carol@example.org",
		"frontdesk@example.com", // event_named
		"ops@example.com", "ops@example.com",
	}
	if !slices.Equal(got, want) {
		t.Errorf("recipients %q, want %q", got, want)
	}
	for _, r := range got {
		if strings.Contains(r, "victim") {
			t.Errorf("an event added recipient %s", r)
		}
	}
}
