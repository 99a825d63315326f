package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestErasureAPI erases a participant by a phone number written another
// way than their event wrote it, checks what the API then shows, the
// audit, the metric, and the answers to bad requests.
func TestErasureAPI(t *testing.T) { eachStore(t, testErasureAPI) }

func testErasureAPI(t *testing.T, store func(*Options)) {
	rc := newReceiver(t)
	rules := writeRules(t, `
trigger "crm" {
  on = ["participant.confirmed"]
  action "http" "crm" {
    url = "`+rc.URL+`/crm"
  }
}
`)
	h := startServer(t, rules, nil, func(o *Options) {
		if store != nil {
			store(o)
		}
		o.DefaultCountryCode = "+1"
	})
	_, ann := h.post(event("a1", "participant.confirmed",
		`{"appointment":{},"participant":{"name":"Ann Lee","email":"Ann.Lee@Example.com","phone":"(555) 010-0123"}}`))
	_, bob := h.post(event("b1", "participant.confirmed",
		`{"appointment":{},"participant":{"name":"Bob Roe","email":"bob@example.com","phone":"+15550100456"}}`))
	annDelivery, bobDelivery := deliveryIDs(t, ann)[0], deliveryIDs(t, bob)[0]
	waitStatus(t, h, annDelivery, "delivered")
	waitStatus(t, h, bobDelivery, "delivered")

	status, e := h.do("POST", "/v1/erasures", "application/json", []byte(`{"phone": "+1 555-010-0123"}`), nil)
	if status != 200 || e["kind"] != "phone" || e["events"] != 1.0 || e["deliveries"] != 1.0 || e["attempts"] != 1.0 ||
		e["canceled"] != 0.0 || e["finished_at"] == nil || !strings.HasPrefix(e["id"].(string), "ers_") {
		t.Errorf("erasure: %d %v", status, e)
	}
	_, ev := h.do("GET", "/v1/events/"+ann["id"].(string), "", nil, nil)
	if got, _ := ev["event"].(map[string]any); got["erased"] != true || ev["erased_at"] == nil || ev["ce_id"] != "a1" {
		t.Errorf("Ann's event after the erasure: %v", ev)
	}
	d := waitStatus(t, h, annDelivery, "delivered")
	if rendered, _ := d["rendered"].(map[string]any); len(rendered) != 0 || d["erased_at"] == nil {
		t.Errorf("Ann's delivery after the erasure: %v", d)
	}
	if status, ans := h.do("POST", "/v1/deliveries/"+annDelivery+"/retry", "", nil, nil); status != 409 || code(ans) != "erased" {
		t.Errorf("retrying an erased delivery: %d %v, want 409 erased", status, ans)
	}
	if _, ev := h.do("GET", "/v1/events/"+bob["id"].(string), "", nil, nil); !strings.Contains(string(mustJSON(t, ev)), "bob@example.com") {
		t.Errorf("Bob's event was touched: %v", ev)
	}

	// An e-mail address in another case finds Bob; the audit lists both.
	if status, e := h.do("POST", "/v1/erasures", "application/json", []byte(`{"email": " BOB@example.com "}`), nil); status != 200 || e["events"] != 1.0 {
		t.Errorf("erasure by e-mail: %d %v", status, e)
	}
	_, list := h.do("GET", "/v1/erasures", "", nil, nil)
	es, _ := list["erasures"].([]any)
	if len(es) != 2 || es[0].(map[string]any)["kind"] != "email" {
		t.Fatalf("GET /v1/erasures: %v", list)
	}
	_, one := h.do("GET", "/v1/erasures/"+e["id"].(string), "", nil, nil)
	erased, _ := one["erased"].([]any)
	if len(erased) != 1 || erased[0].(map[string]any)["event_id"] != ann["id"] {
		t.Errorf("GET /v1/erasures/{id}: %v", one)
	}
	for _, body := range [][]byte{mustJSON(t, list), mustJSON(t, one)} {
		for _, data := range []string{"5550100123", "010-0123", "Ann Lee", "ann.lee", "bob@"} {
			if bytes.Contains(body, []byte(data)) {
				t.Errorf("the audit shows %q: %s", data, body)
			}
		}
	}

	bad := []struct {
		body, code string
		status     int
	}{
		{`not json`, "invalid_json", 400},
		{`{"name": "Ann"}`, "invalid_json", 400},
		{`{}`, "invalid_request", 400},
		{`{"email": "a@example.com", "phone": "+15550100123"}`, "invalid_request", 400},
		{`{"email": "ann"}`, "invalid_email", 400},
		{`{"phone": "010-0123"}`, "invalid_phone", 400},
		{`{"phone": "call me"}`, "invalid_phone", 400},
		{`{"event_id": "evt_unknown"}`, "not_found", 404},
	}
	for _, b := range bad {
		status, ans := h.do("POST", "/v1/erasures", "application/json", []byte(b.body), nil)
		if status != b.status || code(ans) != b.code {
			t.Errorf("POST %s: %d %v, want %d %s", b.body, status, ans, b.status, b.code)
		}
	}
	if status, ans := h.do("GET", "/v1/erasures/ers_unknown", "", nil, nil); status != 404 {
		t.Errorf("an unknown erasure: %d %v", status, ans)
	}

	metrics := scrape(t, h)
	for _, line := range []string{`hookline_erasures_total{kind="email"} 1`, `hookline_erasures_total{kind="phone"} 1`, `hookline_erasures_total{kind="event"} 0`} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// A server refuses a default country code that is not one.
func TestDefaultCountryCodeIsChecked(t *testing.T) {
	t.Parallel()
	rules := writeRules(t, `
trigger "crm" {
  on = ["participant.confirmed"]
  action "http" "crm" { url = "https://crm.example.com/hook" }
}
`)
	_, err := New(t.Context(), Options{RulesDir: rules, DataDir: t.TempDir(), DefaultCountryCode: "0044"})
	if err == nil || !strings.Contains(err.Error(), "country calling code") {
		t.Errorf("New with a bad country code: %v", err)
	}
}

func code(ans map[string]any) string {
	e, _ := ans["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
