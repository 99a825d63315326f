package delivery

import (
	"context"
	"log/slog"
)

// quietRiverLogger is the logger River's client gets: River's own records
// one level quieter than Hookline's. River logs at debug several times a
// second while idle (every fetch, every producer report), which buried
// Hookline's lines under `--log-level debug`; its info records (start and
// stop, job counts) are bookkeeping, not what an operator reads at info.
// So info becomes debug and debug becomes DEBUG-4, which `--log-level
// debug-4` still shows when River itself is being debugged. Warnings and
// errors pass unchanged.
func quietRiverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(riverLevels{l.Handler()}).With("component", "river")
}

// riverLevels lowers River's records as quietRiverLogger says.
type riverLevels struct{ slog.Handler }

func riverLevel(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelWarn:
		return l
	case l >= slog.LevelInfo:
		return slog.LevelDebug
	}
	return l - (slog.LevelInfo - slog.LevelDebug)
}

func (h riverLevels) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, riverLevel(l))
}

func (h riverLevels) Handle(ctx context.Context, r slog.Record) error {
	r.Level = riverLevel(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h riverLevels) WithAttrs(attrs []slog.Attr) slog.Handler {
	return riverLevels{h.Handler.WithAttrs(attrs)}
}

func (h riverLevels) WithGroup(name string) slog.Handler {
	return riverLevels{h.Handler.WithGroup(name)}
}
