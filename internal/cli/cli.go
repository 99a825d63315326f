// Package cli is the hookline command line: it parses arguments, runs a
// command and maps the result to an exit status. main only calls Main, so
// tests run the real CLI in-process through testscript.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
)

// Exit statuses shared by every command.
const (
	exitOK      = 0
	exitFailure = 1 // invalid rules, unformatted files, failed tests
	exitUsage   = 2
)

// env is what a command may touch of the outside world, and the action
// types it runs with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	types          *actions.Types
}

type command struct {
	summary string
	run     func(e *env, args []string) int
}

func commands() map[string]command {
	return map[string]command{
		"validate":   {"Check a rules directory and report every problem", runValidate},
		"fmt":        {"Rewrite rule files in the canonical format", runFmt},
		"eval":       {"Show what one event would fire, and why the rest would not", runEval},
		"test":       {"Run the rules directory's test blocks", runTest},
		"plan":       {"Show how the rules differ from a base directory or git revision", runPlan},
		"serve":      {"Take events over HTTP and deliver their actions", runServe},
		"migrate":    {"Create or update the store's tables without serving", runMigrate},
		"deliveries": {"List, show and retry deliveries of a running server", runDeliveries},
		"events":     {"Show an event and its deliveries on a running server", runEvents},
		"version":    {"Print the version", runVersion},
	}
}

// Main runs the command named by args[0] and returns the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(&env{stdin: stdin, stdout: stdout, stderr: stderr, types: builtin.Types()}, args)
}

// run is Main with the action types chosen by the caller (tests register
// their own).
func run(e *env, args []string) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "hookline: unknown command %q\n\n", args[0])
		usage(e.stderr, cmds)
		return exitUsage
	}
	return cmd.run(e, args[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: hookline COMMAND [OPTIONS] [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'hookline COMMAND -h' for a command's options.")
}

// newFlags returns a FlagSet whose errors and help go to stderr and that
// never exits the process.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: hookline %s [OPTIONS] %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses and returns -1 to continue, or the exit status.
// Flags may come before or after positional arguments, as users expect
// from `hookline validate examples --format json`; after `--` everything
// is positional, so a path that looks like a flag can still be named.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, int) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK
			}
			return nil, exitUsage
		}
		// Parse drops the `--` it stops at, so fs.Args() alone cannot
		// tell the rest of the command line from the tail after it.
		if stoppedAtTerminator(fs, args) {
			return append(positional, fs.Args()...), -1
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, -1
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// stoppedAtTerminator reports whether fs.Parse(args), which succeeded,
// stopped at a `--`. A `--` can also be the value of the flag before it
// (`--format --`), so the arguments are walked as Parse walks them.
func stoppedAtTerminator(fs *flag.FlagSet, args []string) bool {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return true
		}
		if len(a) < 2 || a[0] != '-' {
			return false // a positional argument
		}
		name := strings.TrimPrefix(a[1:], "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) {
			i++ // the next argument is this flag's value
		}
	}
	return false
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func runVersion(e *env, args []string) int {
	fs := newFlags(e, "version", "")
	if _, code := parseFlags(fs, args); code >= 0 {
		return code
	}
	fmt.Fprintf(e.stdout, "hookline %s\n", version())
	return exitOK
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		v = "dev-" + rev[:min(12, len(rev))] + dirty
	}
	if v == "" {
		v = "(devel)"
	}
	return v + " " + info.GoVersion
}
