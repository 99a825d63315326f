package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestProviderErrorsHideSecrets: an executor that refuses its settings
// quotes them, and a setting read with env() may be a secret; the error
// that stops the server (and would show on /v1/rules after a reload) must
// not carry it.
func TestProviderErrorsHideSecrets(t *testing.T) {
	dir := writeRules(t, `
trigger "t" {
  on = ["participant.confirmed"]
  action "email" "e" {
    to      = "desk@example.com"
    subject = "hi"
    body    = "hi"
  }
}
smtp {
  host = env("SMTP_HOST")
  from = "desk@example.com"
}`)
	env := map[string]string{"SMTP_HOST": "secret-relay.internal:2525"}
	_, err := New(context.Background(), Options{
		RulesDir: dir, DataDir: filepath.Join(t.TempDir(), "data"),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err == nil {
		t.Fatal("a host with a port was accepted")
	}
	if strings.Contains(err.Error(), "secret-relay") || !strings.Contains(err.Error(), "(sensitive)") {
		t.Fatalf("error %q: the setting from env() is not redacted", err)
	}
}
