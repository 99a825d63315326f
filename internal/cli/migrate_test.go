package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/pgtest"
)

// On PostgreSQL: serve --no-migrate refuses a fresh schema, migrate
// prepares it (twice is harmless), and serve --no-migrate then starts.
func TestMigrateOnPostgres(t *testing.T) {
	dbURL := pgtest.URL(t)
	t.Parallel()
	bin, err := exec.LookPath("hookline")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rule := "trigger \"t\" {\n  on = [\"participant.confirmed\"]\n  action \"http\" \"h\" { url = \"https://example.com\" }\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "r.hcl"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	serve := []string{"serve", "--no-migrate", "--sandbox", "--watch", "off", "--listen", "127.0.0.1:0", dir}

	c := exec.Command(bin, serve...)
	c.Env = append(os.Environ(), "HOOKLINE_DATABASE_URL="+dbURL)
	out, err := c.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not up to date") {
		t.Fatalf("serve --no-migrate on a fresh schema: %v\n%s", err, out)
	}

	for range 2 {
		var stdout, stderr bytes.Buffer
		if code := Main([]string{"migrate", "--database-url", dbURL}, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("migrate: exit %d\n%s", code, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "Up to date: postgres://") {
			t.Errorf("migrate said %q", stdout.String())
		}
	}

	cmd, _ := startServe(t, bin, append(serve[:len(serve)-1], "--database-url", dbURL, dir)...)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve --no-migrate after migrate: %v", err)
	}
}
