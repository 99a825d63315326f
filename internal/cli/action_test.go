package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestActionWiring checks what GitHub would only find out on a pull
// request: that action.yml runs the script pr_check.txtar tests, passes it
// only inputs it declares, and sets only variables the script reads.
func TestActionWiring(t *testing.T) {
	t.Parallel()
	action, err := os.ReadFile("../../action.yml")
	if err != nil {
		t.Fatal(err)
	}
	const script = "scripts/action/pr-check.sh"
	src, err := os.ReadFile("../../" + script)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat("../../" + script); err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s must be executable (the action runs it directly)", script)
	}
	a := string(action)
	if !strings.Contains(a, "using: composite") || !strings.Contains(a, `"$GITHUB_ACTION_PATH/`+script+`"`) {
		t.Errorf("action.yml must be a composite action running $GITHUB_ACTION_PATH/%s", script)
	}
	declared := map[string]bool{}
	inInputs := false
	for _, line := range strings.Split(a, "\n") {
		switch {
		case line == "inputs:":
			inInputs = true
		case line != "" && !strings.HasPrefix(line, " "):
			inInputs = false
		case inInputs && regexp.MustCompile(`^  [a-z-]+:$`).MatchString(line):
			declared[strings.TrimSuffix(strings.TrimSpace(line), ":")] = true
		}
	}
	for _, m := range regexp.MustCompile(`inputs\.([a-z-]+)`).FindAllStringSubmatch(a, -1) {
		if !declared[m[1]] {
			t.Errorf("action.yml uses inputs.%s, which it does not declare (declared: %v)", m[1], declared)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^        (HOOKLINE_[A-Z_]+):`).FindAllStringSubmatch(a, -1) {
		if !strings.Contains(string(src), "${"+m[1]) {
			t.Errorf("action.yml sets %s, which %s never reads", m[1], script)
		}
	}
}
