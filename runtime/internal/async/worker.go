package async

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Store is what the workers read and write besides the queue.
type Store interface {
	GetFunction(ctx context.Context, name string) (*kumo.Function, uint64, error)
	GetEventInvokeConfigs(ctx context.Context, function string) ([]kumo.EventInvokeConfig, uint64, error)
	DeleteEventInvokeConfigs(ctx context.Context, function string) error
	AppendLog(ctx context.Context, function, requestID string, data []byte) error
	WatchFunctions(ctx context.Context) (<-chan store.FunctionEvent, error)
}

// Invoker runs invocations: events run as RequestResponse invocations, so
// they take the same concurrency slots as synchronous calls, and records
// for function destinations go back in as Event invocations.
type Invoker interface {
	Invoke(ctx context.Context, req invoke.Request) (invoke.Response, error)
}

// Conditions of an invocation record, as Lambda names them.
const (
	CondSuccess          = "Success"
	CondRetriesExhausted = "RetriesExhausted"
	CondEventAgeExceeded = "EventAgeExceeded"
)

// DefaultRetryDelay is Lambda's wait before the first retry of an event
// whose function failed; the second waits twice as long.
const DefaultRetryDelay = time.Minute

const (
	fetchWait = 5 * time.Second
	// storeRetry is the redelivery delay after the engine itself failed.
	storeRetry = time.Second
	// deliveryMargin is the time a worker allows itself, beyond the
	// function's timeout, to record the outcome and deliver records.
	deliveryMargin = 30 * time.Second
)

// Worker runs queued events.
type Worker struct {
	q          *Queue
	inv        Invoker
	store      Store
	scope      kumo.Scope
	log        *slog.Logger
	now        func() time.Time
	retryDelay time.Duration
	slots      chan struct{}
	recorder   Recorder

	stop      context.CancelFunc // stops fetching, the mover and the watch
	runCtx    context.Context    // events run under it; cancelled last
	cancelRun context.CancelFunc
	loops     sync.WaitGroup
	running   sync.WaitGroup
}

// Option configures a Worker.
type Option func(*Worker)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(w *Worker) { w.log = l } }

// Recorder receives the async queue's metrics.
type Recorder interface {
	AsyncStarted(function string, age time.Duration)
	AsyncRetried(function string)
	AsyncDeadLettered(function string)
}

type noRecorder struct{}

func (noRecorder) AsyncStarted(string, time.Duration) {}
func (noRecorder) AsyncRetried(string)                {}
func (noRecorder) AsyncDeadLettered(string)           {}

// WithRecorder sends the worker's metrics to r.
func WithRecorder(r Recorder) Option { return func(w *Worker) { w.recorder = r } }

// WithSlots sets how many events run at once on this host (each needs a
// concurrency slot of the invoke path too).
func WithSlots(n int) Option {
	return func(w *Worker) {
		if n > 0 {
			w.slots = make(chan struct{}, n)
		}
	}
}

// WithRetryDelay scales every delay: the retries after a function error
// wait d and then 2d (Lambda: 1 and 2 minutes), and the backoff after a
// throttle or a service error grows from d/60 to 5d (Lambda: 1 s to
// 5 minutes).
func WithRetryDelay(d time.Duration) Option {
	return func(w *Worker) {
		if d > 0 {
			w.retryDelay = d
		}
	}
}

// WithClock replaces time.Now, for tests of event age.
func WithClock(now func() time.Time) Option { return func(w *Worker) { w.now = now } }

// NewWorker returns a worker for q; Start starts it.
func NewWorker(q *Queue, inv Invoker, st Store, scope kumo.Scope, opts ...Option) *Worker {
	w := &Worker{
		q: q, inv: inv, store: st, scope: scope,
		log:        slog.New(slog.DiscardHandler),
		now:        time.Now,
		retryDelay: DefaultRetryDelay,
		slots:      make(chan struct{}, invoke.DefaultConcurrency),
		recorder:   noRecorder{},
	}
	for _, o := range opts {
		o(w)
	}
	w.runCtx, w.cancelRun = context.WithCancel(context.Background())
	return w
}

// Start begins pulling events, moving max-delivered ones and dropping the
// configs of deleted functions.
func (w *Worker) Start(ctx context.Context) error {
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stop = stop
	deleted, err := w.store.WatchFunctions(lctx)
	if err != nil {
		stop()
		return fmt.Errorf("watch functions: %w", err)
	}
	mover, err := w.q.advisories.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   moverName,
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   time.Minute,
	})
	if err != nil {
		stop()
		return fmt.Errorf("create consumer %s: %w", moverName, err)
	}
	w.loops.Add(3)
	go func() { defer w.loops.Done(); w.fetchLoop(lctx) }()
	go func() { defer w.loops.Done(); w.moveLoop(lctx, mover) }()
	go func() { defer w.loops.Done(); w.forgetDeleted(lctx, deleted) }()
	return nil
}

// Stop stops taking events; running ones go on. Call Wait after the
// sandboxes are gone, so that they have ended.
func (w *Worker) Stop() {
	if w.stop != nil {
		w.stop()
	}
}

// Wait waits for the loops and the running events; when ctx ends first the
// events' contexts are cancelled. An event cut short is not acknowledged,
// so JetStream delivers it again (after a restart, to this host).
func (w *Worker) Wait(ctx context.Context) {
	w.Stop()
	done := make(chan struct{})
	go func() {
		w.loops.Wait()
		w.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancelRun()
		<-done
	}
	w.cancelRun()
}

// fetchLoop pulls one event per free slot.
func (w *Worker) fetchLoop(ctx context.Context) {
	for {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := w.q.consumer.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			<-w.slots
			if ctx.Err() != nil {
				return
			}
			w.log.Warn("fetch events", "error", err)
			sleep(ctx, storeRetry)
			continue
		}
		got := false
		for msg := range batch.Messages() {
			got = true
			if ctx.Err() != nil {
				// Fetched while stopping: give it straight back.
				_ = msg.Nak()
				<-w.slots
				continue
			}
			w.running.Add(1)
			go w.handle(msg)
		}
		cancel()
		if !got {
			<-w.slots
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// handle runs one delivery of an event and settles it: acknowledged when
// the event is finished, or handed back with a delay to be retried.
func (w *Worker) handle(msg jetstream.Msg) {
	defer w.running.Done()
	defer func() { <-w.slots }()
	var ev envelope
	if err := json.Unmarshal(msg.Data(), &ev); err != nil || ev.RequestID == "" || !kumo.ValidFunctionName(ev.Function) {
		// Nothing can ever run it, and it names no function whose log
		// could record it: the server log is the record.
		w.log.Error("undecodable event terminated", "subject", msg.Subject(), "error", err, "bytes", len(msg.Data()))
		_ = msg.TermWithReason("undecodable event")
		return
	}
	ctx := w.runCtx
	delivered := uint64(1)
	if md, err := msg.Metadata(); err == nil {
		delivered = md.NumDelivered
	}
	stopBeat := w.heartbeat(msg)
	ack, delay := w.process(ctx, ev, delivered, stopBeat)
	stopBeat()
	if !ack {
		if err := msg.NakWithDelay(delay); err != nil {
			// The ack wait brings it back anyway.
			w.log.Warn("hand back event", "function", ev.Function, "request_id", ev.RequestID, "error", err)
		}
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		// It comes back and is finished again (at least once).
		w.log.Warn("acknowledge finished event", "function", ev.Function, "request_id", ev.RequestID, "error", err)
		return
	}
	w.q.forgetAttempts(actx, ev.RequestID)
}

// heartbeat keeps the delivery from being handed to another worker while
// it is being worked on; the returned func stops it (process also stops it
// once the function's timeout plus a margin has passed).
func (w *Worker) heartbeat(msg jetstream.Msg) func() {
	done := make(chan struct{})
	var once sync.Once
	every := w.q.ackWait / 3
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// process decides the fate of one delivery: ack (finished) or retry after
// delay. stopBeat ends the heartbeat when the invocation outlives its
// function's timeout by far, so a stuck worker cannot hold an event forever.
func (w *Worker) process(ctx context.Context, ev envelope, delivered uint64, stopBeat func()) (ack bool, delay time.Duration) {
	log := w.log.With("function", ev.Function, "qualifier", ev.qualifier(), "request_id", ev.RequestID, "delivery", delivered)
	cfg, err := w.config(ctx, ev)
	if err != nil {
		log.Warn("read event invoke config", "error", err)
		return false, storeRetry
	}
	fn, _, err := w.store.GetFunction(ctx, ev.Function)
	if err != nil && !errors.Is(err, kumo.ErrNotFound) {
		log.Warn("read function", "error", err)
		return false, storeRetry
	}
	if err != nil {
		fn = nil
	}
	attempts, err := w.q.attemptCount(ctx, ev.RequestID)
	if err != nil {
		log.Warn("read attempts", "error", err)
		return false, storeRetry
	}
	remaining := cfg.MaxAge() - w.now().Sub(ev.EnqueuedAt)
	retries := cfg.Retries()
	switch {
	case remaining <= 0:
		return w.settle(ctx, log, ev, cfg, fn, CondEventAgeExceeded, attempts, nil, "")
	case attempts > retries:
		// A crash came between counting the last attempt and finishing.
		return w.settle(ctx, log, ev, cfg, fn, CondRetriesExhausted, attempts, nil, "")
	}

	timeout := time.Duration(kumo.MaxTimeoutSeconds) * time.Second
	if fn != nil {
		timeout = time.Duration(fn.Timeout) * time.Second
	}
	w.recorder.AsyncStarted(ev.Function, w.now().Sub(ev.EnqueuedAt))
	limit := time.AfterFunc(timeout+w.q.ackWait+deliveryMargin, stopBeat)
	defer limit.Stop()
	resp, err := w.inv.Invoke(ctx, invoke.Request{
		FunctionName:   ev.Function,
		Qualifier:      ev.Qualifier,
		InvocationType: invoke.TypeRequestResponse,
		Payload:        ev.Payload,
		RequestID:      ev.RequestID,
	})
	switch {
	case err != nil && permanent(err):
		// The function (or the version or alias) is gone: nothing will
		// ever run it.
		log.Warn("event cannot run", "error", err)
		return w.settle(ctx, log, ev, cfg, fn, CondRetriesExhausted, attempts, nil, err.Error())
	case err != nil:
		// Throttled, or the host failed: retry until the event's age runs
		// out, without spending a retry.
		d := min(w.backoff(delivered), remaining)
		log.Debug("event not run; retrying", "error", err, "delay", d)
		w.recorder.AsyncRetried(ev.Function)
		return false, d
	case resp.FunctionError != "":
		attempts++
		if err := w.q.setAttemptCount(ctx, ev.RequestID, attempts); err != nil {
			// Uncounted, the attempt is repeated: more than the budget,
			// never fewer.
			log.Warn("count attempt", "error", err)
		}
		if attempts > retries {
			return w.settle(ctx, log, ev, cfg, fn, CondRetriesExhausted, attempts, &resp, "")
		}
		d := min(w.retryDelay*time.Duration(attempts), remaining)
		log.Info("event failed; retrying", "attempt", attempts, "delay", d)
		w.recorder.AsyncRetried(ev.Function)
		return false, d
	}
	return w.settle(ctx, log, ev, cfg, fn, CondSuccess, attempts+1, &resp, "")
}

// settle finishes an event with condition: ack, unless a failure record
// could not be delivered yet, in which case the event comes back and is
// settled again (the retry budget is already spent, so it does not run).
func (w *Worker) settle(ctx context.Context, log *slog.Logger, ev envelope, cfg *kumo.EventInvokeConfig, fn *kumo.Function, cond string, invokes int, resp *invoke.Response, cause string) (bool, time.Duration) {
	if err := w.finish(ctx, log, ev, cfg, fn, cond, invokes, resp, cause); err != nil {
		log.Warn("deliver failed event; retrying delivery", "condition", cond, "error", err)
		return false, storeRetry
	}
	if cond != CondSuccess {
		w.recorder.AsyncDeadLettered(ev.Function)
	}
	return true, 0
}

// config is the event-invoke config for the event's qualifier; nil means
// Lambda's defaults.
func (w *Worker) config(ctx context.Context, ev envelope) (*kumo.EventInvokeConfig, error) {
	cfgs, _, err := w.store.GetEventInvokeConfigs(ctx, ev.Function)
	if err != nil {
		return nil, err
	}
	for i := range cfgs {
		if cfgs[i].Qualifier == ev.qualifier() {
			return &cfgs[i], nil
		}
	}
	return nil, nil
}

// backoff is the delay after a throttle or a service error: from
// retryDelay/60 doubling up to 5×retryDelay, with jitter so a backlog does
// not come back all at once.
func (w *Worker) backoff(delivered uint64) time.Duration {
	d := max(w.retryDelay/60, 10*time.Millisecond)
	limit := 5 * w.retryDelay
	for i := uint64(1); i < delivered && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// permanent reports errors that retrying cannot cure.
func permanent(err error) bool {
	for _, k := range []error{kumo.ErrNotFound, kumo.ErrInvalidParameter, kumo.ErrUnsupported, kumo.ErrRequestTooLarge, kumo.ErrInvalidRequestContent} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// forgetDeleted removes the event-invoke configs of deleted functions, so
// a new function of the same name starts without them.
func (w *Worker) forgetDeleted(ctx context.Context, events <-chan store.FunctionEvent) {
	for ev := range events {
		if ev.Function != nil {
			continue
		}
		cfgs, _, err := w.store.GetEventInvokeConfigs(ctx, ev.Name)
		if err != nil || len(cfgs) == 0 {
			continue
		}
		// Deleted and created again before this ran: the configs are new.
		if _, _, err := w.store.GetFunction(ctx, ev.Name); err == nil {
			continue
		}
		if err := w.store.DeleteEventInvokeConfigs(ctx, ev.Name); err != nil {
			w.log.Warn("delete event invoke configs of deleted function", "function", ev.Name, "error", err)
		}
	}
}
