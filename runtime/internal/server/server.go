package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Verifier authenticates a request whose body has been read.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}

// Invoker runs invocations.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error)
}

// Logs reads a function's log stream.
type Logs interface {
	ReadLogs(ctx context.Context, function string, afterSeq uint64, limit int) ([]LogRecord, error)
	FollowLogs(ctx context.Context, function string, afterSeq uint64) (<-chan LogRecord, error)
}

// LogRecord is one chunk of a function's log.
type LogRecord struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId,omitempty"`
	Data      string    `json:"data"`
}

// Limits on request bodies. The CreateFunction body carries a base64 zip of
// up to 50 MB, which is 4/3 larger on the wire, plus the JSON around it.
const (
	maxControlBody = kumo.MaxZipBytes*4/3 + 1<<20
	maxSmallBody   = 1 << 20
)

// Server serves the Lambda API.
type Server struct {
	control  *control.Service
	invoker  Invoker
	logs     Logs
	verifier Verifier
	scope    kumo.Scope
	log      *slog.Logger
	mux      *http.ServeMux
	metrics  http.Handler
	auditor  Auditor

	eventConfigs *control.EventConfigs // nil: not served (eventconfig.go)
	collector    Collector             // nil: no POST /kumo/v1/gc (gc.go)
	registry     http.Handler          // nil: no /v2/ (registry.go)
	runtimes     Runtimes              // nil: no /kumo/v1/runtimes (runtimes.go)
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithMetrics serves h at /metrics, unauthenticated as Prometheus scrapes
// it; it names functions but carries no code, configuration or payloads.
func WithMetrics(h http.Handler) Option { return func(s *Server) { s.metrics = h } }

// New returns the API handler.
func New(ctl *control.Service, inv Invoker, logs Logs, verifier Verifier, opts ...Option) *Server {
	s := &Server{control: ctl, invoker: inv, logs: logs, verifier: verifier, scope: ctl.Scope(), log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	m := http.NewServeMux()
	s.mux = m
	m.HandleFunc("POST /2015-03-31/functions", s.api(maxControlBody, s.createFunction))
	m.HandleFunc("POST /2015-03-31/functions/{$}", s.api(maxControlBody, s.createFunction))
	m.HandleFunc("GET /2015-03-31/functions", s.api(0, s.listFunctions))
	m.HandleFunc("GET /2015-03-31/functions/{$}", s.api(0, s.listFunctions))
	m.HandleFunc("GET /2015-03-31/functions/{name}", s.api(0, s.getFunction))
	m.HandleFunc("DELETE /2015-03-31/functions/{name}", s.api(0, s.deleteFunction))
	m.HandleFunc("GET /2015-03-31/functions/{name}/configuration", s.api(0, s.getFunctionConfiguration))
	m.HandleFunc("PUT /2015-03-31/functions/{name}/configuration", s.api(maxSmallBody, s.updateFunctionConfiguration))
	m.HandleFunc("PUT /2015-03-31/functions/{name}/code", s.api(maxControlBody, s.updateFunctionCode))
	m.HandleFunc("POST /2015-03-31/functions/{name}/invocations", s.api(kumo.MaxSyncPayloadBytes, s.invoke))
	m.HandleFunc("POST /2017-03-31/tags/{arn}", s.api(maxSmallBody, s.tagResource))
	m.HandleFunc("DELETE /2017-03-31/tags/{arn}", s.api(0, s.untagResource))
	m.HandleFunc("GET /2017-03-31/tags/{arn}", s.api(0, s.listTags))
	m.HandleFunc("GET /2016-08-19/account-settings", s.api(0, s.accountSettings))
	m.HandleFunc("GET /2016-08-19/account-settings/{$}", s.api(0, s.accountSettings))
	s.routesVersions(m)
	s.routesLayers(m)
	if s.metrics != nil {
		m.Handle("GET /metrics", s.metrics)
	}
	s.accessRoutes(m) // function URL configs and permissions (urls.go)
	s.eventConfigRoutes(m)
	m.HandleFunc("GET /kumo/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /kumo/v1/functions/{name}/logs", s.api(0, s.functionLogs))
	m.HandleFunc("GET /kumo/v1/audit", s.api(0, s.auditLog))
	s.gcRoutes(m)
	s.registryRoutes(m)
	s.runtimeRoutes(m)
	m.HandleFunc("/", s.api(maxSmallBody, func(_ http.ResponseWriter, r *http.Request, _ []byte) error {
		return kumo.Errorf(kumo.ErrNotFound, "Unknown operation: %s %s", r.Method, r.URL.Path)
	}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	// Function URLs go first: they are not signed like the API (urlserve.go).
	if id, rawPath, ok := s.matchFunctionURL(r); ok {
		s.serveFunctionURL(w, r, id, rawPath)
		return
	}
	s.mux.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, body []byte) error

// api reads at most limit bytes of body, authenticates the request and runs
// h, writing any error in Lambda's protocol.
func (s *Server) api(limit int64, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		w, r, audited := s.auditStart(w, r)
		body, err := readBody(r, limit)
		read := time.Since(began)
		if err == nil {
			err = s.verifier.Verify(r, body)
		}
		verified := time.Since(began)
		audited.authenticated(r, err == nil)
		if err == nil {
			err = h(w, r, body)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
		s.auditFinish(audited, r)
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path,
			"bytes", len(body), "read", read, "verified", verified, "total", time.Since(began), "error", err)
	}
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	defer r.Body.Close()
	if limit == 0 {
		limit = maxSmallBody
	}
	if r.ContentLength > limit {
		return nil, tooLarge(r, limit)
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		// Sized once: large uploads are tens of MB, and growing a buffer
		// for them copies each byte several times.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil {
		return nil, kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not read request body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, tooLarge(r, limit)
	}
	return body, nil
}

func tooLarge(r *http.Request, limit int64) error {
	op := "this"
	if strings.HasSuffix(r.URL.Path, "/invocations") {
		op = "the InvokeFunction"
	}
	return kumo.Errorf(kumo.ErrRequestTooLarge, "Request must be smaller than %d bytes for %s operation", limit, op)
}

// decode reads a JSON body strictly: unknown members and trailing data are
// errors, as they are for Lambda.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: %s", describeJSONError(err))
	}
	if dec.More() {
		return kumo.Errorf(kumo.ErrInvalidRequestContent, "Could not parse request body into json: unexpected data after the JSON document")
	}
	return nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return fmt.Sprintf("Cannot deserialize value of type %s for field %q", typeErr.Value, typeErr.Field)
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "Unrecognized field " + rest + ", not marked as ignorable"
	}
	return msg
}
