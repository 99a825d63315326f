package sandbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hookline/hookline/actions"
)

func TestCaptureIsRedactedAndDelivered(t *testing.T) {
	t.Parallel()
	d := &actions.Delivery{
		ID: "dlv_1", Address: "crm.http.hook", Type: "http", Attempt: 2,
		Fields: actions.Fields{
			{Name: "method", Value: actions.Value{Text: actions.Literal("POST")}},
			{Name: "url", Value: actions.Value{Text: actions.Literal("https://crm.example.com/hook")}},
			{Name: "headers", Value: actions.Value{Map: []actions.Header{{Name: "Authorization", Value: actions.Text{{Lit: "Bearer "}, {Env: "CRM_TOKEN"}}}}}},
			{Name: "body", Value: actions.Value{Text: actions.Literal(`{"a":1}`)}},
		},
	}
	out := New(nil).Execute(context.Background(), d)
	if out.Status != actions.Delivered || out.ProviderID != "sandbox" {
		t.Fatalf("outcome %+v", out)
	}
	var c Capture
	if err := json.Unmarshal([]byte(out.Response), &c); err != nil {
		t.Fatal(err)
	}
	headers := c.Rendered["headers"].(map[string]any)
	if headers["Authorization"] != "Bearer (sensitive)" || c.Rendered["url"] != "https://crm.example.com/hook" || c.Attempt != 2 {
		t.Errorf("capture %+v", c)
	}
	if strings.Contains(out.Response, "CRM_TOKEN") {
		t.Error("the capture names the secret's variable; it must only say (sensitive)")
	}
}

func TestCancelledContextIsRetried(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := New(nil).Execute(ctx, &actions.Delivery{Type: "sms"})
	if out.Status != actions.Retry {
		t.Fatalf("status %v, want retry", out.Status)
	}
}
