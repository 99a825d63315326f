package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hookline/hookline/actions"
	"github.com/hookline/hookline/delivery"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (no global state, so tests can run servers side by side).
type metrics struct {
	reg *prometheus.Registry

	reloadOK        prometheus.Gauge
	reloadOKAt      prometheus.Gauge
	rulesHash       *prometheus.GaugeVec
	triggers        prometheus.Gauge
	received        *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	fired           *prometheus.CounterVec
	attempts        *prometheus.CounterVec
	attemptDuration *prometheus.HistogramVec
	filterErrors    *prometheus.CounterVec
	renderErrors    *prometheus.CounterVec
}

func newMetrics() *metrics {
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	counters := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reloadOK: gauge("hookline_rules_last_reload_successful",
			"1 when the newest rule files loaded, 0 while they are broken and the previous rules serve."),
		reloadOKAt: gauge("hookline_rules_last_reload_success_timestamp_seconds",
			"When rules were last loaded successfully."),
		rulesHash: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hookline_rules_hash",
			Help: "The loaded rules' hash, as a label; the value is always 1.",
		}, []string{"hash"}),
		triggers: gauge("hookline_rules_triggers",
			"Triggers in the loaded rules."),
		received: counters("hookline_events_received_total",
			"Events accepted, by type (duplicates included).", "type"),
		rejected: counters("hookline_events_rejected_total",
			"Events refused, by reason (the API error code).", "reason"),
		fired: counters("hookline_actions_fired_total",
			"Deliveries scheduled, by trigger and action type.", "trigger", "type"),
		attempts: counters("hookline_delivery_attempts_total",
			"Delivery attempts, by action type and outcome (delivered, retry, permanent).", "type", "outcome"),
		attemptDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookline_delivery_attempt_duration_seconds",
			Help:    "How long delivery attempts take, by action type.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"type"}),
		filterErrors: counters("hookline_filter_errors_total",
			"Filter evaluations that failed (not false: failed), by trigger.", "trigger"),
		renderErrors: counters("hookline_render_errors_total",
			"Actions whose templates failed to render, by trigger.", "trigger"),
	}
	m.reg.MustRegister(m.reloadOK, m.reloadOKAt, m.rulesHash, m.triggers, m.received, m.rejected,
		m.fired, m.attempts, m.attemptDuration, m.filterErrors, m.renderErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchStore adds gauges read from the store at scrape time, so they are
// right even after a restart.
func (m *metrics) watchStore(store *delivery.Store) {
	for _, st := range []delivery.Status{delivery.StatusPending, delivery.StatusRetrying, delivery.StatusFailed} {
		name := map[delivery.Status]string{
			delivery.StatusPending:  "hookline_deliveries_pending",
			delivery.StatusRetrying: "hookline_deliveries_retrying",
			delivery.StatusFailed:   "hookline_deliveries_dead",
		}[st]
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: name,
			Help: "Deliveries with status " + string(st) + " (dead: failed for good, retried only by hand).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			counts, err := store.Counts(ctx)
			if err != nil {
				return -1
			}
			return float64(counts[st])
		}))
	}
}

// watchFirstAttempts adds gauges of the in-memory queue of first attempts:
// held at its bound with a growing spill means deliveries fall behind
// intake.
func (m *metrics) watchFirstAttempts(store *delivery.Store) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookline_first_attempts_held",
			Help: "First attempts held in memory, queued or in flight (SQLite; at most 500 per worker).",
		}, func() float64 { held, _ := store.FirstAttempts(); return float64(held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookline_first_attempts_spilled",
			Help: "First attempts waiting in the database for room in memory (SQLite), read back in order.",
		}, func() float64 { _, spilled := store.FirstAttempts(); return float64(spilled) }),
	)
}

func (m *metrics) attempt(typ string, out actions.Outcome, d time.Duration) {
	m.attempts.WithLabelValues(typ, out.Status.String()).Inc()
	m.attemptDuration.WithLabelValues(typ).Observe(d.Seconds())
}

func (m *metrics) loaded(hash string, triggers int, at time.Time) {
	m.reloadOK.Set(1)
	m.reloadOKAt.Set(float64(at.UnixNano()) / 1e9)
	m.rulesHash.Reset()
	m.rulesHash.WithLabelValues(hash).Set(1)
	m.triggers.Set(float64(triggers))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
