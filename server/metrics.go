package server

import (
	"context"
	"net/http"
	"sync"
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
	erasures        *prometheus.CounterVec
	dueLag          prometheus.Histogram
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
		erasures: counters("hookline_erasures_total",
			"Erasures of personal data done by this process, by what they were asked for (email, phone, event).", "kind"),
		dueLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hookline_scheduled_start_lag_seconds",
			Help:    "How long after its due time each scheduled delivery started.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}),
	}
	for _, kind := range []string{"email", "phone", "event"} {
		m.erasures.WithLabelValues(kind) // present from the start, at 0
	}
	m.reg.MustRegister(m.reloadOK, m.reloadOKAt, m.rulesHash, m.triggers, m.received, m.rejected,
		m.fired, m.attempts, m.attemptDuration, m.filterErrors, m.renderErrors, m.erasures, m.dueLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchStore adds the gauges read from the store at scrape time, so they
// are right even after a restart; one count serves the scrapes of ttl
// (storeGaugesTTL; benchmarks pass 0 to time the query every scrape).
func (m *metrics) watchStore(store *delivery.Store, ttl time.Duration) {
	m.reg.MustRegister(newStoreGauges(store.UndeliveredCounts, time.Now, ttl))
}

// storeGaugesTTL is how long one count of the store serves scrapes. /metrics
// is open to anyone who can reach the server, so this bounds the queries it
// makes whatever the number of scrapers or their rate; the gauges lag by at
// most this, well under any scrape interval.
const storeGaugesTTL = 2 * time.Second

// storeGauge is one gauge of storeGauges: deliveries with a status.
type storeGauge struct {
	status delivery.Status
	desc   *prometheus.Desc
}

// storeGauges collects the store-backed gauges from one store query
// (UndeliveredCounts), reused for ttl. Concurrent scrapes wait for the
// query in flight and share its answer instead of each making their own.
type storeGauges struct {
	count  func(context.Context) (map[delivery.Status]int, error)
	now    func() time.Time
	ttl    time.Duration
	gauges []storeGauge

	mu     sync.Mutex
	at     time.Time // when counts and err were read; zero before the first scrape
	counts map[delivery.Status]int
	err    error
}

func newStoreGauges(count func(context.Context) (map[delivery.Status]int, error), now func() time.Time, ttl time.Duration) *storeGauges {
	g := &storeGauges{count: count, now: now, ttl: ttl}
	const legacy = " (dead: failed for good, retried only by hand)."
	for _, st := range []struct {
		name   string
		status delivery.Status
		help   string
	}{
		// Dashboards and alerts know these names and help texts from the
		// three GaugeFuncs this collector replaced: keep them as they are.
		{"hookline_deliveries_pending", delivery.StatusPending, "Deliveries with status pending" + legacy},
		{"hookline_deliveries_retrying", delivery.StatusRetrying, "Deliveries with status retrying" + legacy},
		{"hookline_deliveries_dead", delivery.StatusFailed, "Deliveries with status failed" + legacy},
		{"hookline_deliveries_scheduled", delivery.StatusScheduled, "Deliveries waiting for their due time (an action's schedule)."},
	} {
		g.gauges = append(g.gauges, storeGauge{st.status, prometheus.NewDesc(st.name, st.help, nil, nil)})
	}
	return g
}

func (g *storeGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, sg := range g.gauges {
		ch <- sg.desc
	}
}

// Collect reports -1 for every gauge when the store cannot be read, as the
// gauges it replaced did: failing the scrape would hide every other metric
// exactly when they matter.
func (g *storeGauges) Collect(ch chan<- prometheus.Metric) {
	counts, err := g.read()
	for _, sg := range g.gauges {
		v := -1.0
		if err == nil {
			v = float64(counts[sg.status])
		}
		ch <- prometheus.MustNewConstMetric(sg.desc, prometheus.GaugeValue, v)
	}
}

// read returns the last count if it is younger than ttl, else counts
// again. A failure is kept for ttl too, so a database in trouble gets no
// more queries from scrapes than a healthy one.
func (g *storeGauges) read() (map[delivery.Status]int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.at.IsZero() && g.now().Sub(g.at) < g.ttl {
		return g.counts, g.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.counts, g.err = g.count(ctx)
	g.at = g.now()
	return g.counts, g.err
}

// watchFirstAttempts adds gauges of the in-memory queue of first attempts:
// held at its bound with a growing spill means deliveries fall behind
// intake.
func (m *metrics) watchFirstAttempts(store *delivery.Store) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookline_first_attempts_held",
			Help: "First attempts held in memory, queued or in flight (at most 500 per worker).",
		}, func() float64 { held, _ := store.FirstAttempts(); return float64(held) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookline_first_attempts_spilled",
			Help: "First attempts waiting in the database for room in memory (SQLite), read back in order.",
		}, func() float64 { _, spilled := store.FirstAttempts(); return float64(spilled) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "hookline_attempt_record_failures_total",
			Help: "Tries to record a delivery attempt that the database refused.",
		}, func() float64 { return float64(store.RecordHealth().Failures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hookline_attempts_unrecorded",
			Help: "Attempts made but not recorded (SQLite): their record is tried again, or they run again on the next start.",
		}, func() float64 { return float64(store.RecordHealth().Unrecorded) }),
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
