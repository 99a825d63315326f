// Package cli is the hookline command line: it parses arguments, runs a
// command and maps the result to an exit status. main only calls Main, so
// tests run the real CLI in-process through testscript.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
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
		"schema":     {"List the event types and the fields each carries", runSchema},
		"init":       {"Start a rules directory: rules for the common use cases, tests, the CI workflow", runInit},
		"serve":      {"Take events over HTTP and deliver their actions", runServe},
		"migrate":    {"Create or update the store's tables without serving", runMigrate},
		"deliveries": {"List, show, retry and cancel deliveries of a running server", runDeliveries},
		"events":     {"Show an event and its deliveries, or purge old events, on a running server", runEvents},
		"erase":      {"Erase one person's data (by e-mail, phone or event) on a running server", runErase},
		"version":    {"Print the version, commit and date this binary was built from", runVersion},
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
	if len(args) > 1 && args[0] == "help" {
		// `hookline help plan` is `hookline plan -h`.
		return run(e, append(args[1:len(args):len(args)], "-h"))
	}
	if len(args) == 0 || isHelp(args[0]) {
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

// isHelp tells whether an argument asks for help rather than naming a
// command or subcommand.
func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "-help" || arg == "--help"
}

// newFlags returns a FlagSet that never exits the process. Its errors go
// to stderr; the help a user asks for (-h) goes to stdout, like every
// other answer, so that it can be paged or searched.
func newFlags(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&flagOutput{stdout: e.stdout, stderr: e.stderr})
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, strings.TrimSpace(fmt.Sprintf("Usage: hookline %s [OPTIONS] %s", name, args)))
		if s := commandSummary(name); s != "" {
			fmt.Fprintf(w, "\n%s.\n", s)
		}
		fmt.Fprintln(w, "\nOptions:")
		fs.PrintDefaults()
	}
	return fs
}

// commandSummary is the one line that says what a command or subcommand
// ("deliveries list") does.
func commandSummary(name string) string {
	if c, ok := commands()[name]; ok {
		return c.summary
	}
	group, sub, _ := strings.Cut(name, " ")
	for _, s := range subcommands[group] {
		if s.name == sub {
			return s.summary
		}
	}
	return ""
}

// flagOutput is where a FlagSet prints. While Parse runs it holds what is
// printed, since only Parse's result tells a usage error (stderr) from
// help that was asked for (stdout).
type flagOutput struct {
	stdout, stderr io.Writer
	held           *bytes.Buffer
}

func (o *flagOutput) Write(p []byte) (int, error) {
	if o.held != nil {
		return o.held.Write(p)
	}
	return o.stderr.Write(p)
}

// parse is fs.Parse, with what it printed sent where it belongs.
func parse(fs *flag.FlagSet, args []string) error {
	o, ok := fs.Output().(*flagOutput)
	if !ok {
		return fs.Parse(args)
	}
	o.held = &bytes.Buffer{}
	err := fs.Parse(args)
	w := o.stderr
	if errors.Is(err, flag.ErrHelp) {
		w = o.stdout
	}
	held := o.held
	o.held = nil
	w.Write(held.Bytes())
	return err
}

// parseFlags parses and returns -1 to continue, or the exit status.
// Flags may come before or after positional arguments, as users expect
// from `hookline validate examples --format json`; after `--` everything
// is positional, so a path that looks like a flag can still be named.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, int) {
	var positional []string
	for {
		if err := parse(fs, args); err != nil {
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
