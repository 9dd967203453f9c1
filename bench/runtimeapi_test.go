package bench_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runtimeAPI is the smallest Lambda Runtime API that aws-lambda-go accepts:
// GET next hands out one queued event, POST response (or error) completes
// it. The baselines use one per process so that a killed process's pending
// GET next can never take the next sample's event.
type runtimeAPI struct {
	ln      net.Listener
	srv     *http.Server
	events  chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     atomic.Int64
}

type invocation struct {
	id      string
	payload []byte
	done    chan result
}

type result struct {
	body []byte
	err  error
}

const functionARN = "arn:aws:lambda:local:000000000000:function:bench"

func newRuntimeAPI() (*runtimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen runtime api: %w", err)
	}
	a := &runtimeAPI{ln: ln, events: make(chan *invocation, 1), pending: map[string]*invocation{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", a.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", a.complete(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", a.complete(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.failAll(fmt.Errorf("init error: %s", body))
		w.WriteHeader(http.StatusAccepted)
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (a *runtimeAPI) Addr() string { return a.ln.Addr().String() }

// Close stops serving; pending invocations fail.
func (a *runtimeAPI) Close() error {
	err := a.srv.Close()
	a.failAll(errors.New("runtime api closed"))
	return err
}

// Invoke queues an event and waits for the function's answer.
func (a *runtimeAPI) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	inv := &invocation{
		id:      "req-" + strconv.FormatInt(a.seq.Add(1), 10),
		payload: payload,
		done:    make(chan result, 1),
	}
	a.mu.Lock()
	a.pending[inv.id] = inv
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.pending, inv.id)
		a.mu.Unlock()
	}()
	select {
	case a.events <- inv:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-inv.done:
		return r.body, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *runtimeAPI) next(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-a.events:
	case <-r.Context().Done():
		return
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", functionARN)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.payload)
}

func (a *runtimeAPI) complete(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		inv := a.pending[r.PathValue("id")]
		a.mu.Unlock()
		if inv == nil {
			http.Error(w, "unknown request id", http.StatusBadRequest)
			return
		}
		res := result{body: body}
		if isError {
			res = result{err: fmt.Errorf("function error: %s", body)}
		}
		select {
		case inv.done <- res:
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	}
}

func (a *runtimeAPI) failAll(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, inv := range a.pending {
		select {
		case inv.done <- result{err: err}:
		default:
		}
	}
}
