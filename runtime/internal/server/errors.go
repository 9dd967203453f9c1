package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// lambdaError is one row of Lambda's error catalogue: the HTTP status, the
// x-amzn-ErrorType name and the casing of the message member the model uses
// for it (botocore and aws-sdk-go-v2 read the modeled member).
type lambdaError struct {
	status     int
	code       string
	messageKey string
}

// errorTable maps each sentinel to Lambda's error. This is the only place
// kumo errors become HTTP.
var errorTable = []struct {
	kind error
	lambdaError
}{
	{kumo.ErrNotFound, lambdaError{http.StatusNotFound, "ResourceNotFoundException", "Message"}},
	{kumo.ErrConflict, lambdaError{http.StatusConflict, "ResourceConflictException", "message"}},
	{kumo.ErrInvalidParameter, lambdaError{http.StatusBadRequest, "InvalidParameterValueException", "message"}},
	{kumo.ErrUnsupported, lambdaError{http.StatusBadRequest, "InvalidParameterValueException", "message"}},
	{kumo.ErrInvalidZipFile, lambdaError{http.StatusBadRequest, "InvalidParameterValueException", "message"}},
	{kumo.ErrInvalidRequestContent, lambdaError{http.StatusBadRequest, "InvalidRequestContentException", "message"}},
	{kumo.ErrPreconditionFailed, lambdaError{http.StatusPreconditionFailed, "PreconditionFailedException", "message"}},
	{kumo.ErrRequestTooLarge, lambdaError{http.StatusRequestEntityTooLarge, "RequestTooLargeException", "message"}},
	{kumo.ErrTooManyRequests, lambdaError{http.StatusTooManyRequests, "TooManyRequestsException", "message"}},
	{kumo.ErrCodeStorageExceeded, lambdaError{http.StatusBadRequest, "CodeStorageExceededException", "message"}},
	{kumo.ErrAccessDenied, lambdaError{http.StatusForbidden, "AccessDeniedException", "Message"}},
	{kumo.ErrServiceUnavailable, lambdaError{http.StatusInternalServerError, "ServiceException", "Message"}},
	{kumo.ErrPolicyLengthExceeded, lambdaError{http.StatusBadRequest, "PolicyLengthExceededException", "message"}},
}

var internalError = lambdaError{http.StatusInternalServerError, "ServiceException", "Message"}

func classify(err error) lambdaError {
	for _, row := range errorTable {
		if errors.Is(err, row.kind) {
			return row.lambdaError
		}
	}
	return internalError
}

// writeError writes err in Lambda's error protocol: the x-amzn-ErrorType
// header (which both SDKs read first), Type User/Service, the message under
// the modeled key, and __type for clients that ignore the header.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	le := classify(err)
	msg := err.Error()
	var kerr *kumo.Error
	body := map[string]any{}
	if errors.As(err, &kerr) {
		msg = kerr.Message
		if kerr.Code != "" {
			le.code = kerr.Code
		}
		if kerr.Reason != "" {
			body["Reason"] = kerr.Reason
			w.Header().Set("Retry-After", "1")
		}
	}
	if le.status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		msg = "An internal error occurred: " + msg
	}
	typ := "User"
	if le.status >= 500 {
		typ = "Service"
	}
	body["Type"] = typ
	body[le.messageKey] = msg
	body["__type"] = le.code
	w.Header().Set("x-amzn-ErrorType", le.code)
	writeJSON(w, le.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"Type":"Service","Message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
