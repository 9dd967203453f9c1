package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

const (
	streamName     = "KUMO_ASYNC"
	subjectPrefix  = "kumo.async."
	consumerName   = "workers"
	attemptsBucket = "kumo_async_attempts"

	// advisoryStream captures the max-deliveries advisories of the worker
	// consumer: core advisories are fire-and-forget, and a max-delivered
	// message is invisible to the consumer, so without a durable copy of
	// the advisory it would sit in the stream forever.
	advisoryStream  = "KUMO_ASYNC_ADVISORIES"
	advisorySubject = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + streamName + "." + consumerName
	moverName       = "mover"

	// maxMsgBytes leaves room for the envelope around a 1 MiB payload
	// (base64 in JSON) and for destination records, which carry a request
	// and a response payload.
	maxMsgBytes = 8<<20 - 64<<10

	defaultAckWait    = 30 * time.Second
	defaultMaxDeliver = 10000
)

// envelope is an event as stored in the stream. The payload is the
// caller's bytes; the attempt count lives in the attempts bucket, because
// a stored message cannot change and the server's delivery count restarts
// after a crash.
type envelope struct {
	RequestID  string    `json:"requestId"`
	Function   string    `json:"function"`
	Qualifier  string    `json:"qualifier,omitempty"`
	Payload    []byte    `json:"payload"`
	EnqueuedAt time.Time `json:"enqueuedAt"`
}

func (e envelope) qualifier() string {
	if e.Qualifier == "" {
		return kumo.VersionLatest
	}
	return e.Qualifier
}

// Queue is the durable event queue. It implements invoke.Enqueuer.
type Queue struct {
	js         jetstream.JetStream
	stream     jetstream.Stream
	consumer   jetstream.Consumer
	attempts   jetstream.KeyValue
	advisories jetstream.Stream
	log        *slog.Logger
	ackWait    time.Duration
	maxDeliver int
}

var _ invoke.Enqueuer = (*Queue)(nil)

// QueueOption configures a Queue.
type QueueOption func(*Queue)

// WithQueueLogger sets the queue's logger.
func WithQueueLogger(l *slog.Logger) QueueOption { return func(q *Queue) { q.log = l } }

// WithAckWait sets how long a delivered event may go without a heartbeat
// before JetStream hands it to another worker; running events heartbeat
// every third of it. Tests shorten it.
func WithAckWait(d time.Duration) QueueOption { return func(q *Queue) { q.ackWait = d } }

// WithMaxDeliver bounds the deliveries of one event; beyond it the mover
// finishes the event. It must comfortably exceed the throttle retries of
// an event's whole life. Tests lower it.
func WithMaxDeliver(n int) QueueOption { return func(q *Queue) { q.maxDeliver = n } }

// NewQueue makes sure the stream, the worker consumer, the attempts bucket
// and the advisory stream exist. replicas is 1 on the embedded server.
func NewQueue(ctx context.Context, js jetstream.JetStream, replicas int, opts ...QueueOption) (*Queue, error) {
	q := &Queue{js: js, log: slog.New(slog.DiscardHandler), ackWait: defaultAckWait, maxDeliver: defaultMaxDeliver}
	for _, o := range opts {
		o(q)
	}
	if replicas < 1 {
		replicas = 1
	}
	var err error
	q.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        streamName,
		Description: "kumo asynchronous invocations, one subject per function",
		Subjects:    []string{subjectPrefix + "*"},
		Retention:   jetstream.WorkQueuePolicy,
		// Refuse new events rather than drop old ones when a limit is hit:
		// the caller then gets a 5xx instead of a 202 for a lost event.
		Discard: jetstream.DiscardNew,
		// No MaxAge: an event must never vanish before a worker has
		// recorded its expiry (MaximumEventAgeInSeconds is enforced by the
		// workers, from the enqueue time in the event).
		MaxMsgSize: maxMsgBytes,
		Storage:    jetstream.FileStorage,
		Replicas:   replicas,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", streamName, err)
	}
	q.consumer, err = q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "kumo async workers",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.ackWait,
		MaxDeliver:    q.maxDeliver,
		MaxAckPending: 100000,
		FilterSubject: subjectPrefix + "*",
	})
	if err != nil {
		return nil, fmt.Errorf("create consumer %s: %w", consumerName, err)
	}
	q.attempts, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      attemptsBucket,
		Description: "kumo async attempt counters, by request id",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		// Counters of finished events are deleted; this only collects
		// those a crash left behind, long after any event has expired.
		TTL: 2 * kumo.MaxMaximumEventAgeSeconds * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", attemptsBucket, err)
	}
	q.advisories, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        advisoryStream,
		Description: "max-deliveries advisories of the kumo async workers",
		Subjects:    []string{advisorySubject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %s: %w", advisoryStream, err)
	}
	return q, nil
}

// Enqueue stores ev and returns once JetStream has acknowledged it, which
// on kumo's server means it is on disk. Any failure is a service error:
// the caller must not answer 202.
func (q *Queue) Enqueue(ctx context.Context, ev invoke.Event) error {
	if !kumo.ValidFunctionName(ev.Function) {
		return kumo.InvalidParameter("Function name %q must match [a-zA-Z0-9-_]{1,64}", ev.Function)
	}
	if ev.EnqueuedAt.IsZero() {
		ev.EnqueuedAt = time.Now().UTC()
	}
	data, err := json.Marshal(envelope{
		RequestID:  ev.RequestID,
		Function:   ev.Function,
		Qualifier:  ev.Qualifier,
		Payload:    ev.Payload,
		EnqueuedAt: ev.EnqueuedAt,
	})
	if err != nil {
		return fmt.Errorf("encode event %s: %w", ev.RequestID, err)
	}
	// The request id as message id makes a retried publish (or a record
	// redelivered to a function destination) land once.
	_, err = q.js.Publish(ctx, subjectPrefix+ev.Function, data,
		jetstream.WithMsgID(ev.RequestID), jetstream.WithExpectStream(streamName))
	if err != nil {
		q.log.ErrorContext(ctx, "enqueue event", "function", ev.Function, "request_id", ev.RequestID, "error", err)
		return kumo.Errorf(kumo.ErrServiceUnavailable, "The event could not be stored: %v", err)
	}
	q.log.DebugContext(ctx, "event enqueued", "function", ev.Function, "request_id", ev.RequestID, "bytes", len(ev.Payload))
	return nil
}

// Pending is the number of events in the queue, running ones included.
func (q *Queue) Pending(ctx context.Context) (uint64, error) {
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream %s info: %w", streamName, err)
	}
	return info.State.Msgs, nil
}

// attemptCount reads how many times the event's function returned an
// error; a missing counter is zero.
func (q *Queue) attemptCount(ctx context.Context, requestID string) (int, error) {
	e, err := q.attempts.Get(ctx, attemptsKey(requestID))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read attempts of event %s: %w", requestID, err)
	}
	var n int
	if err := json.Unmarshal(e.Value(), &n); err != nil {
		return 0, fmt.Errorf("decode attempts of event %s: %w", requestID, err)
	}
	return n, nil
}

func (q *Queue) setAttemptCount(ctx context.Context, requestID string, n int) error {
	b, _ := json.Marshal(n)
	if _, err := q.attempts.Put(ctx, attemptsKey(requestID), b); err != nil {
		return fmt.Errorf("record attempts of event %s: %w", requestID, err)
	}
	return nil
}

func (q *Queue) forgetAttempts(ctx context.Context, requestID string) {
	if err := q.attempts.Purge(ctx, attemptsKey(requestID)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		q.log.WarnContext(ctx, "forget attempts of finished event", "request_id", requestID, "error", err)
	}
}

// attemptsKey keeps a caller-chosen id to the characters a KV key allows.
func attemptsKey(requestID string) string {
	b := []byte(requestID)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// Pending counts the events waiting or running per function, read from the
// stream itself so the figure is right across restarts.
func (q *Queue) PendingByFunction(ctx context.Context) (map[string]uint64, error) {
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(subjectPrefix+">"))
	if err != nil {
		return nil, fmt.Errorf("read async queue: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subject, n := range info.State.Subjects {
		out[strings.TrimPrefix(subject, subjectPrefix)] = n
	}
	return out, nil
}
