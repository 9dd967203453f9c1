package kumo

import (
	"errors"
	"fmt"
)

// Sentinel errors. Each maps to exactly one Lambda error name in the server.
var (
	ErrNotFound              = errors.New("resource not found")              // ResourceNotFoundException 404
	ErrConflict              = errors.New("resource conflict")               // ResourceConflictException 409
	ErrInvalidParameter      = errors.New("invalid parameter value")         // InvalidParameterValueException 400
	ErrInvalidRequestContent = errors.New("invalid request content")         // InvalidRequestContentException 400
	ErrPreconditionFailed    = errors.New("precondition failed")             // PreconditionFailedException 412
	ErrRequestTooLarge       = errors.New("request too large")               // RequestTooLargeException 413
	ErrTooManyRequests       = errors.New("too many requests")               // TooManyRequestsException 429
	ErrUnsupported           = errors.New("unsupported")                     // InvalidParameterValueException 400 (feature not offered)
	ErrInvalidZipFile        = errors.New("invalid zip file")                // InvalidParameterValueException 400 (Lambda uses it for bad uploads)
	ErrCodeStorageExceeded   = errors.New("code storage exceeded")           // CodeStorageExceededException 400
	ErrAccessDenied          = errors.New("access denied")                   // 403 (signature / key problems)
	ErrServiceUnavailable    = errors.New("service temporarily unavailable") // ServiceException 500
	ErrPolicyLengthExceeded  = errors.New("policy length exceeded")          // PolicyLengthExceededException 400
)

// Error carries a user-facing message next to the sentinel that classifies
// it. The server writes Message verbatim into Lambda's error body, so it must
// read like the real service's messages.
type Error struct {
	Kind    error
	Message string
	// Code overrides the Lambda error name derived from Kind (for example
	// InvalidSignatureException versus UnrecognizedClientException, both 403).
	Code string
	// Reason is Lambda's ThrottleReason for TooManyRequestsException.
	Reason string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error of the given kind.
func Errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// InvalidParameter is shorthand for the most common validation failure.
func InvalidParameter(format string, args ...any) error {
	return Errorf(ErrInvalidParameter, format, args...)
}

// NotFound is shorthand for a missing resource.
func NotFound(format string, args ...any) error {
	return Errorf(ErrNotFound, format, args...)
}
