package delivery

import (
	"context"
	"database/sql"
	"encoding/binary"
	"log/slog"
	"os"
	"time"
)

// The SQLite writer does not write its log back into the database file
// itself (wal_autocheckpoint is 0: the commit that crossed the threshold
// would stall every event of its group commit while it did). The
// checkpointer below does it on a connection of its own.
//
// How often is a trade. Under load the log passes restartPages between
// two checkpoints, so each one ends with a RESTART, which holds the writer
// (and every event of the group commit it is writing) back while it writes
// the rest of the log and syncs the file. Ten of those a second (every
// 100 ms) cost a third of the intake rate; once a second, the same
// checkpointing CPU, most of it the kernel writing pages out, buys the
// third back (bench/README.md, "A third round"). But a second of large
// events can be hundreds of megabytes of log, which the file keeps, so the
// log's length is watched too.
const (
	// checkpointEvery is the longest a committed page waits to be written
	// back.
	checkpointEvery = time.Second
	// checkpointPages is the length of log not yet written back (in pages,
	// 4 KiB each by default) that starts a checkpoint sooner.
	checkpointPages = 4096
	// checkpointPoll is how often the log's length is read.
	checkpointPoll = 50 * time.Millisecond
	// restartPages is the log's length past which the checkpointer makes
	// the writer start it again from the beginning, so that the file stops
	// growing: under load the log passes it at every checkpoint.
	restartPages = 1000
	// walSizeLimit is the size, in bytes, the log file is cut back to when
	// the log starts again (journal_size_limit).
	walSizeLimit = 64 << 20
)

// startCheckpointer writes the WAL back into the database file in the
// background with PASSIVE checkpoints, which never wait for the writer or
// readers and never make them wait (what a reader still needs is left for
// the next one), and a RESTART once the log is long. shm is the database's
// WAL index, which tells how much of the log is not yet written back. It
// returns the function that stops it.
func startCheckpointer(db *sql.DB, shm string, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(checkpointPoll)
		defer t.Stop()
		index := walIndex{path: shm}
		defer index.close()
		last := time.Now()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(last) < checkpointEvery {
				if pending, ok := index.pending(); !ok || pending < checkpointPages {
					continue
				}
			}
			last = time.Now()
			var busy, logPages, written int
			err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &written)
			if err == nil && logPages >= restartPages {
				// Under steady writes a passive checkpoint never catches the
				// log's end, and the writer restarts the log only from a
				// fully written-back one. RESTART waits for the commit in
				// progress and holds the next one back while it writes
				// what is left, which the passive one made little.
				err = db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &logPages, &written)
			}
			if err != nil && ctx.Err() == nil && !failing {
				log.Warn("delivery: writing the SQLite log back into the database failed; it grows until this works again", "error", err)
			}
			failing = err != nil
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// walIndex reads the WAL index's header, a file format SQLite documents
// (https://sqlite.org/walformat.html): mxFrame, the last valid frame of
// the log, at byte 16, and nBackfill, the frames written back, at byte 96,
// both in the machine's byte order. SQLite keeps this file mapped in
// memory; reading it without a lock can see a header being changed, which
// only makes one checkpoint early or late.
type walIndex struct {
	path string
	f    *os.File
}

// pending is how many frames of the log are not written back yet; ok is
// false when the index cannot be read (then only the timer counts).
func (w *walIndex) pending() (n int, ok bool) {
	if w.f == nil {
		f, err := os.Open(w.path)
		if err != nil {
			return 0, false
		}
		w.f = f
	}
	var hdr [100]byte
	if _, err := w.f.ReadAt(hdr[:], 0); err != nil {
		return 0, false
	}
	frames := binary.NativeEndian.Uint32(hdr[16:])
	backfilled := binary.NativeEndian.Uint32(hdr[96:])
	if backfilled > frames {
		return 0, true
	}
	return int(frames - backfilled), true
}

func (w *walIndex) close() {
	if w.f != nil {
		w.f.Close()
	}
}
