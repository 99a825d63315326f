package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/internal/pii"
)

// ErasureRequest is the body of POST /v1/erasures: exactly one field.
type ErasureRequest struct {
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	EventID string `json:"event_id,omitempty"`
}

// ErasureView is an erasure's audit row as the API shows it. It never
// holds the identifier that was asked for.
type ErasureView struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind"` // email, phone or event
	RequestedAt time.Time  `json:"requested_at"`
	FinishedAt  *time.Time `json:"finished_at"` // null: interrupted, ask again
	Events      int        `json:"events"`
	Deliveries  int        `json:"deliveries"`
	Canceled    int        `json:"canceled"`
	Attempts    int        `json:"attempts"`
	// Erased lists the events erased (GET /v1/erasures/{id} only).
	Erased []delivery.ErasedEvent `json:"erased,omitempty"`
}

func erasureView(e delivery.Erasure) ErasureView {
	v := ErasureView{
		ID: e.ID, Kind: e.Kind, RequestedAt: e.RequestedAt,
		Events: e.Events, Deliveries: e.Deliveries, Canceled: e.Canceled, Attempts: e.Attempts, Erased: e.Erased,
	}
	if !e.FinishedAt.IsZero() {
		v.FinishedAt = &e.FinishedAt
	}
	return v
}

// postErasure erases one person's data, by e-mail, phone or event, and
// answers once it is done. The identifier is normalised as intake
// normalised the events' (internal/pii) and is never logged.
func (s *Server) postErasure(w http.ResponseWriter, r *http.Request) {
	var body ErasureRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json",
			`The body must be a JSON object with one of "email", "phone" or "event_id", e.g. {"email": "ann@example.com"}.`)
		return
	}
	req, code, msg := s.erasureRequest(body)
	if code != "" {
		writeError(w, http.StatusBadRequest, code, msg)
		return
	}
	e, err := s.store.Erase(r.Context(), req)
	if err != nil {
		s.storeError(w, "event", body.EventID, err)
		return
	}
	s.metrics.erasures.WithLabelValues(e.Kind).Inc() // the store logs it
	writeJSON(w, http.StatusOK, erasureView(e))
}

// erasureRequest checks and normalises body; a non-empty code is the
// error to answer with.
func (s *Server) erasureRequest(body ErasureRequest) (delivery.EraseRequest, string, string) {
	given := 0
	for _, v := range []string{body.Email, body.Phone, body.EventID} {
		if strings.TrimSpace(v) != "" {
			given++
		}
	}
	if given != 1 {
		return delivery.EraseRequest{}, "invalid_request", `Give exactly one of "email", "phone" or "event_id".`
	}
	switch {
	case body.Email != "":
		addr, err := pii.Email(body.Email)
		if err != nil {
			return delivery.EraseRequest{}, "invalid_email", "email: " + err.Error() + "."
		}
		return delivery.EraseRequest{Kind: pii.KindEmail, Identifier: pii.EmailKey(addr)}, "", ""
	case body.Phone != "":
		number, err := s.phones.Phone(body.Phone)
		if errors.Is(err, pii.ErrNoCountryCode) {
			return delivery.EraseRequest{}, "invalid_phone", "phone: " + err.Error() + " (or start the server with --default-country-code)."
		}
		if err != nil {
			return delivery.EraseRequest{}, "invalid_phone", "phone: " + err.Error() + "."
		}
		return delivery.EraseRequest{Kind: pii.KindPhone, Identifier: pii.PhoneKey(number)}, "", ""
	}
	return delivery.EraseRequest{Kind: "event", EventID: strings.TrimSpace(body.EventID)}, "", ""
}

// ErasurePage is the answer to GET /v1/erasures.
type ErasurePage struct {
	Erasures []ErasureView `json:"erasures"`
}

func (s *Server) listErasures(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > delivery.MaxLimit {
			writeError(w, http.StatusBadRequest, "invalid_filter", "limit must be a number from 1 to 500.")
			return
		}
		limit = n
	}
	es, err := s.store.Erasures(r.Context(), limit)
	if err != nil {
		s.storeError(w, "erasure", "", err)
		return
	}
	page := ErasurePage{Erasures: make([]ErasureView, len(es))}
	for i, e := range es {
		page.Erasures[i] = erasureView(e)
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getErasure(w http.ResponseWriter, r *http.Request) {
	e, err := s.store.ErasureDetail(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, "erasure", r.PathValue("id"), err)
		return
	}
	writeJSON(w, http.StatusOK, erasureView(*e))
}
