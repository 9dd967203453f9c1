package server

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Function URLs are served on the API's listener, before its SigV4 check,
// in two forms:
//
//	http://HOST/lambda-url/<url-id>/<path>                path form (FunctionUrl)
//	http://<url-id>.lambda-url.<region>.<any domain>/<path>  host-name form, by Host
//
// <url-id> is 32 lowercase letters and digits. The function sees <path>
// as rawPath in both forms.

// matchFunctionURL reports whether r is for a function URL, with the url
// id and the path the function should see.
func (s *Server) matchFunctionURL(r *http.Request) (id, rawPath string, ok bool) {
	if rest, found := strings.CutPrefix(r.URL.EscapedPath(), urlPathPrefix); found {
		id, tail, _ := strings.Cut(rest, "/")
		return id, "/" + tail, true
	}
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	id, rest, found := strings.Cut(host, ".lambda-url.")
	if !found || !validURLID(id) || !strings.HasPrefix(rest, s.scope.Region+".") {
		return "", "", false
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	return id, path, true
}

func validURLID(id string) bool {
	if len(id) != kumo.URLIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// urlMessage writes the short bodies Lambda's URL front end answers with.
func urlMessage(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"Message": msg})
}

// serveFunctionURL handles one request to a function URL.
func (s *Server) serveFunctionURL(w http.ResponseWriter, r *http.Request, id, rawPath string) {
	began := time.Now()
	cfg, ok := s.control.FunctionURL(id)
	if !ok || !validURLID(id) {
		urlMessage(w, http.StatusNotFound, "Not Found")
		return
	}
	// Preflight carries no credentials, so it is answered before any check.
	if cfg.Cors != nil && isPreflight(r) {
		for k, vs := range corsPreflight(cfg.Cors, r) {
			w.Header()[k] = vs
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := readBody(r, kumo.MaxSyncPayloadBytes)
	if err != nil {
		if errors.Is(err, kumo.ErrRequestTooLarge) {
			urlMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			return
		}
		urlMessage(w, http.StatusBadRequest, "Bad Request")
		return
	}
	call := urlCall{ID: id, Account: s.scope.Account, RequestID: uuid.NewString(), RawPath: rawPath, Now: began}
	if !s.authorizeURL(r, body, cfg, &call) {
		urlMessage(w, http.StatusForbidden, "Forbidden")
		return
	}
	event, err := buildURLEvent(r, body, call)
	if err != nil {
		s.log.ErrorContext(r.Context(), "encode function URL event", "function", cfg.Function, "error", err)
		urlMessage(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(event) > kumo.MaxSyncPayloadBytes {
		urlMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	resp, err := s.invoker.Invoke(r.Context(), invoke.Request{
		FunctionName:   cfg.Function,
		Qualifier:      cfg.Qualifier,
		InvocationType: invoke.TypeRequestResponse,
		Payload:        event,
	})
	if err != nil {
		s.urlInvokeError(w, r, cfg, err)
		return
	}
	if resp.RequestID != "" {
		w.Header().Set("x-amzn-RequestId", resp.RequestID)
	}
	if resp.FunctionError != "" {
		urlMessage(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	out, err := translateURLResponse(resp.Payload)
	if err != nil {
		s.log.InfoContext(r.Context(), "function URL response rejected", "function", cfg.Function, "error", err)
		urlMessage(w, http.StatusBadGateway, "Internal Server Error")
		return
	}
	applyCors(cfg.Cors, r.Header.Get("Origin"), out.Header)
	h := w.Header()
	for k, vs := range out.Header {
		h[k] = vs
	}
	h.Set("Content-Length", strconv.Itoa(len(out.Body)))
	w.WriteHeader(out.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(out.Body)
	}
	s.log.DebugContext(r.Context(), "function URL request", "function", cfg.Function, "method", r.Method,
		"status", out.Status, "bytes", len(body), "total", time.Since(began))
}

// authorizeURL applies the URL's auth type. AWS_IAM needs a SigV4
// signature with the host's key, whose owner may always invoke. NONE
// needs a resource-policy statement letting anyone call
// lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE, as in Lambda.
func (s *Server) authorizeURL(r *http.Request, body []byte, cfg *kumo.FunctionURLConfig, call *urlCall) bool {
	switch cfg.AuthType {
	case kumo.URLAuthIAM:
		if err := s.verifier.Verify(r, body); err != nil {
			return false
		}
		_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
		key, _, _ := strings.Cut(cred, "/")
		call.IAM = &urlIAM{
			AccessKey: key,
			AccountID: s.scope.Account,
			CallerID:  s.scope.Account,
			UserARN:   "arn:aws:iam::" + s.scope.Account + ":root",
			UserID:    s.scope.Account,
		}
		return true
	case kumo.URLAuthNone:
		return s.control.Authorize(control.AccessRequest{
			Function:  cfg.Function,
			Qualifier: cfg.Qualifier,
			Action:    control.ActionInvokeFunctionURL,
			Caller:    control.Anonymous,
			Context:   map[string]string{control.KeyFunctionURLAuthType: kumo.URLAuthNone},
		})
	}
	return false
}

// urlInvokeError answers for an invocation that did not run; never with
// the Lambda API's error shape, which would tell a stranger too much.
func (s *Server) urlInvokeError(w http.ResponseWriter, r *http.Request, cfg *kumo.FunctionURLConfig, err error) {
	switch {
	case errors.Is(err, kumo.ErrTooManyRequests):
		w.Header().Set("Retry-After", "1")
		urlMessage(w, http.StatusTooManyRequests, "Rate Exceeded.")
	case errors.Is(err, kumo.ErrRequestTooLarge):
		urlMessage(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	case errors.Is(err, kumo.ErrNotFound):
		urlMessage(w, http.StatusNotFound, "Not Found")
	default:
		s.log.WarnContext(r.Context(), "function URL invocation failed", "function", cfg.Function, "qualifier", cfg.Qualifier, "error", err)
		urlMessage(w, http.StatusBadGateway, "Internal Server Error")
	}
}
