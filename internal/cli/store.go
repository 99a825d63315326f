package cli

import (
	"errors"
	"flag"
	"os"
	"strings"

	"github.com/hookline/hookline/delivery"
)

// storeFlags name the store, for serve and migrate: SQLite in a directory
// (--data) or PostgreSQL (--database-url, or $HOOKLINE_DATABASE_URL).
type storeFlags struct {
	dataDir, databaseURL string
}

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	f := &storeFlags{}
	fs.StringVar(&f.dataDir, "data", "hookline-data", "directory of the embedded SQLite store")
	// No default from the environment here: -h prints defaults, and the
	// URL may hold a password.
	fs.StringVar(&f.databaseURL, "database-url", "",
		"PostgreSQL store shared by several servers, postgres://USER:PASSWORD@HOST/DB (also $HOOKLINE_DATABASE_URL); replaces --data")
	return f
}

// resolve reads $HOOKLINE_DATABASE_URL when --database-url is not given,
// and refuses a store named twice.
func (f *storeFlags) resolve(fs *flag.FlagSet) error {
	if f.databaseURL == "" {
		f.databaseURL = os.Getenv("HOOKLINE_DATABASE_URL")
	}
	if f.databaseURL == "" {
		return nil
	}
	if !strings.HasPrefix(f.databaseURL, "postgres://") && !strings.HasPrefix(f.databaseURL, "postgresql://") {
		return errors.New("the database URL must start with postgres:// (" + delivery.RedactURL(f.databaseURL) + ")")
	}
	dataSet := false
	fs.Visit(func(fl *flag.Flag) { dataSet = dataSet || fl.Name == "data" })
	if dataSet {
		return errors.New("--data and a database URL (--database-url or $HOOKLINE_DATABASE_URL) both name the store; give one")
	}
	f.dataDir = ""
	return nil
}

// name is the store as messages show it, without a password.
func (f *storeFlags) name() string {
	if f.databaseURL != "" {
		return delivery.RedactURL(f.databaseURL)
	}
	return "the store in " + f.dataDir
}
