// Package server is `hookline serve`: it wires the rules, the engine, the
// executors and the delivery store together behind the HTTP API. It owns
// no business logic of its own beyond translating HTTP to those packages,
// and it never touches os/signal: the caller cancels Run's context.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"
	"go.opentelemetry.io/otel/trace"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/console"
	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/internal/pii"
	"github.com/hookline/hookline/rules"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	RulesDir string       // default "."
	Listen   string       // default "127.0.0.1:8080"
	Listener net.Listener // if set, used instead of Listen (tests)
	DataDir  string       // SQLite store; default "./hookline-data"
	// DatabaseURL (postgres://...) puts the store in PostgreSQL instead of
	// DataDir; several servers may share it.
	DatabaseURL string
	NoMigrate   bool // check the store's schema instead of migrating it (run `hookline migrate` first)
	Sandbox     bool // capture deliveries instead of sending them
	// NoConsole serves the API alone, without the web console at /.
	NoConsole bool
	// AllowEmpty lets the server start on, and reload to, a rules directory
	// with no rule files or no triggers. Without it both are refused: an
	// emptied directory is far more often a mistake (a failed checkout, a
	// missing volume) than a wish to accept events and deliver nothing.
	AllowEmpty   bool
	AllowCIDRs   []netip.Prefix // private targets http actions may reach
	MaxBodyBytes int64          // per event; default 1 MiB
	Workers      int            // concurrent delivery attempts; default 20
	// AttemptTimeout bounds one delivery attempt (default 5 min); on
	// PostgreSQL it also sets how soon another node runs again the attempts
	// of a node that died (see delivery.Config.AttemptTimeout).
	AttemptTimeout time.Duration
	// Retention is how long events are kept once every delivery of theirs
	// is final (delivered or failed): older ones are removed, with their
	// deliveries and attempts, by a periodic job (delivery.Config.Retention).
	// Unlike the other fields, zero is not a default: it keeps everything
	// (the CLI's default is 30 days).
	Retention time.Duration
	// RetentionInterval is how often that job runs; default a tenth of
	// Retention, from 1 s to 10 min.
	RetentionInterval time.Duration
	// ShutdownTimeout bounds how long attempts in flight may finish after
	// Run's context is cancelled; the rest are retried on the next start.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger                // default: discard
	LookupEnv       func(string) (string, bool) // default os.LookupEnv

	// Watch is how rule changes are noticed: "fsnotify" (default), "poll"
	// (every PollInterval, for filesystems without events) or "off".
	Watch        string
	PollInterval time.Duration // default 2 s
	Debounce     time.Duration // quiet time after the last file event; default 250 ms

	Auth AuthOptions

	// Render bounds what rendering one event may produce (zero fields take
	// rules.RenderLimits' defaults: 256 KiB per attribute, 1 MiB per delivery).
	Render rules.RenderLimits

	// FilterTimeout bounds the filters of one event together; default
	// 100 ms (engine.Options).
	FilterTimeout time.Duration

	// Types are the action types rules may use; default builtin.Types().
	Types *actions.Types

	// DefaultCountryCode is the calling code ("1", "44") of phone numbers
	// written without one, in events and in erasure requests; "" leaves
	// such numbers out of the erasure index and refuses them in requests.
	DefaultCountryCode string

	// Now is the one clock: due times of scheduled actions, and the
	// store's. Default time.Now; tests move it instead of sleeping.
	Now func() time.Time

	// TracerProvider traces intake (POST /v1/events) and, through the
	// store, every attempt; nil: tracing is off, at no cost.
	TracerProvider trace.TracerProvider
}

// now is the server's clock (Options.Now).
func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// gate tells the store whether a scheduled delivery of action address
// may run now that it is due, from the rules live then: an action removed
// or disabled by a reload since its event arrived is canceled, never
// sent. Its content stays what was rendered when the event arrived.
func (s *Server) gate(address string) string {
	live := s.live.Load()
	if live == nil {
		return ""
	}
	trigger, _, _ := strings.Cut(address, ".")
	t := live.Set().Trigger(trigger)
	if t == nil {
		return "its trigger was removed from the rules"
	}
	for _, a := range t.Actions {
		if a.Address != address {
			continue
		}
		switch {
		case !t.Enabled:
			return "its trigger is disabled"
		case !a.Enabled:
			return "the action is disabled"
		}
		return ""
	}
	return "the action was removed from the rules"
}

func (o *Options) defaults() {
	if o.RulesDir == "" {
		o.RulesDir = "."
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:8080"
	}
	if o.DataDir == "" {
		o.DataDir = "hookline-data"
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Workers <= 0 {
		o.Workers = 20
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Types == nil {
		o.Types = builtin.Types()
	}
	if o.Watch == "" {
		o.Watch = "fsnotify"
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.Debounce <= 0 {
		o.Debounce = 250 * time.Millisecond
	}
}

// storeName names the store for logs and errors, never with a password.
func (o *Options) storeName() string {
	if o.DatabaseURL != "" {
		return "at " + delivery.RedactURL(o.DatabaseURL)
	}
	return "in " + o.DataDir
}

// RulesError is returned when the rules directory does not load: the
// server refuses to start rather than run without its rules.
type RulesError struct {
	Dir   string
	Diags hcl.Diagnostics
	Files map[string]*hcl.File
}

func (e *RulesError) Error() string {
	return fmt.Sprintf("the rules in %s are invalid: %s", e.Dir, e.Diags.Error())
}

// Server is a running Hookline.
type Server struct {
	opts     Options
	log      *slog.Logger
	tracer   trace.Tracer                    // nil: tracing is off
	live     atomic.Pointer[engine.Compiled] // the rule set and its compiled form, swapped as one
	reload   reloadState
	engine   *engine.Engine
	store    *delivery.Store
	dispatch *dispatcher
	metrics  *metrics
	auth     *authenticator
	mux      http.Handler
	phones   pii.Normalizer   // for the erasure index and erasure requests
	console  *console.Console // nil with NoConsole
}

// New loads the rules and opens the store. It starts nothing: Run does.
func New(ctx context.Context, opts Options) (*Server, error) {
	opts.defaults()
	auth, err := newAuthenticator(opts.Auth, opts.Logger)
	if err != nil {
		return nil, err
	}
	phones := pii.Normalizer{}
	if opts.DefaultCountryCode != "" {
		cc, err := pii.ParseCountryCode(opts.DefaultCountryCode)
		if err != nil {
			return nil, fmt.Errorf("default country code: %w", err)
		}
		phones.CountryCode = cc
	}
	m := newMetrics()
	s := &Server{opts: opts, phones: phones, log: opts.Logger, engine: engine.New(engine.Options{FilterTimeout: opts.FilterTimeout}), metrics: m, auth: auth, dispatch: &dispatcher{metrics: m}}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer("github.com/hookline/hookline/server")
	}
	live, err := s.load()
	if err != nil {
		return nil, err
	}
	set := live.Set()
	execs, err := executors(set, opts)
	if err != nil {
		return nil, err
	}
	s.dispatch.swap(execs)
	s.live.Store(live)
	loadedAt := time.Now()
	s.reload.seen.Store(&reloadSeen{loadedAt: loadedAt})
	m.loaded(set.Hash, len(set.Triggers), loadedAt)
	store, err := delivery.Open(ctx, delivery.Config{
		DataDir:           opts.DataDir,
		DatabaseURL:       opts.DatabaseURL,
		NoMigrate:         opts.NoMigrate,
		Logger:            opts.Logger,
		Executors:         s.dispatch.storeExecutors(opts.Types),
		Workers:           opts.Workers,
		AttemptTimeout:    opts.AttemptTimeout,
		Now:               opts.Now,
		Gate:              s.gate,
		DueLag:            func(d time.Duration) { m.dueLag.Observe(d.Seconds()) },
		TracerProvider:    opts.TracerProvider,
		Retention:         opts.Retention,
		RetentionInterval: opts.RetentionInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("opening the store %s: %w", opts.storeName(), err)
	}
	s.store = store
	m.watchStore(store, storeGaugesTTL)
	m.watchRetention(store, storeGaugesTTL)
	m.watchFirstAttempts(store)
	if !opts.NoConsole {
		if s.console, err = s.newConsole(); err != nil {
			store.Close()
			return nil, err
		}
	}
	s.mux = s.routes()
	return s, nil
}

// load reads and compiles the rules directory through the one load path.
// Outside the sandbox every env() secret must be set: a server that would
// fail its first delivery should not start.
func (s *Server) load() (*engine.Compiled, error) {
	// Filter costs are estimated for the largest event intake can build: a
	// body, or in binary mode an envelope from the headers.
	maxEvent := max(s.opts.MaxBodyBytes, http.DefaultMaxHeaderBytes)
	set, live, diags := engine.LoadDir(s.opts.RulesDir, rules.Options{Types: s.opts.Types, LookupEnv: s.opts.LookupEnv, RequireEnv: !s.opts.Sandbox, MaxEventBytes: maxEvent, Limits: s.opts.Render})
	if diags.HasErrors() {
		re := &RulesError{Dir: s.opts.RulesDir, Diags: diags}
		if set != nil {
			re.Files = set.Files
		}
		return nil, re
	}
	unset := 0
	for _, d := range diags {
		if _, unsetEnv := hcl.DiagnosticExtra[rules.UnsetEnv](d); unsetEnv && s.opts.Sandbox {
			unset++ // the sandbox never sends, so it needs no secrets
			continue
		}
		s.log.Warn("rules: "+d.Summary, "detail", d.Detail, "at", fmt.Sprint(d.Subject))
	}
	if unset > 0 {
		s.log.Info("sandbox: env() secrets are not needed and were not checked", "unset", unset)
	}
	if err := s.checkNotEmpty(set); err != nil {
		return nil, err
	}
	s.log.Info("rules loaded", "dir", s.opts.RulesDir, "triggers", len(set.Triggers), "hash", set.Hash[:12])
	return live, nil
}

// checkNotEmpty refuses a set without triggers unless AllowEmpty: it would
// accept every event and deliver nothing, and nothing else would say so.
// Start and reload both load through here, so an emptied directory is
// refused like a broken one and the previous rules keep serving.
func (s *Server) checkNotEmpty(set *rules.Set) error {
	if len(set.Triggers) > 0 {
		return nil
	}
	if s.opts.AllowEmpty {
		s.log.Warn("serving no triggers, as --allow-empty allows: events are accepted and fire nothing", "dir", s.opts.RulesDir)
		return nil
	}
	if len(set.Files) == 0 {
		return fmt.Errorf("the rules directory %s holds no rule files (*.hcl); refusing to serve no rules (--allow-empty allows it)", s.opts.RulesDir)
	}
	return fmt.Errorf("the rules in %s define no triggers; refusing to serve no rules (--allow-empty allows it)", s.opts.RulesDir)
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.mux }

// Run starts the delivery workers and serves the API until ctx is
// cancelled, then shuts down in order: stop accepting requests, let
// requests and attempts in flight finish within ShutdownTimeout, close the
// store. Accepted events are in the store before they are answered, so
// nothing is lost whatever the timing.
func (s *Server) Run(ctx context.Context, ready func(addr string)) error {
	if err := s.auth.checkListen(s.opts.Listen, s.opts.Listener); err != nil {
		s.store.Close()
		return err
	}
	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Listen); err != nil {
			s.store.Close()
			return fmt.Errorf("listening on %s: %w", s.opts.Listen, err)
		}
	}
	if err := s.store.Start(ctx); err != nil {
		ln.Close()
		s.store.Close()
		return fmt.Errorf("starting delivery workers: %w", err)
	}
	srv := &http.Server{
		// What the listener gets, not Handler (a caller's own listener
		// decides its own names): DNS rebinding happens over the network.
		Handler:           s.auth.loopbackOnly(s.mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	watchLoop := s.watcher()
	go func() {
		defer close(watched)
		watchLoop(watchCtx)
	}()
	s.log.Info("listening", "addr", ln.Addr().String(), "sandbox", s.opts.Sandbox, "store", s.opts.storeName())
	if ready != nil {
		ready(ln.Addr().String())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	// Order matters: stop reloading, stop taking events, then drain
	// deliveries.
	stopWatch()
	<-watched
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("closing HTTP connections", "error", err)
	}
	if err := s.store.Stop(shutdownCtx); err != nil {
		s.log.Warn("stopping delivery workers; unfinished attempts will be retried on the next start", "error", err)
	}
	closeErr := s.store.Close()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	s.log.Info("stopped")
	return closeErr
}

// Close releases the store of a server that was never Run.
func (s *Server) Close() error { return s.store.Close() }
