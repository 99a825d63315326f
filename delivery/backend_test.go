package delivery

import (
	"context"
	"strings"
	"testing"
)

// OpenDatabase stands in for the server's store in the bench harness, so
// it must open the store's own database: what River's driver writes is
// what Read and a Store opened later see, and on SQLite the reader is
// read-only and the data directory is locked as Open locks it.
func TestOpenDatabase(t *testing.T) { eachDB(t, testOpenDatabase) }

func testOpenDatabase(t *testing.T, db testDB) {
	ctx := context.Background()
	cfg := Config{DataDir: db.dir, DatabaseURL: db.url}
	d, err := OpenDatabase(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if d != nil {
			d.Close()
		}
	}()
	if err := d.River.GetExecutor().Exec(ctx, `CREATE TABLE marker (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.Read.QueryRowContext(ctx, `SELECT count(*) FROM marker`).Scan(&n); err != nil {
		t.Fatalf("Read does not see what River's driver wrote: %v", err)
	}
	if db.kind == "sqlite" {
		if _, err := d.Read.ExecContext(ctx, `INSERT INTO marker VALUES (1)`); err == nil {
			t.Error("Read wrote on SQLite; want the read-only pool")
		}
		if s, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "in use by another hookline process") {
			if err == nil {
				s.Close()
			}
			t.Errorf("Open beside OpenDatabase on one data directory: %v", err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = nil

	s := openStore(t, db, nil)
	if n := count(t, s, `SELECT count(*) FROM marker`); n != 0 {
		t.Errorf("%d rows in marker", n)
	}
}
