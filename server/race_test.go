package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/rules"
)

// TestEventsOfEveryTypeDuringReloads posts events of every type in the
// catalogue concurrently while the rules are reloaded again and again, with
// rules that use guards, fast templates, HCL-only templates, CEL with loops
// and date helpers. The compiled set is built before the swap and only read
// by requests, so under -race nothing may be written to shared state here,
// and every event must be matched whole by one version of the rules.
func TestEventsOfEveryTypeDuringReloads(t *testing.T) {
	catalogue, diags := rules.Load(fstest.MapFS{}, "", rules.Options{Types: builtin.Types()})
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	types := catalogue.Schema.EventNames()
	rulesFor := func(round int) string {
		var b strings.Builder
		fmt.Fprintf(&b, "# round %d\n", round)
		b.WriteString(`twilio {
  account_sid = "AC123"
  auth_token  = env("TWILIO_AUTH_TOKEN")
  from        = "+15550199"
}
smtp {
  host = "smtp.example.com"
  from = "desk@example.com"
}
`)
		for i, typ := range types {
			fmt.Fprintf(&b, `trigger "t%d" {
  on   = [%q]
  when = "event.source == 'race' && ['a', 'b'].exists(x, event.id.startsWith(x))"
  action "http" "fast" {
    url  = "https://example.com/${event.type}/%d"
    body = "${upper(event.id)} ${event.source} ${date_and_time_phrase("2026-12-02T10:00:00Z")}"
  }
  action "sms" "hcl" {
    to   = "+15550100"
    body = "${event.subject == "" ? "no subject" : event.subject} ${jsonencode({id = event.id})}"
  }
  action "email" "consts" {
    to      = ["desk@example.com"]
    subject = "round %d"
    body    = "${event.id}"
  }
}
`, i, typ, round, round)
		}
		return b.String()
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.hcl")
	if err := os.WriteFile(path, []byte(rulesFor(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startServer(t, dir, nil, func(o *Options) {
		o.Sandbox, o.Watch = true, "off"
		// Under -race on a busy machine the loop filters can take longer
		// than the default deadline; what this test checks is sharing.
		o.FilterTimeout = time.Minute
	})

	post := func(typ string, n int) error {
		data := map[string]any{}
		for _, f := range catalogue.Schema.Events[typ].Data {
			data[f.Name] = map[string]any{}
		}
		body, _ := json.Marshal(map[string]any{"specversion": "1.0", "id": fmt.Sprintf("a-%s-%d", typ, n), "source": "race", "type": typ, "data": data})
		resp, err := http.Post(h.url+"/v1/events", "application/cloudevents+json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var ans struct {
			Deliveries []any `json:"deliveries"`
			Errors     []any `json:"errors"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusAccepted || len(ans.Deliveries) != 3 || len(ans.Errors) != 0 {
			return fmt.Errorf("%s: %d, %d deliveries, errors %v", typ, resp.StatusCode, len(ans.Deliveries), ans.Errors)
		}
		return nil
	}
	// Reload without pause while the events below are posted.
	stop := make(chan struct{})
	reloads := make(chan int, 1)
	go func() {
		n := 0
		defer func() { reloads <- n }()
		for round := 1; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := os.WriteFile(path, []byte(rulesFor(round)), 0o644); err != nil {
				t.Error(err)
				return
			}
			if res := h.srv.Reload("test"); !res.Changed || res.Err != nil {
				t.Errorf("reload %d: %+v", round, res)
				return
			}
			n++
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, len(types)*12)
	for n := range 12 {
		for _, typ := range types {
			wg.Add(1)
			go func(typ string, n int) {
				defer wg.Done()
				if err := post(typ, n); err != nil {
					errs <- err
				}
			}(typ, n)
		}
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := <-reloads; n < 2 {
		t.Errorf("only %d reloads happened while events were posted", n)
	}
}
