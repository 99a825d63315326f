package actions

import (
	"context"
	"log/slog"
)

// LogAttempt writes the one log line of an attempt, with the keys every
// executor shares (delivery_id, event_id, trigger, action, attempt, outcome,
// status_code, provider_id, duration, error) plus the executor's own. A
// delivered attempt logs at debug, anything else at warn. The Outcome must
// already be redacted.
func LogAttempt(ctx context.Context, log *slog.Logger, msg string, d *Delivery, out Outcome, extra ...slog.Attr) {
	level := slog.LevelWarn
	if out.Status == Delivered {
		level = slog.LevelDebug
	}
	if log == nil || !log.Enabled(ctx, level) {
		return
	}
	if d == nil {
		d = &Delivery{}
	}
	attrs := append([]slog.Attr{
		slog.String("delivery_id", d.ID),
		slog.String("event_id", d.EventID),
		slog.String("trigger", d.Trigger),
		slog.String("action", d.Address),
		slog.Int("attempt", d.Attempt),
		slog.String("outcome", out.Status.String()),
		slog.Int("status_code", out.StatusCode),
		slog.String("provider_id", out.ProviderID),
		slog.Duration("duration", out.Duration),
		slog.String("error", out.Error),
	}, extra...)
	log.LogAttrs(ctx, level, msg, attrs...)
}
