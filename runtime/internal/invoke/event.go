package invoke

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Event is an asynchronous invocation accepted for later execution.
type Event struct {
	RequestID string
	// Function is the bare function name.
	Function string
	// Qualifier is the version or alias as invoked; "" means $LATEST.
	Qualifier  string
	Payload    []byte
	EnqueuedAt time.Time
}

// Enqueuer stores events durably; Enqueue returns only once the event is
// safe, since the caller answers 202 on its word.
type Enqueuer interface {
	Enqueue(ctx context.Context, ev Event) error
}

// WithEnqueuer turns on InvocationType Event: such invocations are handed
// to e instead of being run.
func WithEnqueuer(e Enqueuer) Option { return func(s *Service) { s.events = e } }

// enqueue accepts an Event invocation of a function that resolved.
func (s *Service) enqueue(ctx context.Context, ref kumo.FunctionRef, req Request) (Response, error) {
	if s.events == nil {
		return Response{}, kumo.Errorf(kumo.ErrUnsupported, "InvocationType Event is not supported by this kumo host yet; use RequestResponse")
	}
	if len(req.Payload) > kumo.MaxAsyncPayloadBytes {
		return Response{}, kumo.Errorf(kumo.ErrRequestTooLarge, "Request must be smaller than %d bytes for the InvokeFunction operation", kumo.MaxAsyncPayloadBytes)
	}
	ev := Event{
		RequestID:  req.RequestID,
		Function:   ref.Name,
		Qualifier:  ref.Qualifier,
		Payload:    req.Payload,
		EnqueuedAt: time.Now().UTC(),
	}
	if ev.RequestID == "" {
		ev.RequestID = uuid.NewString()
	}
	if err := s.events.Enqueue(ctx, ev); err != nil {
		return Response{}, err
	}
	return Response{RequestID: ev.RequestID, StatusCode: http.StatusAccepted}, nil
}

// requestID is the id of a synchronous run: the event's own when the async
// workers run one, so every attempt of an event carries its id.
func requestID(req Request) string {
	if req.RequestID != "" {
		return req.RequestID
	}
	return uuid.NewString()
}
