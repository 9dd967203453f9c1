package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Error codes of the distribution spec, plus the few that docker's
// registry added and clients know.
const (
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeSizeInvalid         = "SIZE_INVALID"
	codeUnauthorized        = "UNAUTHORIZED"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	codePaginationInvalid   = "PAGINATION_NUMBER_INVALID"
	codeInternal            = "INTERNAL_ERROR" // not in the spec; any unknown code means failure to clients
)

// regError is one error response.
type regError struct {
	status  int
	code    string
	message string
	detail  any
	cause   error // logged, never sent
}

func (e *regError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.code, e.message, e.cause)
	}
	return e.code + ": " + e.message
}

func (e *regError) Unwrap() error { return e.cause }

func newError(status int, code, format string, args ...any) *regError {
	return &regError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// withDetail adds the spec's free-form detail member.
func (e *regError) withDetail(d any) *regError {
	e.detail = d
	return e
}

func errInternal(err error) *regError {
	return &regError{status: http.StatusInternalServerError, code: codeInternal, message: "internal error", cause: err}
}

// storeError maps an error of the image store to the registry error whose
// code is given for the not-found case. Anything unclassified is internal.
func storeError(err error, notFound string) *regError {
	var re *regError
	var ke *kumo.Error
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &tooBig):
		return &regError{status: http.StatusRequestEntityTooLarge, code: codeSizeInvalid,
			message: "content larger than the " + strconv.FormatInt(tooBig.Limit, 10) + "-byte limit", cause: err}
	case errors.Is(err, image.ErrDigestMismatch):
		return &regError{status: http.StatusBadRequest, code: codeDigestInvalid, message: "content does not match the digest", cause: err}
	case errors.As(err, &ke) && errors.Is(err, kumo.ErrNotFound):
		status := http.StatusNotFound
		if notFound == codeManifestBlobUnknown {
			status = http.StatusBadRequest
		}
		return &regError{status: status, code: notFound, message: ke.Message}
	case errors.As(err, &ke) && errors.Is(err, kumo.ErrRequestTooLarge):
		return &regError{status: http.StatusRequestEntityTooLarge, code: codeSizeInvalid, message: ke.Message}
	case errors.As(err, &ke) && errors.Is(err, kumo.ErrUnsupported):
		code := codeUnsupported
		if notFound == codeManifestBlobUnknown {
			code = codeManifestInvalid
		}
		return &regError{status: http.StatusBadRequest, code: code, message: ke.Message}
	case errors.As(err, &ke) && errors.Is(err, kumo.ErrInvalidParameter):
		code := codeManifestInvalid
		if notFound == codeBlobUnknown || notFound == codeBlobUploadUnknown {
			code = codeDigestInvalid
		}
		return &regError{status: http.StatusBadRequest, code: code, message: ke.Message}
	}
	return errInternal(err)
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError sends err in the spec's shape: {"errors":[{code,message,detail}]}.
func (reg *Registry) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var re *regError
	if !errors.As(err, &re) {
		re = errInternal(err)
	}
	if re.status >= 500 {
		reg.log.ErrorContext(r.Context(), "registry request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	} else {
		reg.log.DebugContext(r.Context(), "registry request rejected", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	body, _ := json.Marshal(struct {
		Errors []wireError `json:"errors"`
	}{[]wireError{{Code: re.code, Message: re.message, Detail: re.detail}}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if re.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="kumo"`)
	}
	w.WriteHeader(re.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
