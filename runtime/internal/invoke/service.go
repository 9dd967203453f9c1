package invoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kumo-dev/kumo/runtime/internal/metrics"
	"github.com/kumo-dev/kumo/runtime/internal/node"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Runner runs an event on some instance of a function.
type Runner interface {
	Run(ctx context.Context, fn *kumo.Function, inv node.Invocation) (node.Outcome, error)
	// Forget retires the instances of a function version ("" for all of
	// its versions) unless they run keepRevision.
	Forget(name, version, keepRevision string)
	Prepare(fn *kumo.Function)
}

// Store is what the invoke path reads and writes in the engine.
type Store interface {
	GetFunction(ctx context.Context, name string) (*kumo.Function, uint64, error)
	GetVersion(ctx context.Context, name, version string) (*kumo.Function, error)
	GetAlias(ctx context.Context, function, name string) (*kumo.Alias, uint64, error)
	AppendLog(ctx context.Context, function, requestID string, data []byte) error
}

// Service runs invocations.
type Service struct {
	runner   Runner
	store    Store
	scope    kumo.Scope
	log      *slog.Logger
	limiter  *limiter
	recorder Recorder

	mu       sync.RWMutex
	cache    map[string]cached
	versions map[string]*kumo.Function // by cacheKey(function, version)
	aliases  map[string]*kumo.Alias    // by cacheKey(function, alias)

	logs     chan logEntry
	logsDone chan struct{}
	closeMu  sync.Once

	events Enqueuer // nil: InvocationType Event is refused (event.go)
}

type cached struct {
	fn *kumo.Function // nil: deleted
	at time.Time      // LastModified of fn, or when it was deleted
}

type logEntry struct {
	function, requestID string
	data                []byte
}

// Recorder receives what the metrics need; the default records nothing.
type Recorder interface {
	Invoked(metrics.Invocation)
	Throttled(function, reason string)
	Running(function string, delta int)
}

type noRecorder struct{}

func (noRecorder) Invoked(metrics.Invocation) {}
func (noRecorder) Throttled(string, string)   {}
func (noRecorder) Running(string, int)        {}

// WithRecorder sends invocation metrics to r.
func WithRecorder(r Recorder) Option { return func(s *Service) { s.recorder = r } }

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithConcurrency sets the account concurrency limit: at most n
// invocations run at once on this host.
func WithConcurrency(n int) Option {
	return func(s *Service) { s.limiter = newLimiter(n) }
}

// DefaultConcurrency is Lambda's default account limit.
const DefaultConcurrency = 1000

// logQueue bounds log records waiting to be written; writing them is off
// the invocation's path so a slow disk does not slow invocations.
const logQueue = 4096

// New returns a Service.
func New(runner Runner, store Store, scope kumo.Scope, opts ...Option) *Service {
	s := &Service{
		runner:   runner,
		store:    store,
		scope:    scope,
		log:      slog.New(slog.DiscardHandler),
		limiter:  newLimiter(DefaultConcurrency),
		recorder: noRecorder{},
		cache:    map[string]cached{},
		versions: map[string]*kumo.Function{},
		aliases:  map[string]*kumo.Alias{},
		logs:     make(chan logEntry, logQueue),
		logsDone: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	go s.writeLogs()
	return s
}

// Observe records a function's new desired state (nil: deleted). Both this
// host's own writes and the store's watch feed it; an older value never
// replaces a newer one, whichever arrives last.
func (s *Service) Observe(name string, fn *kumo.Function) {
	at := time.Now()
	if fn != nil {
		at = fn.LastModified
	}
	s.mu.Lock()
	cur, ok := s.cache[name]
	if ok && at.Before(cur.at) {
		s.mu.Unlock()
		return
	}
	s.cache[name] = cached{fn: fn, at: at}
	s.mu.Unlock()
	if fn == nil {
		s.forgetPublished(name)
		s.limiter.reserve(name, nil)
		s.runner.Forget(name, "", "")
		return
	}
	s.limiter.reserve(name, fn.ReservedConcurrency)
	s.runner.Forget(name, kumo.VersionLatest, fn.RevisionID)
	s.runner.Prepare(fn)
}

func (s *Service) function(ctx context.Context, name string) (*kumo.Function, error) {
	s.mu.RLock()
	c, ok := s.cache[name]
	s.mu.RUnlock()
	if ok && c.fn != nil {
		return c.fn, nil
	}
	fn, _, err := s.store.GetFunction(ctx, name)
	if err != nil {
		return nil, err
	}
	s.Observe(name, fn)
	return fn, nil
}

// Invoke runs one invocation.
func (s *Service) Invoke(ctx context.Context, req Request) (Response, error) {
	target, err := s.resolve(ctx, req.FunctionName, req.Qualifier)
	if err != nil {
		return Response{}, err
	}
	ref, fn := target.ref, target.fn
	switch req.InvocationType {
	case TypeDryRun:
		return Response{StatusCode: http.StatusNoContent, ExecutedVersion: fn.VersionName()}, nil
	case TypeEvent:
		return s.enqueue(ctx, ref, req)
	}
	if fn.State != kumo.StateActive {
		return Response{}, kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. The function is currently in the following state: %s", fn.State)
	}
	release, err := s.limiter.acquire(target.latest)
	if err != nil {
		var kerr *kumo.Error
		if errors.As(err, &kerr) {
			s.recorder.Throttled(fn.Name, kerr.Reason)
		}
		return Response{}, err
	}
	defer release()
	s.recorder.Running(fn.Name, 1)
	defer s.recorder.Running(fn.Name, -1)

	payload := req.Payload
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	inv := node.Invocation{
		RequestID:     requestID(req),
		Payload:       payload,
		InvokedARN:    s.scope.QualifiedARN(ref.Name, ref.Qualifier),
		ClientContext: req.ClientContext,
		TraceID:       traceID(),
		Version:       fn.VersionName(),
	}
	out, err := s.runner.Run(ctx, fn, inv)
	if err != nil {
		return Response{}, err
	}
	s.recordLog(fn.Name, inv.RequestID, out.Log)
	s.recorder.Invoked(metrics.Invocation{
		Function: fn.Name, Version: fn.VersionName(), Alias: target.alias,
		Duration: out.Duration, Init: out.Init, Cold: out.Cold,
		Error: out.ErrorType != "", MemoryMB: fn.MemorySize,
	})
	resp := Response{
		RequestID:       inv.RequestID,
		Payload:         out.Payload,
		ExecutedVersion: fn.VersionName(),
		StatusCode:      http.StatusOK,
	}
	if out.ErrorType != "" {
		resp.FunctionError = "Unhandled"
	}
	if req.Tail {
		resp.LogTail = tail(out.Log, kumo.LogTailBytes)
	}
	return resp, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return append([]byte{}, b...)
}

func (s *Service) recordLog(function, requestID string, data []byte) {
	select {
	case s.logs <- logEntry{function, requestID, data}:
	default:
		s.log.Warn("log queue full; dropping invocation log", "function", function, "request_id", requestID)
	}
}

func (s *Service) writeLogs() {
	defer close(s.logsDone)
	for e := range s.logs {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.store.AppendLog(ctx, e.function, e.requestID, e.data); err != nil {
			s.log.Warn("write invocation log", "function", e.function, "request_id", e.requestID, "error", err)
		}
		cancel()
	}
}

// Close flushes queued logs. Call it after the last Invoke returned.
func (s *Service) Close() {
	s.closeMu.Do(func() {
		close(s.logs)
		<-s.logsDone
	})
}

// traceID makes an X-Ray trace header for invocations that arrive
// without one.
func traceID() string {
	var b [12]byte
	var p [8]byte
	_, _ = rand.Read(b[:])
	_, _ = rand.Read(p[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), hex.EncodeToString(b[:]), hex.EncodeToString(p[:]))
}
