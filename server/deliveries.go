package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hookline/hookline/delivery"
)

// DeliveryView is a delivery as the API shows it: alone, in a page of
// them, or among an event's deliveries.
type DeliveryView struct {
	ID            string     `json:"id"`
	EventID       string     `json:"event_id"`
	Address       string     `json:"address"`
	Trigger       string     `json:"trigger"`
	Type          string     `json:"type"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	ErasedAt      *time.Time `json:"erased_at,omitempty"` // its content and attempt excerpts then read (erased)
	// Set for a delivery that waited for its due time (a schedule).
	DueAt        *time.Time `json:"due_at,omitempty"`
	ScheduleNote string     `json:"schedule,omitempty"`
	CanceledBy   string     `json:"canceled_by,omitempty"`
}

func view(d delivery.Summary) DeliveryView {
	return DeliveryView{
		ID: d.ID, EventID: d.EventID, Address: d.Address, Trigger: d.Trigger, Type: d.Type,
		Status: string(d.Status), Attempts: d.Attempts, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		NextAttemptAt: d.NextAttemptAt, LastError: d.LastError, ErasedAt: d.ErasedAt,
		DueAt: d.DueAt, ScheduleNote: d.ScheduleNote, CanceledBy: d.CanceledBy,
	}
}

func deliveryViews(ds []delivery.Summary) []DeliveryView {
	out := make([]DeliveryView, len(ds))
	for i, d := range ds {
		out[i] = view(d)
	}
	return out
}

// DeliveryPage is the answer to GET /v1/deliveries.
type DeliveryPage struct {
	Deliveries []DeliveryView `json:"deliveries"`
	NextCursor string         `json:"next_cursor"`
}

// DeliveryDetail is the answer to GET /v1/deliveries/{id}.
type DeliveryDetail struct {
	DeliveryView
	Rendered   map[string]any `json:"rendered"`
	Retry      map[string]any `json:"retry"`
	AttemptLog []AttemptView  `json:"attempt_log"`
}

// AttemptView is one entry of a delivery's attempt log.
type AttemptView struct {
	Number     int       `json:"number"`
	StartedAt  time.Time `json:"started_at"`
	Outcome    string    `json:"outcome"`
	StatusCode int       `json:"status_code,omitempty"`
	DurationMS float64   `json:"duration_ms"`
	Error      string    `json:"error,omitempty"`
	Response   string    `json:"response,omitempty"`
	ProviderID string    `json:"provider_id,omitempty"`
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_filter", err.Error())
		return
	}
	ds, next, err := s.store.Deliveries(r.Context(), f)
	if err != nil {
		s.storeError(w, "delivery", "", err)
		return
	}
	writeJSON(w, http.StatusOK, DeliveryPage{Deliveries: deliveryViews(ds), NextCursor: next})
}

var statuses = map[string]bool{
	string(delivery.StatusPending): true, string(delivery.StatusRetrying): true,
	string(delivery.StatusDelivered): true, string(delivery.StatusFailed): true,
	string(delivery.StatusScheduled): true, string(delivery.StatusCanceled): true,
	string(delivery.StatusExpired): true,
}

// parseFilter reads status, trigger, event_id, since, until (RFC 3339),
// limit and cursor, rejecting anything it does not understand.
func parseFilter(q url.Values) (delivery.Filter, error) {
	var f delivery.Filter
	for key := range q {
		switch key {
		case "status", "trigger", "event_id", "address", "correlation", "since", "until", "limit", "cursor":
		default:
			return f, fmt.Errorf("unknown filter %q; use status, trigger, event_id, address, correlation, since, until, limit or cursor", key)
		}
	}
	f.Status, f.Trigger, f.EventID, f.Cursor = q.Get("status"), q.Get("trigger"), q.Get("event_id"), q.Get("cursor")
	f.Address, f.Correlation = q.Get("address"), q.Get("correlation")
	if f.Status != "" && !statuses[f.Status] {
		return f, fmt.Errorf("unknown status %q; use pending, retrying, delivered, failed, scheduled, canceled or expired", f.Status)
	}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.key); v != "" {
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return f, fmt.Errorf("%s must be an RFC 3339 time such as 2026-11-27T09:00:00Z", t.key)
			}
			*t.dst = at
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return f, errors.New("limit must be a number from 1 to 500")
		}
		f.Limit = n
	}
	return f, nil
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.store.Delivery(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, "delivery", r.PathValue("id"), err)
		return
	}
	attempts := make([]AttemptView, len(d.Attempts))
	for i, a := range d.Attempts {
		attempts[i] = AttemptView{
			Number: a.Number, StartedAt: a.StartedAt, Outcome: a.Outcome, StatusCode: a.StatusCode,
			DurationMS: float64(a.Duration.Microseconds()) / 1000, Error: a.Error, Response: a.Response, ProviderID: a.ProviderID,
		}
	}
	out := DeliveryDetail{DeliveryView: view(d.Summary), Rendered: d.Content.Rendered(), AttemptLog: attempts}
	out.Retry = map[string]any{"max_attempts": d.Retry.MaxAttempts}
	if d.Retry.Schedule != nil {
		sched := make([]string, len(d.Retry.Schedule))
		for i, x := range d.Retry.Schedule {
			sched[i] = x.String()
		}
		out.Retry["schedule"] = sched
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) retryDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.store.Retry(r.Context(), id); err != nil {
		s.storeError(w, "delivery", id, err)
		return
	}
	s.log.Info("delivery retried by hand", "delivery_id", id)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": string(delivery.StatusPending)})
}

// cancelDelivery cancels a delivery waiting for its due time or its next
// retry; 409 when it is not waiting (it ran, runs, or is about to).
func (s *Server) cancelDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := s.store.Cancel(r.Context(), id)
	if nw := (*delivery.NotWaitingError)(nil); errors.As(err, &nw) {
		writeError(w, http.StatusConflict, "not_waiting", fmt.Sprintf("Delivery %q is %s, not waiting: only scheduled and retrying deliveries can be canceled.", id, nw.Status))
		return
	}
	if err != nil {
		s.storeError(w, "delivery", id, err)
		return
	}
	s.log.Info("delivery canceled by hand", "delivery_id", id)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "status": string(delivery.StatusCanceled)})
}

// retryDeliveries re-queues every delivery matching a filter, given as a
// JSON body {"status": "failed", "trigger": ..., "since": ..., "until": ...}
// or as query parameters. A filter is required: "retry everything" is too
// easy to send by accident.
func (s *Server) retryDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.ContentLength != 0 {
		var body map[string]string
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_json", "The body must be a JSON object of strings such as {\"status\": \"failed\"}.")
			return
		}
		for k, v := range body {
			q.Set(k, v)
		}
	}
	f, err := parseFilter(q)
	if err == nil && (f.EventID != "" || f.Address != "" || f.Correlation != "" || f.Cursor != "" || f.Limit != 0) {
		err = errors.New("retry by filter takes status, trigger, since and until")
	}
	if err == nil && f.Status == "" && f.Trigger == "" && f.Since.IsZero() && f.Until.IsZero() {
		err = errors.New("give at least one of status, trigger, since or until, e.g. {\"status\": \"failed\"}")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_filter", err.Error())
		return
	}
	n, err := s.store.RetryMatching(r.Context(), f)
	if err != nil {
		s.storeError(w, "delivery", "", err)
		return
	}
	s.log.Info("deliveries retried by hand", "count", n, "status", f.Status, "trigger", f.Trigger)
	writeJSON(w, http.StatusAccepted, map[string]int{"retried": n})
}
