package server

import (
	"context"
	"net/http"

	"github.com/kumo-dev/kumo/runtime/kumo"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// Runtimes lists and builds the managed runtimes' base images.
type Runtimes interface {
	List(ctx context.Context) ([]runtimes.Info, error)
	Build(ctx context.Context, runtime string, force bool) (runtimes.Info, error)
}

// WithRuntimes enables GET /kumo/v1/runtimes and
// POST /kumo/v1/runtimes/{name}/build.
func WithRuntimes(r Runtimes) Option { return func(s *Server) { s.runtimes = r } }

func (s *Server) runtimeRoutes(m *http.ServeMux) {
	if s.runtimes == nil {
		return
	}
	m.HandleFunc("GET /kumo/v1/runtimes", s.api(0, s.listRuntimes))
	m.HandleFunc("POST /kumo/v1/runtimes/{name}/build", s.api(maxSmallBody, s.buildRuntime))
}

// listRuntimes serves GET /kumo/v1/runtimes: every runtime the host
// offers, its base image digest and whether it is built.
func (s *Server) listRuntimes(w http.ResponseWriter, r *http.Request, _ []byte) error {
	infos, err := s.runtimes.List(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, infos)
	return nil
}

// buildRuntime serves POST /kumo/v1/runtimes/{name}/build[?force=true]:
// it builds the runtime's base image unless a current one is stored (force
// rebuilds anyway) and answers with the runtime's description.
func (s *Server) buildRuntime(w http.ResponseWriter, r *http.Request, _ []byte) error {
	var force bool
	switch v := r.URL.Query().Get("force"); v {
	case "", "false", "0":
	case "true", "1":
		force = true
	default:
		return kumo.InvalidParameter("force must be true or false, got %q", v)
	}
	info, err := s.runtimes.Build(r.Context(), r.PathValue("name"), force)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}
