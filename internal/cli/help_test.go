package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hookline/hookline/actions/builtin"
)

// TestEveryCommandHelps asks every command and subcommand for help the ways
// people do: each prints its usage on stdout and exits 0, with nothing on
// stderr.
func TestEveryCommandHelps(t *testing.T) {
	t.Parallel()
	var lines [][]string
	for name := range commands() {
		lines = append(lines, []string{name})
		for _, s := range subcommands[name] {
			lines = append(lines, []string{name, s.name})
		}
	}
	for _, cmd := range lines {
		for _, ask := range [][]string{
			append(append([]string{}, cmd...), "-h"),
			append(append([]string{}, cmd...), "--help"),
			append([]string{"help"}, cmd...),
		} {
			var stdout, stderr bytes.Buffer
			code := run(&env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, types: builtin.Types()}, ask)
			if code != exitOK || !strings.HasPrefix(stdout.String(), "Usage: hookline "+strings.Join(cmd, " ")) || stderr.Len() > 0 {
				t.Errorf("hookline %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(ask, " "), code, stdout.String(), stderr.String())
			}
		}
	}
}
