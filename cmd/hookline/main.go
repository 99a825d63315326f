// Command hookline validates, plans and serves webhook rules written in HCL.
// See the README for the commands; everything is in internal/cli so that the
// whole CLI runs inside tests.
package main

import (
	"os"

	"github.com/hookline/hookline/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
