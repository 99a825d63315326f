package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestDecodeAttribute follows the CloudEvents HTTP protocol binding,
// section 3.1.3.2 (HTTP Header Values).
func TestDecodeAttribute(t *testing.T) {
	t.Parallel()
	valid := []struct{ in, want string }{
		// The spec's example, as it says to encode it.
		{"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"},
		// The same with spaces left unencoded, as older senders do.
		{"Euro %E2%82%AC %F0%9F%98%80", "Euro € 😀"},
		// "decoding MUST accept lower-case values".
		{"%e2%82%ac", "€"},
		// "values that have been unnecessarily percent-encoded MUST be accepted".
		{"%2Fmy%63ontext", "/mycontext"},
		// "A single round of percent-decoding".
		{"100%2525", "100%25"},
		// Percent-decoding is not form decoding.
		{"a+b", "a+b"},
		{"/mycontext/subcontext", "/mycontext/subcontext"},
		{"", ""},
		// Double-quoted strings (RFC 7230 section 3.2.6) are unquoted
		// first; they MUST be supported for older senders.
		{`"a b"`, "a b"},
		{`"say \"hi\" \\o/"`, `say "hi" \o/`},
		{`"100%25"`, "100%"},
		{`x-"a b"-y`, "x-a b-y"},
		// A backslash outside quotes is an ordinary character.
		{`C:\dir`, `C:\dir`},
		// Raw UTF-8 breaks RFC 7230, but the value is still clear.
		{"café", "café"},
	}
	for _, tt := range valid {
		got, err := decodeAttribute(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("decodeAttribute(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}

	invalid := []struct{ in, want string }{
		// A literal "%" must be sent as %25.
		{"100%", `"%" is not a percent-encoded byte`},
		{"50% off", `"% o" is not a percent-encoded byte`},
		{"%4", `"%4" is not a percent-encoded byte`},
		{"%zz", `"%zz" is not a percent-encoded byte`},
		// "encoded byte sequences which are invalid in UTF-8 MUST be
		// rejected", e.g. the spec's overlong %C0%A0 for U+0020.
		{"%C0%A0", "not UTF-8 after percent-decoding"},
		{"%C0%80", "not UTF-8 after percent-decoding"},
		{"%ED%A0%80", "not UTF-8 after percent-decoding"}, // a UTF-16 surrogate
		{"%E2%82", "not UTF-8 after percent-decoding"},    // a truncated sequence
		{"%FF", "not UTF-8 after percent-decoding"},
		{"caf\xe9", "not UTF-8"}, // Latin-1, unencoded
		{"a%00b", "NUL character"},
		{`"open`, "double-quoted string is not closed"},
		{`"a\`, "lone backslash"},
	}
	for _, tt := range invalid {
		got, err := decodeAttribute(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("decodeAttribute(%q) = %q, %v; want an error containing %q", tt.in, got, err, tt.want)
		}
	}
}

// TestBinaryModePercentDecoding posts binary-mode events whose ce-* headers
// are percent-encoded and checks what is kept, and that a malformed value is
// refused before anything is stored.
func TestBinaryModePercentDecoding(t *testing.T) {
	t.Parallel()
	h := startServer(t, writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "http" "h" {
    url  = "https://crm.example.com/hook"
    body = "from ${event.source}"
  }
}`), nil, func(o *Options) { o.Sandbox = true })
	headers := func(extra map[string]string) map[string]string {
		m := map[string]string{
			"ce-specversion": "1.0", "ce-type": "participant.confirmed",
			"ce-id": "pct-1", "ce-source": "https://shop.example/caf%C3%A9%20%E2%82%AC",
			"ce-subject": `"order 42"`, "ce-shopname": "Caf%C3%A9%20%22Euro%22%20100%25",
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}

	status, ans := h.do("POST", "/v1/events", "application/json", []byte(confirmedData), headers(nil))
	if status != http.StatusAccepted {
		t.Fatalf("binary mode: %d %v", status, ans)
	}
	const source = "https://shop.example/café €"
	_, ev := h.do("GET", "/v1/events/"+ans["id"].(string), "", nil, nil)
	if ev["source"] != source {
		t.Errorf("source = %q, want %q", ev["source"], source)
	}
	stored, _ := ev["event"].(map[string]any)
	for attr, want := range map[string]string{
		"source":   source,
		"subject":  "order 42",
		"shopname": `Café "Euro" 100%`, // an extension attribute
		"id":       "pct-1",
	} {
		if stored[attr] != want {
			t.Errorf("stored event %s = %q, want %q (%v)", attr, stored[attr], want, stored)
		}
	}
	// The rules see the decoded value too.
	d := waitStatus(t, h, deliveryIDs(t, ans)[0], "delivered")
	resp := d["attempt_log"].([]any)[0].(map[string]any)["response"].(string)
	if !strings.Contains(resp, `"body":"from `+source+`"`) {
		t.Errorf("rendered with %s, want the decoded source", resp)
	}

	for _, tt := range []struct {
		name   string
		header map[string]string
		want   []string
	}{
		{"bare percent", map[string]string{"ce-id": "pct-2", "ce-shopname": "50% off"},
			[]string{"Header ce-shopname:", `"% o" is not a percent-encoded byte`, "section 3.1.3.2"}},
		// Text no store can keep is answered as it is in the body.
		{"overlong UTF-8", map[string]string{"ce-id": "pct-3", "ce-source": "a%C0%A0b"},
			[]string{"Header ce-source:", "not UTF-8 after percent-decoding"}},
		{"two bad headers", map[string]string{"ce-id": "pct-4", "ce-source": "%zz", "ce-subject": "%FF"},
			[]string{"Header ce-source:"}},
	} {
		want := "invalid_cloudevent"
		if tt.name == "overlong UTF-8" {
			want = "invalid_text"
		}
		status, ans := h.do("POST", "/v1/events", "application/json", []byte(confirmedData), headers(tt.header))
		apiErr, _ := ans["error"].(map[string]any)
		msg, _ := apiErr["message"].(string)
		if status != http.StatusBadRequest || apiErr["code"] != want {
			t.Errorf("%s: %d %v, want 400 %s", tt.name, status, ans, want)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q lacks %q", tt.name, msg, w)
			}
		}
	}
	// Only the first event was kept.
	_, list := h.do("GET", "/v1/deliveries?trigger=t", "", nil, nil)
	if ds, _ := list["deliveries"].([]any); len(ds) != 1 {
		t.Errorf("deliveries stored: %v, want only the first event's", list)
	}
}
