package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hookline/hookline/internal/testaction"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hookline": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// The CLI with the test-only "page" action type registered, the
		// way actions/builtin registers the real ones.
		"hookline-with-page": func() {
			os.Exit(run(&env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, types: testaction.Types()}, os.Args[1:]))
		},
	})
}

// TestScripts runs the CLI scripts in testdata/script. $EXAMPLES is the
// repository's examples directory, so scripts exercise the shipped rules;
// $PR_CHECK is the GitHub Action's script, run against `fakegithub`.
func TestScripts(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	prCheck, err := filepath.Abs("../../scripts/action/pr-check.sh")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("EXAMPLES", examples)
			env.Setenv("PR_CHECK", prCheck)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"fakegithub":  fakeGitHub,
			"startserver": startServer,
			"postevent":   postEvent,
			"waitfinal":   waitFinal,
		},
	})
}
