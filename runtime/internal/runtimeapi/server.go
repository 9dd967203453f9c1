package runtimeapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Wire names of the Runtime API (LAMBDA_API.md §5).
const (
	headerRequestID       = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline        = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN     = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID         = "Lambda-Runtime-Trace-Id"
	headerClientContext   = "Lambda-Runtime-Client-Context"
	headerCognitoIdentity = "Lambda-Runtime-Cognito-Identity"
	headerErrorType       = "Lambda-Runtime-Function-Error-Type"
	headerErrorBody       = "Lambda-Runtime-Function-Error-Body"
	headerExtensionID     = "Lambda-Extension-Identifier"

	// ErrorTypeResponseTooLarge is the errorType of an invocation whose
	// response exceeded the limit.
	ErrorTypeResponseTooLarge = "Function.ResponseSizeTooLarge"

	// readHeaderTimeout bounds a runtime that opens a connection and sends
	// headers slowly; bodies may legitimately stream for the whole timeout.
	readHeaderTimeout = 10 * time.Second
	// maxHeaderBytes leaves room for aws-lambda-go's X-Ray error cause
	// header, which it sends when it is under 1 MiB.
	maxHeaderBytes = 2 << 20
	// maxInitErrorBytes bounds /init/error and extension bodies, which
	// carry only a small JSON document.
	maxInitErrorBytes = 1 << 20
)

var (
	// ErrClosed is returned by calls on a closed Server.
	ErrClosed = errors.New("runtime api closed")
	// ErrBusy is returned by Invoke while another invocation is in flight:
	// one sandbox runs one invocation at a time.
	ErrBusy = fmt.Errorf("invocation already in progress: %w", kumo.ErrConflict)
)

// Invocation is one event handed to the runtime.
type Invocation struct {
	// RequestID is generated when empty.
	RequestID string
	Payload   []byte
	// Deadline becomes the function's context deadline. When zero, the
	// deadline of Invoke's context is used, else the maximum timeout.
	Deadline           time.Time
	InvokedFunctionARN string
	// TraceID is the X-Ray header value; generated when empty.
	TraceID string
	// ClientContext is the decoded ClientContext JSON; sent only if set.
	ClientContext string
	// CognitoIdentity is JSON; sent only if set.
	CognitoIdentity string
}

// Result is the runtime's answer to an invocation.
type Result struct {
	// Payload is the response body, or for a function error the error
	// JSON {errorMessage, errorType[, stackTrace]}.
	Payload []byte
	// ErrorType is empty on success.
	ErrorType string
}

// InitError is returned by WaitInit when the runtime reported a failed
// initialisation through /runtime/init/error.
type InitError struct {
	Payload   []byte
	ErrorType string
}

func (e *InitError) Error() string {
	return "runtime init error: " + e.ErrorType
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithMaxResponseBytes sets the largest response or error body accepted;
// the default is kumo.MaxSyncResponseBytes.
func WithMaxResponseBytes(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.maxResponse = n
		}
	}
}

// WithFunctionInfo sets what the Extensions API register call returns.
func WithFunctionInfo(name, version, handler string) Option {
	return func(s *Server) {
		s.fnName, s.fnVersion, s.fnHandler = name, version, handler
	}
}

// Server serves the Runtime API on one listener, for one sandbox.
type Server struct {
	log         *slog.Logger
	maxResponse int
	fnName      string
	fnVersion   string
	fnHandler   string

	srv      *http.Server
	served   chan struct{}
	closed   chan struct{}
	closeErr error
	once     sync.Once

	initOnce sync.Once
	initDone chan struct{}
	initFail chan struct{}
	// queue holds the invocation waiting for the runtime's next /next.
	queue chan *call
	busy  chan struct{}

	mu      sync.Mutex
	initErr *InitError
	// ready is closed while the runtime is parked in /next with no event:
	// only then is it known to be alive and waiting for work. It is replaced
	// by an open channel when the runtime takes an event or goes away.
	ready       chan struct{}
	readyClosed bool
	current     *call // handed to the runtime, not answered yet
	// answered remembers recent request ids so that a late or duplicate
	// answer gets InvalidRequestID; bounded, as a sandbox may live for
	// millions of invocations.
	answered     map[string]bool
	answeredRing []string
}

const answeredMemory = 64

// markAnswered must be called with mu held.
func (s *Server) markAnswered(id string) {
	if s.answered[id] {
		return
	}
	if len(s.answeredRing) == answeredMemory {
		delete(s.answered, s.answeredRing[0])
		s.answeredRing = s.answeredRing[1:]
	}
	s.answered[id] = true
	s.answeredRing = append(s.answeredRing, id)
}

// call is one invocation on its way through the server.
type call struct {
	inv  Invocation
	done chan Result
	// abandoned is set (under Server.mu) when Invoke gave up on the call.
	// It is per call, not per request id: a retried async event comes
	// back under the id it had, to the same warm instance.
	abandoned bool
}

// New starts serving the Runtime API on ln in a goroutine. Close stops it
// and closes ln.
func New(ln net.Listener, opts ...Option) *Server {
	s := &Server{
		log:         slog.New(slog.DiscardHandler),
		maxResponse: kumo.MaxSyncResponseBytes,
		served:      make(chan struct{}),
		closed:      make(chan struct{}),
		initDone:    make(chan struct{}),
		initFail:    make(chan struct{}),
		queue:       make(chan *call, 1),
		busy:        make(chan struct{}, 1),
		answered:    map[string]bool{},
		ready:       make(chan struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", s.handleNext)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", s.handleResponse)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", s.handleError)
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", s.handleInitError)
	mux.HandleFunc("POST /2020-01-01/extension/register", s.handleRegister)
	mux.HandleFunc("GET /2020-01-01/extension/event/next", s.handleExtensionNext)
	s.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("runtime api stopped serving", "error", err)
		}
	}()
	return s
}

// Close stops the server, closes its listener and fails pending calls
// with ErrClosed.
func (s *Server) Close() error {
	s.once.Do(func() {
		close(s.closed)
		s.closeErr = s.srv.Close()
		<-s.served
	})
	return s.closeErr
}

// WaitInit returns nil once the runtime has asked for its first event (its
// init is complete), an *InitError if it reported an init failure, or the
// context's error.
func (s *Server) WaitInit(ctx context.Context) error {
	select {
	case <-s.initFail:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.initErr
	case <-s.initDone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	}
}

// WaitReady returns nil once the runtime is parked in /next waiting for an
// event. A runtime that answered its last event may still exit (as
// aws-lambda-go does after a panic) or be slow to come back; callers that
// reuse an instance wait for this first so a dying runtime never receives
// the next event.
func (s *Server) WaitReady(ctx context.Context) error {
	s.mu.Lock()
	ch := s.ready
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return ErrClosed
	}
}

func (s *Server) setReady(parked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case parked && !s.readyClosed:
		close(s.ready)
		s.readyClosed = true
	case !parked && s.readyClosed:
		s.ready = make(chan struct{})
		s.readyClosed = false
	}
}

// Invoke hands inv to the runtime and waits for its response or error.
// When ctx ends first it returns ctx.Err(); the sandbox is then in an
// unknown state and the caller should destroy it. A response over the
// limit yields a Function.ResponseSizeTooLarge result, never a truncated
// payload.
func (s *Server) Invoke(ctx context.Context, inv Invocation) (Result, error) {
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	default:
		return Result{}, ErrBusy
	}
	select {
	case <-s.closed:
		return Result{}, ErrClosed
	default:
	}
	if inv.RequestID == "" {
		inv.RequestID = uuid.NewString()
	}
	if inv.TraceID == "" {
		inv.TraceID = newTraceID()
	}
	if inv.Deadline.IsZero() {
		if d, ok := ctx.Deadline(); ok {
			inv.Deadline = d
		} else {
			inv.Deadline = time.Now().Add(kumo.MaxTimeoutSeconds * time.Second)
		}
	}
	c := &call{inv: inv, done: make(chan Result, 1)}
	s.queue <- c // never blocks: busy admits one caller and it drains its own call
	select {
	case res := <-c.done:
		return res, nil
	case <-ctx.Done():
		s.abandon(c)
		return Result{}, ctx.Err()
	case <-s.closed:
		s.abandon(c)
		return Result{}, ErrClosed
	}
}

// abandon withdraws c whether or not the runtime has it already; a late
// answer then gets InvalidRequestID.
func (s *Server) abandon(c *call) {
	select {
	case <-s.queue:
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == c {
		s.current = nil
	}
	c.abandoned = true
	s.markAnswered(c.inv.RequestID)
}

func (s *Server) handleNext(w http.ResponseWriter, r *http.Request) {
	s.initOnce.Do(func() { close(s.initDone) })
	s.mu.Lock()
	if prev := s.current; prev != nil {
		// A runtime that asks for more work has given up on the event it
		// holds; fail that invocation now instead of at its timeout.
		s.current = nil
		s.markAnswered(prev.inv.RequestID)
		prev.done <- errorResult("Runtime.InvalidStateTransition",
			"runtime requested the next event before answering "+prev.inv.RequestID)
	}
	s.mu.Unlock()

	s.setReady(true)
	defer s.setReady(false)
	var c *call
	for c == nil {
		select {
		case c = <-s.queue:
		case <-r.Context().Done():
			return
		case <-s.closed:
			return
		}
		s.mu.Lock()
		if c.abandoned {
			// Invoke gave up on it between the dequeue and now.
			c = nil
		} else {
			s.current = c
		}
		s.mu.Unlock()
	}

	inv := c.inv
	h := w.Header()
	h.Set(headerRequestID, inv.RequestID)
	h.Set(headerDeadline, strconv.FormatInt(inv.Deadline.UnixMilli(), 10))
	h.Set(headerTraceID, inv.TraceID)
	h.Set("Content-Type", "application/json")
	// The runtime treats a present header as JSON to parse, so absent
	// values must not be sent as empty strings.
	setIf(h, headerFunctionARN, inv.InvokedFunctionARN)
	setIf(h, headerClientContext, inv.ClientContext)
	setIf(h, headerCognitoIdentity, inv.CognitoIdentity)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(inv.Payload); err != nil {
		s.log.Debug("deliver event", "request_id", inv.RequestID, "error", err)
	}
}

func setIf(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// claim checks that id is the invocation the runtime holds. It writes the
// RIE's error answer and returns nil when it is not.
func (s *Server) claim(w http.ResponseWriter, id string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.current != nil && s.current.inv.RequestID == id:
		return s.current
	case s.current == nil && !s.answered[id]:
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "no invocation "+id+" is in progress")
	default:
		writeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id "+id)
	}
	return nil
}

// complete delivers res for c unless the invocation was abandoned or
// answered meanwhile (a concurrent duplicate POST).
func (s *Server) complete(c *call, res Result) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != c {
		return false
	}
	s.current = nil
	s.markAnswered(c.inv.RequestID)
	c.done <- res
	return true
}

// readBody reads at most limit bytes; tooLarge reports a longer body, so a
// hostile runtime cannot make the daemon buffer more than limit+1 bytes.
func readBody(r *http.Request, limit int) (body []byte, tooLarge bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return nil, false, err
	}
	if len(body) > limit {
		return nil, true, nil
	}
	return body, false, nil
}

func (s *Server) handleResponse(w http.ResponseWriter, r *http.Request) {
	c := s.claim(w, r.PathValue("id"))
	if c == nil {
		return
	}
	body, tooLarge, err := readBody(r, s.maxResponse)
	var res Result
	switch {
	case err != nil:
		// The runtime broke the stream without trailers (for example it
		// died); the invocation has no valid response.
		res = errorResult("Runtime.InvalidResponse", "reading response: "+err.Error())
	case tooLarge:
		s.tooLarge(w, c)
		return
	default:
		res = Result{Payload: body}
		// Trailers exist only after the body was read to EOF. A non-empty
		// error type means a streamed response failed mid-way.
		if et := r.Trailer.Get(headerErrorType); et != "" {
			res = Result{ErrorType: et, Payload: trailerErrorBody(r.Trailer.Get(headerErrorBody), et)}
		}
	}
	s.answer(w, c, res)
}

func (s *Server) handleError(w http.ResponseWriter, r *http.Request) {
	c := s.claim(w, r.PathValue("id"))
	if c == nil {
		return
	}
	body, tooLarge, err := readBody(r, s.maxResponse)
	switch {
	case err != nil:
		s.answer(w, c, errorResult("Runtime.InvalidResponse", "reading error: "+err.Error()))
	case tooLarge:
		s.tooLarge(w, c)
	default:
		s.answer(w, c, functionError(r.Header.Get(headerErrorType), body, "Unhandled"))
	}
}

func (s *Server) answer(w http.ResponseWriter, c *call, res Result) {
	if !s.complete(c, res) {
		writeError(w, http.StatusBadRequest, "InvalidRequestID", "unknown or already answered request id "+c.inv.RequestID)
		return
	}
	writeAccepted(w)
}

func (s *Server) tooLarge(w http.ResponseWriter, c *call) {
	msg := fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", s.maxResponse)
	s.complete(c, errorResult(ErrorTypeResponseTooLarge, msg))
	writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", msg)
}

func (s *Server) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, tooLarge, err := readBody(r, maxInitErrorBytes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "reading init error: "+err.Error())
		return
	}
	if tooLarge {
		writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "init error body too large")
		return
	}
	select {
	case <-s.initDone:
		writeError(w, http.StatusForbidden, "InvalidStateTransition", "init already completed")
		return
	default:
	}
	res := functionError(r.Header.Get(headerErrorType), body, "Runtime.Unknown")
	s.mu.Lock()
	first := s.initErr == nil
	if first {
		s.initErr = &InitError{Payload: res.Payload, ErrorType: res.ErrorType}
	}
	s.mu.Unlock()
	if first {
		close(s.initFail)
	}
	writeAccepted(w)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if _, tooLarge, err := readBody(r, maxInitErrorBytes); err != nil || tooLarge {
		writeError(w, http.StatusBadRequest, "InvalidRequest", "unreadable register body")
		return
	}
	w.Header().Set(headerExtensionID, uuid.NewString())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{
		"functionName":    s.fnName,
		"functionVersion": s.fnVersion,
		"handler":         s.fnHandler,
	})
}

// handleExtensionNext blocks: kumo sends extensions no events, and
// aws-lambda-go's SIGTERM extension subscribes to none.
func (s *Server) handleExtensionNext(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closed:
	}
}

// functionError builds the Result for an error reported by the runtime.
// The type comes from the header, else the JSON body, else fallback; a body
// that is not JSON is wrapped so callers always get Lambda's error shape.
func functionError(headerType string, body []byte, fallback string) Result {
	var doc struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	isJSON := json.Unmarshal(body, &doc) == nil
	et := headerType
	if et == "" {
		et = doc.ErrorType
	}
	if et == "" {
		et = fallback
	}
	if !isJSON {
		return errorResult(et, string(body))
	}
	return Result{ErrorType: et, Payload: body}
}

// trailerErrorBody decodes the base64 error document aws-lambda-go puts in
// the trailer of a failed stream.
func trailerErrorBody(v, errorType string) []byte {
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && json.Valid(b) && len(b) > 0 {
		return b
	}
	if json.Valid([]byte(v)) && v != "" {
		return []byte(v)
	}
	return errorResult(errorType, "response stream failed").Payload
}

func errorResult(errorType, message string) Result {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errorType})
	return Result{ErrorType: errorType, Payload: b}
}

func writeAccepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func writeError(w http.ResponseWriter, status int, errorType, message string) {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errorType})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newTraceID makes an X-Ray header in AWS's format: Root=1-<epoch hex>-<96
// random bits>, a random parent and not sampled.
func newTraceID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0",
		time.Now().Unix(), hex.EncodeToString(b[:12]), hex.EncodeToString(b[12:]))
}
