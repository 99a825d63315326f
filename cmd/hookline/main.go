// Command hookline validates, plans and serves webhook rules written in HCL.
// See the README for the commands; everything is in internal/cli so that the
// whole CLI runs inside tests.
package main

import (
	"os"

	// The binary carries what the container image (FROM scratch) and a
	// bare host lack: CA roots, used only when the system has none (so
	// an operator's own CA bundle still wins), for the TLS of http
	// actions, Twilio and SMTP; and the time zone database, for the date
	// helpers of templates (time zones of appointments).
	_ "golang.org/x/crypto/x509roots/fallback"
	_ "time/tzdata"

	"github.com/hookline/hookline/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
