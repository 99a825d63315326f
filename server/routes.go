package server

import (
	"net/http"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", s.postEvent)
	mux.HandleFunc("GET /v1/events/{id}", s.getEvent)
	mux.HandleFunc("GET /v1/deliveries", s.listDeliveries)
	mux.HandleFunc("GET /v1/deliveries/{id}", s.getDelivery)
	mux.HandleFunc("POST /v1/deliveries/{id}/retry", s.retryDelivery)
	mux.HandleFunc("POST /v1/deliveries/retry", s.retryDeliveries)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
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
	set := s.rules.Load()
	if set == nil {
		writeError(w, http.StatusServiceUnavailable, "no_rules", "No rules are loaded.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "rules_hash": set.Hash, "triggers": len(set.Triggers)})
}
