package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/hookline/hookline/delivery"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/internal/tracing"
	"github.com/hookline/hookline/rules"
)

type eventAnswer struct {
	delivery.Receipt
	// Errors lists triggers whose filter or actions failed for this event.
	// The event is still kept; the other deliveries proceed.
	Errors []matchError `json:"errors,omitempty"`
}

type matchError struct {
	Trigger string `json:"trigger"`
	Action  string `json:"action,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// postEvent accepts one CloudEvent. It answers 202 only after the event and
// all its deliveries are committed in one transaction.
//
// Credentials come first: a client without them gets 401 whatever it sent,
// learns nothing about its request, and costs no body read unless a
// signature needs one. Then the body (413), its media type and binary-mode
// headers (415, 400), the event itself (400, 422), and the store.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) {
	// On the server's own writer: past the limit it closes the connection.
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	if s.tracer != nil {
		s.tracedIntake(w, r)
		return
	}
	s.intake(w, r, noop.Span{})
}

// intake is postEvent's work, in span (a no-op one when tracing is off).
func (s *Server) intake(w http.ResponseWriter, r *http.Request, span trace.Span) {
	ctx := r.Context()
	var raw []byte
	var readErr error
	read := false
	readBody := func() ([]byte, error) {
		if !read {
			raw, readErr = io.ReadAll(r.Body)
			read = true
		}
		return raw, readErr
	}
	if !s.auth.checkIngest(w, r, readBody) {
		s.reject(span, "unauthorized")
		return
	}
	body, status, code, msg := s.readEvent(r, readBody)
	if status != 0 {
		s.reject(span, code)
		writeError(w, status, code, msg)
		return
	}
	live := s.live.Load() // one set for the whole event, even across a reload
	_, step := s.step(ctx, "decode")
	ev, err := s.engine.Decode(live.Set().Schema, body)
	step.End()
	if err != nil {
		status, code := decodeStatus(err)
		s.reject(span, code)
		writeError(w, status, code, err.Error())
		return
	}
	if span.IsRecording() {
		span.SetAttributes(tracing.EventType.String(ev.Type))
	}
	mctx, step := s.step(ctx, "match")
	res := s.engine.Match(mctx, live, ev, engine.MatchOptions{Now: s.now()})
	if step.IsRecording() {
		step.SetAttributes(tracing.Deliveries.Int(len(res.Fired)))
	}
	step.End()
	answer := eventAnswer{}
	for _, f := range res.Failures {
		answer.Errors = append(answer.Errors, matchError{Trigger: f.Trigger, Action: f.Action, Kind: string(f.Kind), Message: f.Err.Error()})
		if f.Kind == engine.FilterError {
			s.metrics.filterErrors.WithLabelValues(f.Trigger).Inc()
		} else {
			s.metrics.renderErrors.WithLabelValues(f.Trigger).Inc()
		}
		if span.IsRecording() {
			// Names only: the error's text may quote the event.
			span.AddEvent("trigger failed", trace.WithAttributes(tracing.Trigger.String(f.Trigger),
				tracing.Action.String(f.Action), tracing.Failure.String(string(f.Kind))))
		}
	}
	// The intake span's context is stored with the deliveries: their
	// attempts' spans are its children, whenever and wherever they run.
	ne := delivery.NewEvent{Source: ev.Source, CEID: ev.ID, Type: ev.Type, Raw: ev.Raw, Identifiers: ev.Identifiers(s.phones), Trace: span.SpanContext()}
	for _, f := range res.Fired {
		ne.Deliveries = append(ne.Deliveries, delivery.NewDelivery{Delivery: f.Delivery, Retry: retryPolicy(f.Action.Retry), Schedule: schedule(f.Timing)})
	}
	for _, c := range res.Cancels {
		ne.Cancels = append(ne.Cancels, delivery.Cancel{Address: c.Action, Correlation: c.Correlation})
	}
	cctx, step := s.step(ctx, "commit")
	receipt, err := s.store.Accept(cctx, ne)
	step.End()
	log := tracing.WithTraceID(ctx, s.log)
	if errors.Is(err, delivery.ErrInvalidEvent) {
		// Decode refuses all of these first; this is the last defence, and
		// the sender must not be told to send it again.
		s.logFailures(log, res.Failures, "ce_id", ev.ID)
		s.reject(span, "invalid_text")
		writeError(w, http.StatusBadRequest, "invalid_text", "The event cannot be stored as sent: "+err.Error()+".")
		return
	}
	if err != nil {
		// Nothing was stored, so there is no event_id: the sender's id
		// identifies the event.
		s.logFailures(log, res.Failures, "ce_id", ev.ID)
		log.Error("storing an event failed", "ce_id", ev.ID, "error", err)
		s.reject(span, "store_unavailable")
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "The event could not be stored; nothing was kept. Send it again.")
		return
	}
	// Lines about the event carry its event_id from here on, as the
	// attempts' lines do.
	s.logFailures(log, res.Failures, "event_id", receipt.EventID)
	answer.Receipt = receipt
	if span.IsRecording() {
		span.SetAttributes(tracing.EventID.String(receipt.EventID), tracing.Deliveries.Int(len(receipt.Deliveries)),
			tracing.Duplicate.Bool(receipt.Duplicate))
	}
	s.metrics.received.WithLabelValues(ev.Type).Inc()
	if !receipt.Duplicate {
		for _, f := range res.Fired {
			s.metrics.fired.WithLabelValues(f.Delivery.Trigger, f.Delivery.Type).Inc()
		}
	}
	if receipt.Duplicate {
		answer.Errors = nil // the original answer
		writeJSON(w, http.StatusOK, answer)
		return
	}
	log.Info("event accepted", "event_id", receipt.EventID, "ce_id", ev.ID, "type", ev.Type, "deliveries", len(receipt.Deliveries))
	writeJSON(w, http.StatusAccepted, answer)
}

// schedule is what the store keeps of a fired action's timing; nil for
// an action that runs now.
func schedule(t *engine.Timing) *delivery.Schedule {
	if t == nil {
		return nil
	}
	return &delivery.Schedule{Due: t.Due, LateAfter: t.LateAfter, Note: t.String(), Correlation: t.Correlation}
}

// logFailures logs the triggers whose filter or rendering failed for the
// event that idKey and id name.
func (s *Server) logFailures(log *slog.Logger, failures []engine.Failure, idKey, id string) {
	for _, f := range failures {
		log.Warn("trigger failed", idKey, id, "trigger", f.Trigger, "action", f.Action, "kind", f.Kind, "error", f.Err)
	}
}

// retryPolicy is the action's retry block (its own, else its trigger's),
// or nil for the store's default schedule.
func retryPolicy(r *rules.Retry) delivery.RetryPolicy {
	if r == nil {
		return delivery.RetryPolicy{}
	}
	return delivery.RetryPolicy{Schedule: r.Schedule, MaxAttempts: r.MaxAttempts}
}

func decodeStatus(err error) (int, string) {
	var de *engine.DecodeError
	if !errors.As(err, &de) {
		return http.StatusBadRequest, "invalid_event"
	}
	switch {
	case de.Text:
		return http.StatusBadRequest, "invalid_text"
	case de.Syntax:
		return http.StatusBadRequest, "invalid_json"
	case de.UnknownType:
		return http.StatusUnprocessableEntity, "unknown_event_type"
	case strings.HasPrefix(de.Path, "data"):
		return http.StatusUnprocessableEntity, "schema_violation"
	}
	return http.StatusBadRequest, "invalid_cloudevent"
}

// readEvent returns the event as structured-mode JSON, converting binary
// mode (ce-* headers, data in the body) so the rest of Hookline sees one
// form. A non-zero status is an error to answer with.
func (s *Server) readEvent(r *http.Request, readBody func() ([]byte, error)) ([]byte, int, string, string) {
	raw, err := readBody()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("An event may be at most %d bytes.", s.opts.MaxBodyBytes)
		}
		return nil, http.StatusBadRequest, "unreadable_body", "The request body could not be read: " + err.Error()
	}
	ct := r.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ct)
	if r.Header.Get("Ce-Specversion") != "" {
		return binaryToStructured(r.Header, mediaType, ct, raw)
	}
	switch mediaType {
	case "application/cloudevents+json", "application/json", "":
		return raw, 0, "", ""
	}
	return nil, http.StatusUnsupportedMediaType, "unsupported_media_type",
		fmt.Sprintf("Send a CloudEvent as application/cloudevents+json or application/json, or in binary mode with ce-* headers; got %q.", ct)
}

// EventView is the answer to GET /v1/events/{id}. Its fields are in
// alphabetical order because this answer was once a map, which encodes its
// keys sorted: output such as `hookline events show --format json` stays as
// it was.
type EventView struct {
	CEID       string          `json:"ce_id"`
	Deliveries []DeliveryView  `json:"deliveries"`
	ErasedAt   *time.Time      `json:"erased_at,omitempty"` // event then reads {"erased": true}
	Event      json.RawMessage `json:"event"`               // structured mode, even if it came in binary mode
	ID         string          `json:"id"`
	ReceivedAt time.Time       `json:"received_at"`
	Source     string          `json:"source"`
	Type       string          `json:"type"`
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := s.store.Event(r.Context(), r.PathValue("id"))
	if err != nil {
		s.storeError(w, "event", r.PathValue("id"), err)
		return
	}
	writeJSON(w, http.StatusOK, EventView{
		ID: ev.ID, Source: ev.Source, CEID: ev.CEID, Type: ev.Type, ReceivedAt: ev.ReceivedAt,
		Event: ev.Raw, ErasedAt: ev.ErasedAt, Deliveries: deliveryViews(ev.Deliveries),
	})
}

func (s *Server) storeError(w http.ResponseWriter, what, id string, err error) {
	if errors.Is(err, delivery.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("There is no %s %q.", what, id))
		return
	}
	if errors.Is(err, delivery.ErrInvalidFilter) {
		writeError(w, http.StatusBadRequest, "invalid_filter", err.Error())
		return
	}
	if errors.Is(err, delivery.ErrErased) {
		writeError(w, http.StatusConflict, "erased", fmt.Sprintf("The %s %q was erased: nothing is left to send.", what, id))
		return
	}
	s.log.Error("store query failed", "error", err)
	writeError(w, http.StatusServiceUnavailable, "store_unavailable", "The store could not answer; try again.")
}
