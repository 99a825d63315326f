package server

import (
	"net/http"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	admin := s.auth.adminOnly
	mux.HandleFunc("POST /v1/events", s.postEvent) // authenticates itself: signatures need the body
	mux.HandleFunc("GET /v1/events/{id}", admin(s.getEvent))
	mux.HandleFunc("POST /v1/events/purge", admin(s.purgeEvents))
	mux.HandleFunc("GET /v1/deliveries", admin(s.listDeliveries))
	mux.HandleFunc("GET /v1/deliveries/{id}", admin(s.getDelivery))
	mux.HandleFunc("POST /v1/deliveries/{id}/retry", admin(s.retryDelivery))
	mux.HandleFunc("POST /v1/deliveries/{id}/cancel", admin(s.cancelDelivery))
	mux.HandleFunc("POST /v1/deliveries/retry", admin(s.retryDeliveries))
	mux.HandleFunc("POST /v1/erasures", admin(s.postErasure))
	mux.HandleFunc("GET /v1/erasures", admin(s.listErasures))
	mux.HandleFunc("GET /v1/erasures/{id}", admin(s.getErasure))
	mux.HandleFunc("GET /v1/rules", admin(s.getRules))
	mux.HandleFunc("POST /v1/reload", admin(s.postReload))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.console != nil {
		s.console.Mount(mux)
	}
	return jsonFallback(mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 only when the store answers and rules are loaded, so
// a load balancer sends events only where they can be kept.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "store_unavailable", "The store does not answer: "+err.Error())
		return
	}
	live := s.live.Load()
	if live == nil {
		writeError(w, http.StatusServiceUnavailable, "no_rules", "No rules are loaded.")
		return
	}
	set := live.Set()
	body := map[string]any{"status": "ready", "rules_hash": set.Hash, "triggers": len(set.Triggers)}
	if err := s.store.Degraded(); err != nil {
		// Events are still kept, so still 200: this is for alerts.
		body["status"], body["degraded"] = "degraded", err.Error()
	}
	writeJSON(w, http.StatusOK, body)
}
