package console

import (
	"net/http"
	"time"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/engine"
)

type eventData struct {
	Now      time.Time
	E        *delivery.Event
	Pretty   string
	Hash     string
	Fired    []string // what the live rules would fire for it
	NotFired []engine.NotFired
	Problem  string // why it could not be explained
}

// event shows a stored event, its deliveries, and what the live rules make
// of it: the same dry run `hookline eval` does, at the time it arrived.
func (c *Console) event(w http.ResponseWriter, r *http.Request, s *session) {
	ev, err := c.cfg.Store.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		c.storeFailed(w, r, s, "event", err)
		return
	}
	live := c.cfg.Live()
	d := eventData{Now: c.cfg.Now(), E: ev, Pretty: prettyJSON(ev.Raw), Hash: live.Set().Hash}
	if ev.ErasedAt != nil {
		d.Problem = "Its data was erased, so the live rules cannot be run against it."
	} else if dec, err := c.cfg.Engine.Decode(live.Set().Schema, ev.Raw); err != nil {
		d.Problem = "The live rules' schema no longer accepts it: " + err.Error()
	} else {
		res := c.cfg.Engine.Match(r.Context(), live, dec, engine.MatchOptions{Explain: true, Now: ev.ReceivedAt})
		for _, f := range res.Fired {
			d.Fired = append(d.Fired, f.Delivery.Address)
		}
		d.NotFired = res.NotFired()
	}
	c.render(w, r, s, http.StatusOK, "event", "Event "+ev.ID, "deliveries", d)
}
