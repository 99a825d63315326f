package server

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hookline/hookline/delivery"
)

// PurgeAnswer is the answer to POST /v1/events/purge: the cutoff as the
// server understood it, and what was removed.
type PurgeAnswer struct {
	Before     time.Time `json:"before"`
	Events     int64     `json:"events"`
	Deliveries int64     `json:"deliveries"`
	Attempts   int64     `json:"attempts"`
}

// purgeEvents removes, by hand, the events received before a cutoff whose
// deliveries are all final, as retention does on its schedule. The body
// is {"before": TIME or AGE}; an age counts back from the server's clock.
// It answers once the purge is done; a client that goes away stops it
// after the batch in progress (what went stays gone).
func (s *Server) purgeEvents(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Before string `json:"before"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_json",
			`The body must be a JSON object such as {"before": "30d"} or {"before": "2026-01-31T00:00:00Z"}.`)
		return
	}
	before, err := delivery.ParseBefore(body.Before, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_filter", "before: "+err.Error())
		return
	}
	res, err := s.store.Purge(r.Context(), before)
	if err != nil {
		s.log.Error("purging events failed", "before", before, "events", res.Events, "error", err)
		writeError(w, http.StatusServiceUnavailable, "store_unavailable",
			"The purge stopped before the end (what it removed stays removed); run it again.")
		return
	}
	s.log.Info("events purged by hand", "before", before, "events", res.Events, "deliveries", res.Deliveries, "attempts", res.Attempts)
	writeJSON(w, http.StatusOK, PurgeAnswer{Before: before.UTC(), Events: res.Events, Deliveries: res.Deliveries, Attempts: res.Attempts})
}
