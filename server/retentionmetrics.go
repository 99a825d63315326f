package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookline/hookline/delivery"
)

// watchRetention adds what retention and purges removed, and the store's
// size on disk, read at most once per ttl (storeGaugesTTL; tests pass
// their own): on PostgreSQL it is a query.
func (m *metrics) watchRetention(store *delivery.Store, ttl time.Duration) {
	for _, t := range []struct {
		table string
		n     func(delivery.PurgeResult) int64
	}{
		{"events", func(r delivery.PurgeResult) int64 { return r.Events }},
		{"deliveries", func(r delivery.PurgeResult) int64 { return r.Deliveries }},
		{"attempts", func(r delivery.PurgeResult) int64 { return r.Attempts }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "hookline_retention_removed_total",
			Help:        "Rows removed by retention and by purges made through this process, by table (events, deliveries, attempts).",
			ConstLabels: prometheus.Labels{"table": t.table},
		}, func() float64 { return float64(t.n(store.Removed())) }))
	}
	m.reg.MustRegister(newSizeGauge(store.Size, time.Now, ttl))
}

// sizeGauge is hookline_store_size_bytes, one reading of the store serving
// the scrapes of ttl, as storeGauges does for the counts.
type sizeGauge struct {
	desc *prometheus.Desc
	size func(context.Context) (int64, error)
	now  func() time.Time
	ttl  time.Duration

	mu  sync.Mutex
	at  time.Time // when n and err were read; zero before the first scrape
	n   int64
	err error
}

func newSizeGauge(size func(context.Context) (int64, error), now func() time.Time, ttl time.Duration) *sizeGauge {
	return &sizeGauge{
		desc: prometheus.NewDesc("hookline_store_size_bytes",
			"The store's size on disk: the SQLite file and its WAL, or on PostgreSQL the tables of its schema with their indexes; -1 when it cannot be read.", nil, nil),
		size: size, now: now, ttl: ttl,
	}
}

func (g *sizeGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect reports -1 when the size cannot be read rather than fail the
// scrape, like the store's other gauges.
func (g *sizeGauge) Collect(ch chan<- prometheus.Metric) {
	n, err := g.read()
	v := float64(n)
	if err != nil {
		v = -1
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
}

func (g *sizeGauge) read() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.at.IsZero() && g.now().Sub(g.at) < g.ttl {
		return g.n, g.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.n, g.err = g.size(ctx)
	g.at = g.now()
	return g.n, g.err
}
