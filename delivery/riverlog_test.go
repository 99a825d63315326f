package delivery

import (
	"log/slog"
	"strings"
	"testing"
)

func TestRiverLogsOneLevelQuieter(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := quietRiverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Debug("fetched jobs")
	log.Info("job counts")
	log.Warn("slow")
	out := string(buf.Bytes())
	for _, want := range []string{`level=DEBUG msg="job counts" component=river`, `level=WARN msg=slow component=river`} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fetched jobs") {
		t.Errorf("River's debug records must stay out of --log-level debug:\n%s", out)
	}

	var all syncBuffer
	log = quietRiverLogger(slog.New(slog.NewTextHandler(&all, &slog.HandlerOptions{Level: slog.LevelDebug - 4})))
	log.Debug("fetched jobs")
	if out := string(all.Bytes()); !strings.Contains(out, `level=DEBUG-4 msg="fetched jobs"`) {
		t.Errorf("--log-level debug-4 shows them: %s", out)
	}
}

// TestRiverClientLogsQuietly runs a store's River client under a debug
// logger: its start and stop (info in River) show as debug, while its
// producers' debug records, logged before Close returns, do not show.
func TestRiverClientLogsQuietly(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := openStore(t, newTestDB(t, "sqlite"), func(c *Config) { c.Logger = logger })
	start(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	out := string(buf.Bytes())
	if !strings.Contains(out, `level=DEBUG msg="River client stopped"`) {
		t.Errorf("River's info records should show at debug:\n%s", out)
	}
	if strings.Contains(out, "Run loop stopped") {
		t.Errorf("River's debug records flood --log-level debug:\n%s", out)
	}
}
