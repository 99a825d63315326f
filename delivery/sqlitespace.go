package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
)

// How the SQLite file gives space back. Deleting rows puts their pages on
// SQLite's freelist, where later writes reuse them, but the file keeps its
// size. With auto_vacuum=INCREMENTAL SQLite also keeps the bookkeeping
// (pointer-map pages) that lets `PRAGMA incremental_vacuum(N)` move pages
// from the end of the file into free slots and truncate it, N pages at a
// time, so that retention (retention.go) can shrink the file by small
// steps that never hold the writer for long. A full VACUUM would rewrite
// the whole file while holding it.

// autoVacuumIncremental is PRAGMA auto_vacuum's value for INCREMENTAL.
const autoVacuumIncremental = 2

// reclaimPages bounds the pages one incremental vacuum step gives back
// (128 KiB at the default 4 KiB page): moving a page means rewriting it and
// the pages pointing at it while intake waits for the writer, so a step
// should take about as long as a purge batch (a millisecond or so).
const reclaimPages = 32

// useIncrementalVacuum switches the database db (the writer) to
// auto_vacuum=INCREMENTAL. A database that already has tables only
// changes mode through a VACUUM, which rewrites the file once (it needs
// free disk space about the size of the database, and holds the writer
// until done); later opens find the mode set and do nothing.
func useIncrementalVacuum(ctx context.Context, db *sql.DB, log *slog.Logger, path string) error {
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("reading auto_vacuum: %w", err)
	}
	if mode == autoVacuumIncremental {
		return nil
	}
	var pages int64
	if err := db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return fmt.Errorf("reading page_count: %w", err)
	}
	if pages > 1 {
		log.LogAttrs(ctx, slog.LevelInfo, "converting the database to incremental vacuum, once: this rewrites the file",
			slog.String("path", path), slog.Int64("pages", pages))
	}
	if _, err := db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return fmt.Errorf("setting auto_vacuum: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("converting to incremental vacuum: %w", err)
	}
	// In WAL mode VACUUM wrote the whole database into the WAL: copy it
	// back and cut the WAL to nothing, or it would stay that large.
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("checkpoint after converting to incremental vacuum: %w", err)
	}
	return nil
}

// incrementalVacuum gives up to n free pages back to the file system and
// returns how many free pages are left.
func incrementalVacuum(ctx context.Context, db *sql.DB, n int) (int64, error) {
	// The pragma returns a row per page it frees and frees the next one
	// only when asked for the next row: it must be read to the end, which
	// an Exec does not promise.
	rows, err := db.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, n))
	if err != nil {
		return 0, fmt.Errorf("delivery: incremental vacuum: %w", err)
	}
	for rows.Next() {
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("delivery: incremental vacuum: %w", err)
	}
	var left int64
	if err := db.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&left); err != nil {
		return 0, fmt.Errorf("delivery: incremental vacuum: %w", err)
	}
	return left, nil
}

// sqliteSize is what the database at path takes on disk: the file and its
// WAL (the shared-memory index, 32 KiB or so, is left out).
func sqliteSize(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no WAL between a checkpoint that removed it and the next write
		}
		if err != nil {
			return 0, fmt.Errorf("delivery: database size: %w", err)
		}
		total += fi.Size()
	}
	return total, nil
}
