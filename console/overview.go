package console

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/rules"
)

type overviewData struct {
	Now      time.Time
	Hash     string
	LoadedAt time.Time
	Files    []string
	Triggers int
	Enabled  int
	Actions  int
	Failed   *failureView
	Counts   []countView
	Chart    chart
	Degraded string
}

// failureView is a refused reload; its diagnostics are what /v1/rules
// and validate's JSON show (file, line, column, the source line).
type failureView struct {
	At      time.Time
	Message string
	Diags   []rules.JSONDiagnostic
}

type countView struct {
	Status delivery.Status
	Now    string // total now, for the statuses the store counts cheaply
	Day    int    // created in the last 24 hours
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	now := c.cfg.Now()
	set := c.cfg.Live().Set()
	rs := c.cfg.Reload()
	d := overviewData{Now: now, Hash: set.Hash, LoadedAt: rs.LoadedAt, Triggers: len(set.Triggers)}
	for name := range set.Files {
		d.Files = append(d.Files, name)
	}
	sort.Strings(d.Files)
	for _, t := range set.Triggers {
		if t.Enabled {
			d.Enabled++
		}
		d.Actions += len(t.Actions)
	}
	if f := rs.Failed; f != nil {
		d.Failed = &failureView{At: f.At, Message: f.Message, Diags: rules.JSONDiagnostics(rules.OnlyErrors(f.Diags), f.Files)}
	}
	if err := c.cfg.Store.Degraded(); err != nil {
		d.Degraded = err.Error()
	}
	undelivered, err := c.cfg.Store.UndeliveredCounts(ctx)
	if err != nil {
		c.storeFailed(w, r, s, "", err)
		return
	}
	day, err := c.dayCounts.get(ctx, now, func(ctx context.Context) (map[delivery.Status]int, error) {
		return c.cfg.Store.CountsSince(ctx, now.Add(-24*time.Hour))
	})
	if err != nil {
		c.storeFailed(w, r, s, "", err)
		return
	}
	for _, st := range delivery.Statuses() {
		cv := countView{Status: st, Day: day[st]}
		if n, ok := undelivered[st]; ok {
			cv.Now = fmt.Sprint(n)
		}
		d.Counts = append(d.Counts, cv)
	}
	since := now.UTC().Truncate(time.Minute).Add(-59 * time.Minute)
	buckets, err := c.activity.get(ctx, now, func(ctx context.Context) ([]delivery.Bucket, error) {
		return c.cfg.Store.Activity(ctx, since, since.Add(time.Hour), time.Minute)
	})
	if err != nil {
		c.storeFailed(w, r, s, "", err)
		return
	}
	d.Chart = newChart(buckets)
	c.render(w, r, s, http.StatusOK, "overview", "Overview", "overview", d)
}

// chart is deliveries per minute over the last hour as bars, delivered
// stacked under failed, laid out here so that the template only places
// numbers: an inline SVG needs no script and no style attribute.
type chart struct {
	Bars             []bar
	Max              int
	Delivered, Fails int
	Width, Height    int
	From, To         string
}

type bar struct {
	X, W              int
	DY, DH, FY, FH    float64
	Label             string
	Delivered, Failed int
}

func newChart(buckets []delivery.Bucket) chart {
	const barW, gap, height = 10, 2, 120
	c := chart{Width: len(buckets) * (barW + gap), Height: height}
	for _, b := range buckets {
		c.Max = max(c.Max, b.Delivered+b.Failed)
		c.Delivered += b.Delivered
		c.Fails += b.Failed
	}
	scale := 0.0
	if c.Max > 0 {
		scale = float64(height) / float64(c.Max)
	}
	for i, b := range buckets {
		dh, fh := float64(b.Delivered)*scale, float64(b.Failed)*scale
		c.Bars = append(c.Bars, bar{
			X: i * (barW + gap), W: barW,
			DY: height - dh, DH: dh, FY: height - dh - fh, FH: fh,
			Label:     b.Start.UTC().Format("15:04"),
			Delivered: b.Delivered, Failed: b.Failed,
		})
	}
	if len(buckets) > 0 {
		c.From, c.To = buckets[0].Start.UTC().Format("15:04"), buckets[len(buckets)-1].Start.UTC().Add(time.Minute).Format("15:04")
	}
	return c
}
