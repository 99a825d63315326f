package server

import (
	"os"

	"github.com/hookline/hookline/console"
	"github.com/hookline/hookline/engine"
)

// newConsole builds the web console on the server's own store, engine and
// live rules, so that its pages read what the API reads.
func (s *Server) newConsole() (*console.Console, error) {
	return console.New(console.Config{
		Store:         s.store,
		Engine:        s.engine,
		Live:          func() *engine.Compiled { return s.live.Load() },
		Reload:        s.reloadState,
		Examples:      os.DirFS(s.opts.RulesDir),
		AdminToken:    s.opts.Auth.AdminToken,
		MaxEventBytes: s.opts.MaxBodyBytes,
		Logger:        s.log,
		Now:           s.now,
	})
}

// reloadState is what the console's overview shows of the last reload,
// read without waiting for a reload in progress.
func (s *Server) reloadState() console.ReloadState {
	seen := s.reload.seen.Load()
	st := console.ReloadState{LoadedAt: seen.loadedAt}
	if re := seen.lastError; re != nil {
		st.Failed = &console.ReloadFailure{At: re.At, Diags: re.Diags, Files: re.Files, Message: re.Err}
	}
	return st
}
