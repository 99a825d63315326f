package server

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/rules"
)

// reloadState is what /v1/rules reports besides the rules themselves.
type reloadState struct {
	mu sync.Mutex // serializes reloads
	// seen is what the last reload left, replaced whole: readers (/v1/rules,
	// the console) load it without waiting for a reload in progress,
	// which can take a while for a large rule set.
	seen atomic.Pointer[reloadSeen]
}

type reloadSeen struct {
	loadedAt  time.Time
	lastError *reloadError // set while the newest files are refused
}

type reloadError struct {
	At    time.Time
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
	Err   string // a failure that is not a diagnostic (e.g. a provider credential)
}

// ReloadResult says what a reload did.
type ReloadResult struct {
	Hash     string
	Changed  bool
	LoadedAt time.Time
	Err      *reloadError // set when the new files were refused
}

// Reload loads and compiles the rules directory again through the one load
// path and, only if everything succeeds (rules, compiling, provider
// executors), swaps the new set in. A broken edit leaves the previous rules serving and is reported
// by /v1/rules and the reload metric until a good edit replaces it.
// Unchanged files (by content hash) are not loaded at all.
func (s *Server) Reload(reason string) ReloadResult {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	cur := s.live.Load().Set()
	if hash, err := rules.Hash(os.DirFS(s.opts.RulesDir)); err == nil && hash == cur.Hash {
		seen := s.reload.seen.Load()
		if seen.lastError != nil {
			// The broken edit was reverted: the files are the live rules again.
			s.reload.seen.Store(&reloadSeen{loadedAt: seen.loadedAt})
			s.metrics.loaded(cur.Hash, len(cur.Triggers), time.Now())
			s.log.Info("rules reverted to the live version", "reason", reason, "hash", short(cur.Hash))
		}
		return ReloadResult{Hash: cur.Hash, LoadedAt: seen.loadedAt}
	}
	fail := func(re *reloadError) ReloadResult {
		loadedAt := s.reload.seen.Load().loadedAt
		s.reload.seen.Store(&reloadSeen{loadedAt: loadedAt, lastError: re})
		s.metrics.reloadOK.Set(0)
		for _, d := range re.Diags {
			if d.Severity == hcl.DiagError {
				s.log.Warn("rules reload refused: "+d.Summary, "reason", reason, "detail", d.Detail, "at", fmt.Sprint(d.Subject))
			}
		}
		if re.Err != "" {
			s.log.Warn("rules reload refused", "reason", reason, "error", re.Err)
		}
		s.log.Warn("the previous rules keep serving", "hash", short(cur.Hash))
		return ReloadResult{Hash: cur.Hash, LoadedAt: loadedAt, Err: re}
	}
	live, err := s.load()
	if err != nil {
		var rerr *RulesError
		if errors.As(err, &rerr) {
			return fail(&reloadError{At: time.Now(), Diags: rerr.Diags, Files: rerr.Files})
		}
		return fail(&reloadError{At: time.Now(), Err: err.Error()})
	}
	set := live.Set()
	execs, err := executors(set, s.opts)
	if err != nil {
		return fail(&reloadError{At: time.Now(), Err: err.Error()})
	}
	// Executors first: a delivery rendered by the new rules must never meet
	// the old providers.
	s.dispatch.swap(execs)
	s.live.Store(live)
	now := time.Now()
	s.reload.seen.Store(&reloadSeen{loadedAt: now})
	s.metrics.loaded(set.Hash, len(set.Triggers), now)
	s.log.Info("rules reloaded", "reason", reason, "hash", short(set.Hash), "triggers", len(set.Triggers))
	return ReloadResult{Hash: set.Hash, Changed: true, LoadedAt: now}
}

func short(hash string) string { return hash[:min(12, len(hash))] }

func (re *reloadError) json() map[string]any {
	out := map[string]any{"at": re.At, "diagnostics": rules.JSONDiagnostics(rules.OnlyErrors(re.Diags), re.Files)}
	if re.Err != "" {
		out["message"] = re.Err
	}
	return out
}

// postReload is POST /v1/reload: 200 with the hash, or 422 with why not.
func (s *Server) postReload(w http.ResponseWriter, r *http.Request) {
	res := s.Reload("api")
	if res.Err != nil {
		body := res.Err.json()
		msg := "The rule files are invalid; the previous rules keep serving."
		if res.Err.Err != "" {
			msg = res.Err.Err + "; the previous rules keep serving."
		}
		body["error"] = apiError{Code: "invalid_rules", Message: msg}
		writeJSON(w, http.StatusUnprocessableEntity, body)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"hash": res.Hash, "changed": res.Changed, "loaded_at": res.LoadedAt})
}

// getRules is GET /v1/rules: what is live, and whether newer files failed.
func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	set := s.live.Load().Set()
	seen := s.reload.seen.Load()
	loadedAt, lastErr := seen.loadedAt, seen.lastError
	type actionView struct {
		Address string `json:"address"`
		Enabled bool   `json:"enabled"`
	}
	type triggerView struct {
		Name    string       `json:"name"`
		Enabled bool         `json:"enabled"`
		On      []string     `json:"on"`
		Actions []actionView `json:"actions"`
	}
	triggers := make([]triggerView, 0, len(set.Triggers))
	for _, t := range set.Triggers {
		tv := triggerView{Name: t.Name, Enabled: t.Enabled, On: t.On, Actions: []actionView{}}
		for _, a := range t.Actions {
			tv.Actions = append(tv.Actions, actionView{a.Address, a.Enabled})
		}
		triggers = append(triggers, tv)
	}
	var last any
	if lastErr != nil {
		last = lastErr.json()
	}
	writeJSON(w, http.StatusOK, map[string]any{"hash": set.Hash, "loaded_at": loadedAt, "triggers": triggers, "last_error": last})
}
