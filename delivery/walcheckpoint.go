package delivery

import (
	"context"
	"database/sql"
	"encoding/binary"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// The SQLite writer does not write its log back into the database file
// itself (wal_autocheckpoint is 0: the commit that crossed the threshold
// would stall every event of its group commit while it did). The
// checkpointer below does it on a connection of its own.
//
// How often is a trade. Under load the log passes restartPages between
// two checkpoints, and the log must start again from its beginning or the
// file grows for as long as the load lasts. SQLite starts it again at the
// writer's next transaction once every frame is written back and no reader
// is inside the log; under steady writes a checkpoint beside the writer
// never catches the end. A RESTART checkpoint does, by holding the writer
// back, but it and the writer wait for each other through SQLite's busy
// handler, which sleeps 1, 2, 5, then 10 ms between tries: a RESTART that
// had a few milliseconds of work held the writer, and every event of the
// group commit it was writing, for 15–40 ms, five times a second under
// load (a tenth of the writer's time and most of the intake's p99;
// bench/README.md, "A seventh round"). So the checkpointer copies the log
// beside the writer until little is left, then copies that little on the
// writer's own connection, between two of its transactions: nothing waits
// on a lock, and the writer's next transaction starts the log again.
// RESTART stays as the last resort when readers kept that from happening
// for long (forcePages).
const (
	// checkpointEvery is the longest a committed page waits to be written
	// back.
	checkpointEvery = time.Second
	// checkpointPages is the length of log not yet written back (in pages,
	// 4 KiB each by default) that starts a checkpoint sooner.
	checkpointPages = 4096
	// checkpointPoll is how often the log's length is read.
	checkpointPoll = 50 * time.Millisecond
	// restartPages is the log's length past which the checkpointer has the
	// log start again from the beginning, so that the file stops growing:
	// under load the log passes it at every checkpoint.
	restartPages = 1000
	// finishPages is what may be left unwritten for the writer's own
	// connection to copy: a millisecond or two of its time. catchUpPasses
	// bounds the checkpoints beside the writer that get there; each copies
	// what the writer committed during the one before, a fraction of it.
	finishPages   = 128
	catchUpPasses = 4
	// forcePages is the log's length (64 MiB of 4 KiB pages) at which the
	// checkpointer stops waiting for a moment without readers and holds
	// the writer back with a RESTART, for restartWait at most: a reader
	// that stays inside the log longer keeps it from starting again
	// whatever the checkpointer does, and a RESTART that waited for it
	// would hold the writer all that time, at every turn.
	forcePages  = 16384
	restartWait = 20 * time.Millisecond
	// walSizeLimit is the size, in bytes, the log file is cut back to when
	// the log starts again (journal_size_limit).
	walSizeLimit = 64 << 20
)

// checkpointer writes the WAL back into the database file in the background
// with PASSIVE checkpoints, which never wait for the writer or readers and
// never make them wait (what a reader still needs is left for the next
// one).
type checkpointer struct {
	ckpt, write *sql.DB // its own connection, and the writer's pool
	index       walIndex
	log         *slog.Logger

	every, poll                           time.Duration
	pages, restart, finish, passes, force int

	// finished and forced count the times the log was made to start again
	// by the writer's checkpoint and by a RESTART, for tests.
	finished, forced atomic.Int64
}

// startCheckpointer starts checkpointing the database that write (the
// writer's pool) and ckpt (a connection of the checkpointer's own) open;
// shm is its WAL index, which tells how much of the log is not yet written
// back. It returns the function that stops it.
func startCheckpointer(ckpt, write *sql.DB, shm string, log *slog.Logger) (stop func()) {
	c := newCheckpointer(ckpt, write, shm, log)
	return c.start()
}

func newCheckpointer(ckpt, write *sql.DB, shm string, log *slog.Logger) *checkpointer {
	return &checkpointer{
		ckpt: ckpt, write: write, index: walIndex{path: shm}, log: log,
		every: checkpointEvery, poll: checkpointPoll,
		pages: checkpointPages, restart: restartPages, finish: finishPages,
		passes: catchUpPasses, force: forcePages,
	}
}

func (c *checkpointer) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.index.close()
		t := time.NewTicker(c.poll)
		defer t.Stop()
		last := time.Now()
		failing := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if time.Since(last) < c.every {
				if pending, ok := c.index.pending(); !ok || pending < c.pages {
					continue
				}
			}
			last = time.Now()
			err := c.turn(ctx)
			if err != nil && ctx.Err() == nil && !failing {
				c.log.Warn("delivery: writing the SQLite log back into the database failed; it grows until this works again", "error", err)
			}
			failing = err != nil
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// turn writes the log back, and sees to it that a long log starts again.
func (c *checkpointer) turn(ctx context.Context) error {
	_, logPages, _, err := walCheckpoint(ctx, c.ckpt, "PASSIVE")
	if err != nil || logPages < c.restart {
		return err
	}
	if logPages >= c.force {
		// The writer's checkpoints did not start the log again (a reader
		// was inside it at each): hold the writer back until one does.
		// RESTART waits for the commit in progress, writes what is left
		// and waits for the readers, restartWait at most (the
		// connection's busy_timeout).
		busy, _, _, err := walCheckpoint(ctx, c.ckpt, "RESTART")
		if err == nil && !busy {
			c.forced.Add(1)
		}
		return err
	}
	for range c.passes {
		if pending, ok := c.index.pending(); !ok || pending <= c.finish {
			break
		}
		if _, _, _, err := walCheckpoint(ctx, c.ckpt, "PASSIVE"); err != nil {
			return err
		}
	}
	// On the writer's connection nothing is committed while this runs,
	// so it can write back everything that no reader still needs, and
	// the writer's next transaction starts the log again.
	_, n, written, err := walCheckpoint(ctx, c.write, "PASSIVE")
	if err == nil && written == n {
		c.finished.Add(1)
	}
	return err
}

// walCheckpoint runs a checkpoint of mode (PASSIVE, RESTART or TRUNCATE)
// on db. busy is whether a RESTART or TRUNCATE gave up waiting for the
// writer or a reader; logPages is the log's length and written how much of
// it is written back, in frames.
func walCheckpoint(ctx context.Context, db *sql.DB, mode string) (busy bool, logPages, written int, err error) {
	var b int
	err = db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(`+mode+`)`).Scan(&b, &logPages, &written)
	return b != 0, logPages, written, err
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
