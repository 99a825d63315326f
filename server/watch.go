package server

import (
	"context"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"os"

	"github.com/fsnotify/fsnotify"

	"github.com/hookline/hookline/rules"
)

// watcher reloads the rules when their files change. It watches directories,
// never single files: editors save by writing a temporary file and renaming
// it, git replaces many files at once, and Kubernetes swaps a "..data"
// symlink; each of those shows up as events in a watched directory. Events
// only start a debounce timer; when they stop for Debounce the whole
// directory is reloaded, so a file that is briefly missing mid-save never
// drops a trigger.
//
// watcher sets the watches up before it returns, so that no edit made after
// Run reports ready can be missed; the returned loop does the rest. Edits
// made between New's load and the watches are caught by one rescan.
func (s *Server) watcher() (loop func(ctx context.Context)) {
	switch s.opts.Watch {
	case "off":
		return func(context.Context) {}
	case "poll":
		return s.poll
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch the rules directory; polling instead", "error", err)
		return s.poll
	}
	s.addWatches(w)
	return func(ctx context.Context) {
		defer w.Close()
		timer := time.NewTimer(s.opts.Debounce) // the initial rescan
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					// A new subdirectory: watch it before its files arrive.
					s.addWatches(w)
				}
				timer.Reset(s.opts.Debounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn("watching rules", "error", err)
				timer.Reset(s.opts.Debounce) // events may have been lost: rescan
			case <-timer.C:
				s.Reload("files changed")
				s.addWatches(w) // the directory may have been replaced whole
			}
		}
	}
}

// addWatches watches the rules directory and every subdirectory that the
// loader reads (hidden ones such as .git are skipped, as Load skips them).
// Adding a watched directory again is harmless.
func (s *Server) addWatches(w *fsnotify.Watcher) {
	root := s.opts.RulesDir
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := w.Add(p); err != nil {
			s.log.Warn("cannot watch a rules directory", "dir", p, "error", err)
		}
		return nil
	})
}

// poll is the fallback for filesystems that send no events (NFS, some
// container mounts): it hashes the files every PollInterval.
func (s *Server) poll(ctx context.Context) {
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	tried := s.live.Load().Set().Hash // a broken version is tried once, not every tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hash, err := rules.Hash(os.DirFS(s.opts.RulesDir))
			if err == nil && hash == tried {
				continue
			}
			tried = hash
			s.Reload("files changed (poll)")
		}
	}
}
