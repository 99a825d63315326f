// Package pgtest gives each test a PostgreSQL schema of its own, so that
// tests sharing one database (HOOKLINE_TEST_DATABASE_URL) can run in
// parallel and leave nothing behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvVar names the database tests may use; tests needing PostgreSQL skip
// without it.
const EnvVar = "HOOKLINE_TEST_DATABASE_URL"

// URL skips t unless EnvVar is set, creates a fresh schema in that database
// and returns the database's URL with search_path set to the schema, so
// that everything created through it (River's tables too) lands there. The
// schema is dropped when t ends, after the cleanups registered later (such
// as closing a store) have run.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvVar)
	if base == "" {
		t.Skip(EnvVar + " is not set")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvVar, err)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var b [6]byte
	rand.Read(b[:])
	schema := "hookline_test_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(context.Background(), `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("creating a test schema: %v", err)
	}
	t.Cleanup(func() {
		// Tests run in parallel, and two DROP SCHEMA ... CASCADE at once
		// can deadlock on the catalogs they both update; PostgreSQL then
		// aborts one, which can simply go again.
		var err error
		for try := 0; try < 5; try++ {
			if _, err = db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err == nil || !strings.Contains(err.Error(), "40P01") {
				break
			}
			time.Sleep(time.Duration(50*(try+1)) * time.Millisecond)
		}
		if err != nil {
			t.Errorf("dropping test schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
