package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hookline/hookline/delivery"
)

// runMigrate brings a store's schema up to date without serving, for
// deployments that run `serve --no-migrate` (one migration step before
// rolling out several nodes, or a database user without DDL rights for
// the servers).
func runMigrate(e *env, args []string) int {
	fs := newFlags(e, "migrate", "")
	store := addStoreFlags(fs)
	pos, code := parseFlags(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "hookline migrate: unexpected argument %q\n", pos[0])
		fs.Usage()
		return exitUsage
	}
	if err := store.resolve(fs); err != nil {
		fmt.Fprintf(e.stderr, "hookline migrate: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := delivery.Migrate(ctx, delivery.Config{DataDir: store.dataDir, DatabaseURL: store.databaseURL})
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline migrate: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "Up to date: %s.\n", store.name())
	return exitOK
}
