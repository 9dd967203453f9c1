package server

import "net/http"

// WithRegistry serves h, the host's OCI registry, under /v2/. It does its
// own authentication (HTTP Basic with the host's key pair, which registry
// clients speak), so it bypasses SigV4, the API's body limits and audit.
func WithRegistry(h http.Handler) Option { return func(s *Server) { s.registry = h } }

func (s *Server) registryRoutes(m *http.ServeMux) {
	if s.registry != nil {
		// "/v2" without the slash is redirected here by the mux.
		m.Handle("/v2/", s.registry)
	}
}
