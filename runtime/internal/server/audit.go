package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kumo-dev/kumo/runtime/internal/audit"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Auditor records control-plane calls. Record must not block: it runs on
// the request path.
type Auditor interface {
	Record(r audit.Record)
}

// AuditReader serves the audit log; an Auditor that also implements it
// enables GET /kumo/v1/audit.
type AuditReader interface {
	Read(ctx context.Context, after uint64, limit int) ([]audit.Record, error)
	Follow(ctx context.Context, after uint64) (<-chan audit.Record, error)
}

// WithAuditor records every control-plane call (everything but the
// invocations and the health check) with a.
func WithAuditor(a Auditor) Option { return func(s *Server) { s.auditor = a } }

// operations names the calls by their route, with every wildcard written
// {} and no trailing slash, as Lambda's API reference names them.
var operations = map[string]string{
	"POST /2015-03-31/functions":                                   "CreateFunction",
	"GET /2015-03-31/functions":                                    "ListFunctions",
	"GET /2015-03-31/functions/{}":                                 "GetFunction",
	"DELETE /2015-03-31/functions/{}":                              "DeleteFunction",
	"GET /2015-03-31/functions/{}/configuration":                   "GetFunctionConfiguration",
	"PUT /2015-03-31/functions/{}/configuration":                   "UpdateFunctionConfiguration",
	"PUT /2015-03-31/functions/{}/code":                            "UpdateFunctionCode",
	"POST /2015-03-31/functions/{}/invocations":                    "Invoke",
	"POST /2014-11-13/functions/{}/invoke-async":                   "InvokeAsync",
	"POST /2021-11-15/functions/{}/response-streaming-invocations": "InvokeWithResponseStream",
	"POST /2015-03-31/functions/{}/versions":                       "PublishVersion",
	"GET /2015-03-31/functions/{}/versions":                        "ListVersionsByFunction",
	"POST /2015-03-31/functions/{}/aliases":                        "CreateAlias",
	"GET /2015-03-31/functions/{}/aliases":                         "ListAliases",
	"GET /2015-03-31/functions/{}/aliases/{}":                      "GetAlias",
	"PUT /2015-03-31/functions/{}/aliases/{}":                      "UpdateAlias",
	"DELETE /2015-03-31/functions/{}/aliases/{}":                   "DeleteAlias",
	"PUT /2017-10-31/functions/{}/concurrency":                     "PutFunctionConcurrency",
	"DELETE /2017-10-31/functions/{}/concurrency":                  "DeleteFunctionConcurrency",
	"GET /2019-09-30/functions/{}/concurrency":                     "GetFunctionConcurrency",
	"POST /2015-03-31/functions/{}/policy":                         "AddPermission",
	"GET /2015-03-31/functions/{}/policy":                          "GetPolicy",
	"DELETE /2015-03-31/functions/{}/policy/{}":                    "RemovePermission",
	"POST /2021-10-31/functions/{}/url":                            "CreateFunctionUrlConfig",
	"GET /2021-10-31/functions/{}/url":                             "GetFunctionUrlConfig",
	"PUT /2021-10-31/functions/{}/url":                             "UpdateFunctionUrlConfig",
	"DELETE /2021-10-31/functions/{}/url":                          "DeleteFunctionUrlConfig",
	"GET /2021-10-31/functions/{}/urls":                            "ListFunctionUrlConfigs",
	"PUT /2019-09-25/functions/{}/event-invoke-config":             "PutFunctionEventInvokeConfig",
	"POST /2019-09-25/functions/{}/event-invoke-config":            "UpdateFunctionEventInvokeConfig",
	"GET /2019-09-25/functions/{}/event-invoke-config":             "GetFunctionEventInvokeConfig",
	"DELETE /2019-09-25/functions/{}/event-invoke-config":          "DeleteFunctionEventInvokeConfig",
	"GET /2019-09-25/functions/{}/event-invoke-config/list":        "ListFunctionEventInvokeConfigs",
	"POST /2017-03-31/tags/{}":                                     "TagResource",
	"DELETE /2017-03-31/tags/{}":                                   "UntagResource",
	"GET /2017-03-31/tags/{}":                                      "ListTags",
	"GET /2016-08-19/account-settings":                             "GetAccountSettings",
	"GET /2018-10-31/layers":                                       "ListLayers", // and GetLayerVersionByArn (?find=LayerVersion)
	"POST /2018-10-31/layers/{}/versions":                          "PublishLayerVersion",
	"GET /2018-10-31/layers/{}/versions":                           "ListLayerVersions",
	"GET /2018-10-31/layers/{}/versions/{}":                        "GetLayerVersion",
	"DELETE /2018-10-31/layers/{}/versions/{}":                     "DeleteLayerVersion",
	"GET /kumo/v1/functions/{}/logs":                               "kumo:GetLogs",
	"GET /kumo/v1/audit":                                           "kumo:GetAuditLog",
	"POST /kumo/v1/gc":                                             "kumo:CollectGarbage",
	"GET /kumo/v1/runtimes":                                        "kumo:ListRuntimes",
	"POST /kumo/v1/runtimes/{}/build":                              "kumo:BuildRuntime",
	"/":                                                            "UnknownOperation",
}

// dataPlane are the operations that are not audited: they run functions
// rather than change or read the platform, and are far too frequent.
var dataPlane = map[string]bool{"Invoke": true, "InvokeAsync": true, "InvokeWithResponseStream": true}

// operation names the call routed by pattern; a route missing from the
// table is named by its normalised pattern, so it is still audited.
func operation(pattern string) string {
	p := strings.TrimSuffix(pattern, "{$}")
	if p != "/" {
		p = strings.TrimSuffix(p, "/")
	}
	segs := strings.Split(p, "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[i] = "{}"
		}
	}
	p = strings.Join(segs, "/")
	if op, ok := operations[p]; ok {
		return op
	}
	return p
}

// auditCall is one call being audited; nil when the call is not audited.
type auditCall struct {
	w         *statusWriter
	began     time.Time
	principal string
	// function is set by handlers whose function is named in the body
	// rather than the path.
	function string
}

type auditCallKey struct{}

// auditStart wraps w to see the status of an audited call, and puts the
// call in r's context for auditFunctionName.
func (s *Server) auditStart(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, *auditCall) {
	if s.auditor == nil || dataPlane[operation(r.Pattern)] {
		return w, r, nil
	}
	sw := &statusWriter{ResponseWriter: w}
	c := &auditCall{w: sw, began: time.Now(), principal: audit.PrincipalInvalid}
	return sw, r.WithContext(context.WithValue(r.Context(), auditCallKey{}, c)), c
}

// auditFunctionName names the function of a call whose path does not,
// such as CreateFunction's.
func auditFunctionName(r *http.Request, name string) {
	if c, ok := r.Context().Value(auditCallKey{}).(*auditCall); ok {
		c.function = name
	}
}

// authenticated notes whether the call's signature verified.
func (c *auditCall) authenticated(r *http.Request, ok bool) {
	if c == nil {
		return
	}
	switch {
	case ok:
		c.principal = accessKeyID(r.Header.Get("Authorization"))
	case len(r.Header.Values("Authorization")) == 0:
		c.principal = audit.PrincipalAnonymous
	}
}

// finish hands the call's record to the auditor.
func (s *Server) auditFinish(c *auditCall, r *http.Request) {
	if c == nil {
		return
	}
	status := c.w.status
	if status == 0 {
		status = http.StatusOK
	}
	rec := audit.Record{
		Time:       c.began.UTC(),
		RequestID:  c.w.Header().Get("x-amzn-RequestId"),
		Principal:  c.principal,
		Source:     sourceIP(r.RemoteAddr),
		Operation:  operation(r.Pattern),
		Method:     r.Method,
		Path:       r.URL.Path,
		Function:   s.auditFunction(r, c.function),
		Status:     status,
		DurationMs: time.Since(c.began).Milliseconds(),
	}
	if status >= 400 {
		rec.ErrorCode = c.w.Header().Get("x-amzn-ErrorType")
	}
	s.auditor.Record(rec)
}

// auditFunction is the function a call is about, from its path or as the
// handler named it.
func (s *Server) auditFunction(r *http.Request, named string) string {
	name := r.PathValue("name")
	if name == "" {
		name = named
	}
	if name != "" {
		if ref, err := s.scope.ParseFunctionName(name); err == nil {
			return ref.Name
		}
		return name
	}
	if arn := r.PathValue("arn"); arn != "" {
		if ref, err := s.scope.ParseFunctionName(arn); err == nil {
			return ref.Name
		}
	}
	return ""
}

// accessKeyID reads the key id of a verified Authorization header.
func accessKeyID(authz string) string {
	_, cred, ok := strings.Cut(authz, "Credential=")
	if !ok {
		return audit.PrincipalInvalid
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

func sourceIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// statusWriter remembers the status written. It forwards Flush, which the
// streaming endpoints need, and unwraps for http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// auditLog serves GET /kumo/v1/audit as newline-delimited JSON records;
// with follow=true it keeps the response open and streams new records.
func (s *Server) auditLog(w http.ResponseWriter, r *http.Request, _ []byte) error {
	reader, ok := s.auditor.(AuditReader)
	if !ok {
		return kumo.NotFound("The audit log is not enabled on this host")
	}
	q := r.URL.Query()
	var after uint64
	var err error
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
	enc := json.NewEncoder(w)
	if !follow {
		recs, err := reader.Read(r.Context(), after, limit)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		for _, rec := range recs {
			_ = enc.Encode(rec)
		}
		return nil
	}
	ch, err := reader.Follow(r.Context(), after)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for rec := range ch {
		if err := enc.Encode(rec); err != nil {
			return nil
		}
		_ = rc.Flush()
	}
	return nil
}
