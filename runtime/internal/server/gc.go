package server

import (
	"context"
	"net/http"
	"time"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Collector runs one image garbage collection; grace < 0 means the host's
// default grace period.
type Collector func(ctx context.Context, grace time.Duration) (any, error)

// WithCollector enables POST /kumo/v1/gc.
func WithCollector(c Collector) Option { return func(s *Server) { s.collector = c } }

func (s *Server) gcRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /kumo/v1/gc", s.api(maxSmallBody, s.collectGarbage))
}

// collectGarbage serves POST /kumo/v1/gc[?grace=DURATION]: it removes the
// images, blobs and unpacked layers nothing live needs, and answers with
// what it removed.
func (s *Server) collectGarbage(w http.ResponseWriter, r *http.Request, _ []byte) error {
	if s.collector == nil {
		return kumo.Errorf(kumo.ErrNotFound, "Unknown operation: %s %s", r.Method, r.URL.Path)
	}
	grace := time.Duration(-1)
	if v := r.URL.Query().Get("grace"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 7*24*time.Hour {
			return kumo.InvalidParameter("grace must be a duration between 0s and 168h, got %q", v)
		}
		grace = d
	}
	stats, err := s.collector(r.Context(), grace)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, stats)
	return nil
}
