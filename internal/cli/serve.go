package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/internal/pii"
	"github.com/hookline/hookline/internal/tracing"
	"github.com/hookline/hookline/rules"
	"github.com/hookline/hookline/server"
)

// cidrList is a repeatable --allow-cidr flag.
type cidrList []netip.Prefix

func (c *cidrList) String() string { return fmt.Sprint(*c) }
func (c *cidrList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("%q is not a CIDR such as 10.1.0.0/16", part)
		}
		*c = append(*c, p.Masked())
	}
	return nil
}

// serveGCPercent is the garbage collector's setting for serve when GOGC
// does not give one. A server's live heap is small and its garbage is
// per-event (decoded fields, rendered bodies, HTTP and SQL buffers), so
// collecting a third as often buys CPU for memory: at full SQLite intake
// with 1,000 triggers, 13 % less CPU per event and 10 % more deliveries a
// second for a peak RSS of 280 instead of 170 MiB (bench/README.md, "A
// third round"). GOGC=100 restores Go's default; GOMEMLIMIT caps memory
// either way.
const serveGCPercent = 300

func runServe(e *env, args []string) int {
	fs := newFlags(e, "serve", "[DIR]")
	opts := server.Options{Types: e.types}
	fs.StringVar(&opts.Listen, "listen", "127.0.0.1:8080", "address to listen on")
	store := addStoreFlags(fs)
	fs.BoolVar(&opts.NoMigrate, "no-migrate", false, "do not create or update the store's tables: fail unless 'hookline migrate' has")
	fs.BoolVar(&opts.Sandbox, "sandbox", false, "capture deliveries instead of sending them: nothing leaves the machine")
	fs.BoolVar(&opts.AllowEmpty, "allow-empty", false, "start on, and reload to, rules with no .hcl file or no trigger (events are then accepted and fire nothing); without it both are refused")
	var cidrs cidrList
	fs.Var(&cidrs, "allow-cidr", "let actions (http, the twilio api_base_url, the smtp host) reach this private or loopback range (repeatable), e.g. 10.1.0.0/16")
	fs.IntVar(&opts.Workers, "workers", delivery.DefaultWorkers, "concurrent delivery attempts")
	fs.DurationVar(&opts.AttemptTimeout, "attempt-timeout", 5*time.Minute,
		"longest one delivery attempt may take. With --database-url, an attempt whose node died becomes due again once it has been running this long, plus this long again bounded to 5s-30s (kept for recording an attempt), plus 10s: 5m40s at the default, 17s at 2s. River's rescuer, which looks every 30s, then a 1s retry backoff and River's scheduler (every 5s) add up to about 36s before another node runs it. On SQLite such attempts run again when the server restarts")
	retention := ageFlag(30 * 24 * time.Hour)
	fs.Var(&retention, "retention", "how long events are kept once every delivery of theirs is final (delivered, failed, canceled or expired): older ones are removed with their deliveries and attempts, a batch at a time, by a periodic job (one node does it on PostgreSQL). A Go duration (720h) or days (30d); 0 keeps everything")
	maxBody := fs.Int64("max-body", 1<<20, "largest accepted event, in bytes")
	fs.IntVar(&opts.Render.Attr, "max-render-bytes", rules.DefaultMaxAttrBytes, "largest rendered attribute (a body, a subject), in bytes; the event as an http action's default body is not counted")
	fs.IntVar(&opts.Render.Delivery, "max-delivery-bytes", rules.DefaultMaxDeliveryBytes, "largest rendered delivery (its attributes together), in bytes")
	fs.StringVar(&opts.Watch, "watch", "fsnotify", "how rule changes are noticed: fsnotify, poll or off")
	fs.DurationVar(&opts.PollInterval, "poll-interval", 2*time.Second, "with --watch=poll, how often the files are checked")
	fs.BoolVar(&opts.NoConsole, "no-console", false, "serve the API only, without the web console at /")
	fs.BoolVar(&opts.Auth.Insecure, "insecure", false, "allow listening beyond loopback without authentication")
	fs.StringVar(&opts.DefaultCountryCode, "default-country-code", "", "country calling code (e.g. 1 or 44) of phone numbers written without one, in events and erasure requests; without it such numbers are not indexed for erasure and erase --phone needs the +")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	dir, code := parseDir(e, fs, args)
	if code >= 0 {
		return code
	}
	if err := store.resolve(fs); err != nil {
		fmt.Fprintf(e.stderr, "hookline serve: %v\n", err)
		return exitUsage
	}
	opts.DataDir, opts.DatabaseURL = store.dataDir, store.databaseURL
	logger, err := newLogger(e, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline serve: %v\n", err)
		return exitUsage
	}
	if opts.DefaultCountryCode != "" {
		if _, err := pii.ParseCountryCode(opts.DefaultCountryCode); err != nil {
			fmt.Fprintf(e.stderr, "hookline serve: --default-country-code: %v\n", err)
			return exitUsage
		}
	}
	if opts.Watch != "fsnotify" && opts.Watch != "poll" && opts.Watch != "off" {
		fmt.Fprintf(e.stderr, "hookline serve: unknown --watch %q (use fsnotify, poll or off)\n", opts.Watch)
		return exitUsage
	}
	opts.RulesDir, opts.AllowCIDRs, opts.MaxBodyBytes, opts.Logger = dir, cidrs, *maxBody, logger
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(serveGCPercent)
	}
	opts.Retention = time.Duration(retention)
	opts.Auth.IngestTokens = strings.Split(os.Getenv("HOOKLINE_INGEST_TOKENS"), ",")
	opts.Auth.IngestSecret = os.Getenv("HOOKLINE_INGEST_SECRET")
	opts.Auth.AdminToken = os.Getenv("HOOKLINE_ADMIN_TOKEN")

	// The one place signals are handled: SIGINT and SIGTERM end Run's
	// context, which shuts down in order.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Tracing is on when the standard OTEL_EXPORTER_OTLP_*ENDPOINT says
	// where to send spans; the provider is handed down, never global.
	traces, err := tracing.New(ctx, tracing.Options{LookupEnv: os.LookupEnv, Version: currentVersion().Version, Logger: logger})
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline serve: %v\n", err)
		return exitUsage
	}
	// On the way out, after Run has stopped the attempts (ending their
	// spans): the spans still buffered are exported.
	defer func() {
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), traceFlushTimeout)
		defer cancel()
		if err := traces.Shutdown(flush); err != nil {
			logger.Warn("some spans were not exported", "error", err)
		}
	}()
	opts.TracerProvider = traces.TracerProvider()
	if opts.TracerProvider != nil {
		logger.Info("tracing: exporting spans over OTLP", "protocol", traces.Protocol())
	}
	srv, err := server.New(ctx, opts)
	if err != nil {
		var re *server.RulesError
		if errors.As(err, &re) {
			w := &diagWriter{files: re.Files}
			w.writeText(e.stderr, rules.OnlyErrors(re.Diags))
			fmt.Fprintf(e.stderr, "hookline serve: the rules in %s are invalid; nothing was started.\n", dir)
			return exitFailure
		}
		fmt.Fprintf(e.stderr, "hookline serve: %v\n", err)
		return exitFailure
	}
	// SIGHUP reloads the rules, as for most Unix daemons.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				srv.Reload("SIGHUP")
			}
		}
	}()
	err = srv.Run(ctx, func(addr string) {
		mode := ""
		if opts.Sandbox {
			mode = " (sandbox: deliveries are captured, nothing is sent)"
		}
		fmt.Fprintf(e.stderr, "hookline: serving %s on http://%s%s\n", dir, addr, mode)
	})
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline serve: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// ageFlag is a duration flag that also takes whole days (30d), as
// retention periods are usually given.
type ageFlag time.Duration

func (a *ageFlag) String() string {
	d := time.Duration(*a)
	if d != 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func (a *ageFlag) Set(v string) error {
	d, err := delivery.ParseAge(v)
	if err != nil {
		return err
	}
	*a = ageFlag(d)
	return nil
}

// traceFlushTimeout bounds exporting the spans still buffered at exit.
const traceFlushTimeout = 5 * time.Second

func newLogger(e *env, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("unknown --log-level %q (use debug, info, warn or error)", level)
	}
	ho := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(e.stderr, ho)), nil
	case "text":
		return slog.New(slog.NewTextHandler(e.stderr, ho)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q (use text or json)", format)
}
