// Package console is the web console `hookline serve` shows at `/`: what
// rules are live, what was delivered and why a rule did not fire. Rules
// live in git, so it edits none; it lets an operator investigate and act
// on deliveries (retry, cancel) without curl.
//
// Every page reads through the store queries and engine calls the API and
// the CLI use, and is rendered on the server with html/template from
// embedded files: one binary, no build step, pages that work without
// JavaScript (which only refreshes parts of them).
package console

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/engine"
)

//go:embed templates static
var files embed.FS

// Config is what the console reads and acts through: the server's own
// store, engine and live rules.
type Config struct {
	Store  *delivery.Store
	Engine *engine.Engine
	// Live is the rule set serving now; Reload what the last reload did.
	Live   func() *engine.Compiled
	Reload func() ReloadState
	// Examples holds the rules directory: its JSON files are offered on
	// the try-an-event page.
	Examples fs.FS
	// AdminToken, when set, is asked for by a login form. Without it the
	// server listens on loopback only and the console is open there, as
	// the API is (the server also refuses Host names that are not
	// loopback ones, against DNS rebinding).
	AdminToken    string
	MaxEventBytes int64
	Logger        *slog.Logger
	Now           func() time.Time
}

// ReloadState is what the overview shows of the last reload.
type ReloadState struct {
	LoadedAt time.Time // when the live rules were loaded
	// Failed is set while the newest files are refused and older rules
	// serve.
	Failed *ReloadFailure
}

// ReloadFailure is a refused reload.
type ReloadFailure struct {
	At      time.Time
	Diags   hcl.Diagnostics
	Files   map[string]*hcl.File
	Message string // a failure that is not a diagnostic
}

// Console serves the pages.
type Console struct {
	cfg      Config
	pages    map[string]*template.Template
	static   fs.FS
	version  string // of the static files, for their URLs
	sessions *sessions
	logins   loginLimiter
	// The summaries open pages refresh, shared for summaryTTL.
	dayCounts    cached[map[delivery.Status]int]
	activity     cached[[]delivery.Bucket]
	actionCounts cached[map[string]map[delivery.Status]int]
}

// New parses the templates; an error here is a bug in this package.
func New(cfg Config) (*Console, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = 1 << 20
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{cfg: cfg, static: static, pages: map[string]*template.Template{}}
	if c.version, err = staticVersion(static); err != nil {
		return nil, err
	}
	if c.sessions, err = newSessions(cfg.AdminToken); err != nil {
		return nil, err
	}
	for _, name := range []string{"overview", "triggers", "deliveries", "retry", "delivery", "event", "try", "login", "error"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return c, nil
}

// staticVersion hashes the static files, so that their URLs change with
// them and browsers may cache them for good.
func staticVersion(static fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(static, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

// Mount registers the console's routes on mux, beside the API's.
func (c *Console) Mount(mux *http.ServeMux) {
	mux.Handle("GET /static/", c.guard(http.StripPrefix("/static/", c.serveStatic())))
	mux.Handle("GET /login", c.guard(http.HandlerFunc(c.loginPage)))
	mux.Handle("POST /login", c.guard(http.HandlerFunc(c.login)))
	mux.Handle("POST /logout", c.guard(c.authed(c.logout)))
	mux.Handle("GET /{$}", c.guard(c.authed(c.overview)))
	mux.Handle("GET /triggers", c.guard(c.authed(c.triggers)))
	mux.Handle("GET /deliveries", c.guard(c.authed(c.deliveries)))
	mux.Handle("GET /deliveries/retry", c.guard(c.authed(c.retryConfirm)))
	mux.Handle("POST /deliveries/retry", c.guard(c.authed(c.retryMatching)))
	mux.Handle("GET /deliveries/{id}", c.guard(c.authed(c.delivery)))
	mux.Handle("POST /deliveries/{id}/retry", c.guard(c.authed(c.retryOne)))
	mux.Handle("POST /deliveries/{id}/cancel", c.guard(c.authed(c.cancelOne)))
	mux.Handle("GET /events/{id}", c.guard(c.authed(c.event)))
	mux.Handle("GET /try", c.guard(c.authed(c.tryPage)))
	mux.Handle("POST /try", c.guard(c.authed(c.try)))
}

func (c *Console) serveStatic() http.Handler {
	fsrv := http.FileServerFS(c.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == c.version {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fsrv.ServeHTTP(w, r)
	})
}

// csp allows nothing but the console's own script, style and forms:
// no inline script or style, no frames, no other origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// guard sets the security headers of every console answer and refuses
// cross-origin writes.
func (c *Console) guard(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.cfg.Logger.Warn("console: cross-origin request refused", "path", r.URL.Path, "remote", r.RemoteAddr)
		c.fail(w, r, nil, http.StatusForbidden, "This request came from another site, so it was refused.")
	}))
	h = cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store") // pages hold personal data
		}
		h.ServeHTTP(w, r)
	})
}

// storeFailed logs err and answers 500, or 404 when the store has no such
// thing.
func (c *Console) storeFailed(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	switch {
	case errors.Is(err, delivery.ErrNotFound):
		c.fail(w, r, s, http.StatusNotFound, fmt.Sprintf("There is no %s with this id; it may have been removed by retention.", what))
	case errors.Is(err, context.Canceled):
	default:
		c.cfg.Logger.Error("console: store query failed", "path", r.URL.Path, "error", err)
		c.fail(w, r, s, http.StatusInternalServerError, "The store did not answer: "+err.Error())
	}
}
