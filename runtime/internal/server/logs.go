package server

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// functionLogs serves GET /kumo/v1/functions/{name}/logs as
// newline-delimited JSON records; with follow=true it keeps the response open
// and streams new records as they are written.
func (s *Server) functionLogs(w http.ResponseWriter, r *http.Request, _ []byte) error {
	q := r.URL.Query()
	f, err := s.control.GetFunction(r.Context(), r.PathValue("name"), "")
	if err != nil {
		return err
	}
	var after uint64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseUint(v, 10, 64); err != nil {
			return kumo.InvalidParameter("after must be a sequence number, got %q", v)
		}
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 10000 {
			return kumo.InvalidParameter("limit must be between 1 and 10000, got %q", v)
		}
	}
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	if !follow {
		recs, err := s.logs.ReadLogs(r.Context(), f.Name, after, limit)
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		for _, rec := range recs {
			_ = enc.Encode(rec)
		}
		return nil
	}
	ch, err := s.logs.FollowLogs(r.Context(), f.Name, after)
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for rec := range ch {
		if err := enc.Encode(rec); err != nil {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	return nil
}
