package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestTextNoStoreCanKeep posts events holding a NUL, bytes that are not
// UTF-8 or an unpaired UTF-16 surrogate, in every part of an event and in
// both modes. No store can keep them, so each is a client error naming
// where it is, never a 503 that tells the sender to send it again; and
// nothing is stored.
func TestTextNoStoreCanKeep(t *testing.T) { eachStore(t, testTextNoStoreCanKeep) }

func testTextNoStoreCanKeep(t *testing.T, store func(*Options)) {
	h := startServer(t, writeRules(t, rule("t", "https://example.com/x")), nil, func(o *Options) {
		o.Sandbox = true
		if store != nil {
			store(o)
		}
	})
	structured := func(envelope, data string) []byte {
		return []byte(`{"specversion":"1.0","type":"participant.confirmed",` + envelope + `,"data":` + data + `}`)
	}
	const ids = `"id":"t1","source":"test"`
	binary := func(extra map[string]string) map[string]string {
		m := map[string]string{"ce-specversion": "1.0", "ce-id": "b1", "ce-source": "test", "ce-type": "participant.confirmed"}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		body []byte
		hdr  map[string]string // binary mode
		code string
		want []string // in the message
	}{
		{"escaped NUL in declared data", structured(ids, `{"appointment":{},"participant":{"name":"A\u0000nn"}}`), nil,
			"invalid_text", []string{"data.participant.name:", "NUL"}},
		{"escaped NUL in undeclared data", structured(ids, `{"appointment":{},"participant":{},"extra":[1,{"x":"\u0000"}]}`), nil,
			"invalid_text", []string{"data.extra[1].x:", "NUL"}},
		{"raw NUL in data", structured(ids, "{\"appointment\":{},\"participant\":{\"name\":\"A\x00\"}}"), nil,
			"invalid_text", []string{"data.participant.name:", "NUL"}},
		{"lone high surrogate in data", structured(ids, `{"appointment":{"title":"\ud800"},"participant":{}}`), nil,
			"invalid_text", []string{"data.appointment.title:", `unpaired UTF-16 surrogate \ud800`}},
		{"lone low surrogate in data", structured(ids, `{"appointment":{"title":"x\udc00y"},"participant":{}}`), nil,
			"invalid_text", []string{"data.appointment.title:", `\udc00`}},
		{"high surrogate before a non-surrogate", structured(ids, `{"appointment":{"title":"\ud800\u0041"},"participant":{}}`), nil,
			"invalid_text", []string{"data.appointment.title:", `\ud800`}},
		{"invalid UTF-8 in data", structured(ids, "{\"appointment\":{\"title\":\"caf\xe9\"},\"participant\":{}}"), nil,
			"invalid_text", []string{"data.appointment.title:", "UTF-8"}},
		{"NUL in a key", structured(ids, `{"appointment":{},"participant":{},"extra":{"a\u0000":1}}`), nil,
			"invalid_text", []string{"data.extra:", "key", "NUL"}},
		{"NUL in id", structured(`"id":"t\u0000","source":"test"`, confirmedData), nil,
			"invalid_text", []string{"id:", "NUL"}},
		{"invalid UTF-8 in source", structured("\"id\":\"t1\",\"source\":\"te\xffst\"", confirmedData), nil,
			"invalid_text", []string{"source:", "UTF-8"}},
		{"NUL in an extension attribute", structured(ids+`,"traceparent":"\u0000"`, confirmedData), nil,
			"invalid_text", []string{"traceparent:", "NUL"}},
		{"surrogate in subject", structured(ids+`,"subject":"\udfff"`, confirmedData), nil,
			"invalid_text", []string{"subject:", `\udfff`}},
		// JSON that fastjson takes but no store would: as malformed as it gets.
		{"leading zero", structured(ids, `{"appointment":{},"participant":{},"n":01}`), nil,
			"invalid_json", []string{"data.n:", "number"}},
		{"raw line break in a string", structured(ids, "{\"appointment\":{\"title\":\"a\nb\"},\"participant\":{}}"), nil,
			"invalid_json", []string{"data.appointment.title:", "U+000A"}},
		{"unknown escape", structured(ids, `{"appointment":{"title":"\x41"},"participant":{}}`), nil,
			"invalid_json", []string{"data.appointment.title:", `\x`}},

		{"binary: NUL in ce-id", []byte(confirmedData), binary(map[string]string{"ce-id": "b%00"}),
			"invalid_text", []string{"Header ce-id:", "NUL"}},
		{"binary: NUL in an extension", []byte(confirmedData), binary(map[string]string{"ce-traceparent": "%00"}),
			"invalid_text", []string{"Header ce-traceparent:", "NUL"}},
		{"binary: surrogate in ce-source", []byte(confirmedData), binary(map[string]string{"ce-source": "a%ED%A0%80"}),
			"invalid_text", []string{"Header ce-source:", "UTF-8"}},
		{"binary: Content-Type, the datacontenttype, not UTF-8", []byte(confirmedData), binary(map[string]string{"Content-Type": "application/json; x=caf\xe9"}),
			"invalid_text", []string{"Header Content-Type:", "UTF-8"}},
		{"binary: escaped NUL in data", []byte(`{"appointment":{},"participant":{"name":"\u0000"}}`), binary(nil),
			"invalid_text", []string{"data.participant.name:", "NUL"}},
		{"binary: invalid UTF-8 in data", []byte("{\"appointment\":{},\"participant\":{\"name\":\"\xff\"}}"), binary(nil),
			"invalid_text", []string{"data.participant.name:", "UTF-8"}},
		{"binary: lone surrogate in data", []byte(`{"appointment":{},"participant":{"x":"\ud800"}}`), binary(nil),
			"invalid_text", []string{"data.participant.x:", `\ud800`}},
	}
	for _, tt := range tests {
		status, ans := h.do("POST", "/v1/events", "application/json", tt.body, tt.hdr)
		apiErr, _ := ans["error"].(map[string]any)
		msg, _ := apiErr["message"].(string)
		if status != http.StatusBadRequest || apiErr["code"] != tt.code {
			t.Errorf("%s: %d %v, want 400 %s", tt.name, status, ans, tt.code)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", tt.name, msg, w)
			}
		}
	}
	_, list := h.do("GET", "/v1/deliveries", "", nil, nil)
	if ds, _ := list["deliveries"].([]any); len(ds) != 0 {
		t.Errorf("rejected events were stored: %v", list)
	}
	m := scrape(t, h)
	for _, w := range []string{`hookline_events_rejected_total{reason="invalid_text"} 19`, `hookline_events_rejected_total{reason="invalid_json"} 3`} {
		if !strings.Contains(m, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
	if strings.Contains(m, `reason="store_unavailable"`) {
		t.Error("a rejected event was counted as the store's failure")
	}

	// What looks like them but is fine: an emoji as a surrogate pair, a
	// backslash followed by u0000, and a character that is not ASCII.
	for i, body := range [][]byte{
		structured(`"id":"ok1","source":"test"`, `{"appointment":{"title":"\ud83d\ude00"},"participant":{"name":"\\u0000 caf\u00e9 café"}}`),
		structured(`"id":"ok2","source":"\\ud800"`, confirmedData),
	} {
		if status, ans := h.post(body); status != http.StatusAccepted {
			t.Errorf("valid event %d: %d %v", i, status, ans)
		}
	}
}
