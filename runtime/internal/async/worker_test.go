package async_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/async"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

var scope = kumo.Scope{Region: "local", Account: "000000000000"}

// invoker stands in for the invoke path: sandboxes are tested elsewhere;
// here the subject is what the workers do with each outcome.
type invoker struct {
	mu sync.Mutex
	// outcome decides a RequestResponse run of function, given how many
	// runs it had before.
	outcome func(function string, n int) (invoke.Response, error)
	runs    map[string][]invoke.Request // RequestResponse, by function
	events  map[string][]invoke.Request // Event (records for function destinations), by function
}

func newInvoker(outcome func(string, int) (invoke.Response, error)) *invoker {
	return &invoker{outcome: outcome, runs: map[string][]invoke.Request{}, events: map[string][]invoke.Request{}}
}

func (f *invoker) Invoke(_ context.Context, req invoke.Request) (invoke.Response, error) {
	ref, err := scope.ParseFunctionName(req.FunctionName)
	if err != nil {
		return invoke.Response{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.InvocationType == invoke.TypeEvent {
		f.events[ref.Name] = append(f.events[ref.Name], req)
		return invoke.Response{StatusCode: 202, RequestID: req.RequestID}, nil
	}
	n := len(f.runs[ref.Name])
	resp, err := f.outcome(ref.Name, n)
	if err == nil || !errors.Is(err, kumo.ErrTooManyRequests) {
		f.runs[ref.Name] = append(f.runs[ref.Name], req)
	} else {
		f.runs[ref.Name+"#throttled"] = append(f.runs[ref.Name+"#throttled"], req)
	}
	resp.RequestID = req.RequestID
	resp.ExecutedVersion = kumo.VersionLatest
	return resp, err
}

func (f *invoker) count(key string, events bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if events {
		return len(f.events[key])
	}
	return len(f.runs[key])
}

func (f *invoker) event(key string, i int) invoke.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.events[key][i]
}

func ok(string, int) (invoke.Response, error) {
	return invoke.Response{StatusCode: 200, Payload: []byte(`{"ok":true}`)}, nil
}

func failing(string, int) (invoke.Response, error) {
	return invoke.Response{StatusCode: 200, FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"requested failure","errorType":"errorString"}`)}, nil
}

type env struct {
	st    *store.Store
	q     *async.Queue
	w     *async.Worker
	inv   *invoker
	clock *clock
}

type clock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func newEnv(t *testing.T, st *store.Store, inv *invoker, qopts ...async.QueueOption) *env {
	t.Helper()
	q, err := async.NewQueue(t.Context(), st.JetStream(), 1, qopts...)
	require.NoError(t, err)
	c := &clock{}
	w := async.NewWorker(q, inv, st, scope, async.WithLogger(testLogger(t)), async.WithSlots(4), async.WithRetryDelay(50*time.Millisecond), async.WithClock(c.now))
	return &env{st: st, q: q, w: w, inv: inv, clock: c}
}

func (e *env) start(t *testing.T) {
	t.Helper()
	require.NoError(t, e.w.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.w.Wait(ctx)
	})
}

func createFunction(t *testing.T, st *store.Store, name, dlq string) {
	t.Helper()
	_, err := st.CreateFunction(t.Context(), &kumo.Function{
		Name: name, Role: "arn:aws:iam::000000000000:role/x", Timeout: 3, MemorySize: 128,
		PackageType: kumo.PackageZip, State: kumo.StateActive, RevisionID: uuid.NewString(),
		LastModified: time.Now(), DeadLetterTarget: dlq,
	})
	require.NoError(t, err)
}

func putConfig(t *testing.T, st *store.Store, name string, cfg kumo.EventInvokeConfig) {
	t.Helper()
	if cfg.Qualifier == "" {
		cfg.Qualifier = kumo.VersionLatest
	}
	_, err := st.PutEventInvokeConfigs(t.Context(), name, []kumo.EventInvokeConfig{cfg}, 0)
	require.NoError(t, err)
}

func (e *env) enqueue(t *testing.T, name, payload string) string {
	t.Helper()
	id := uuid.NewString()
	require.NoError(t, e.q.Enqueue(t.Context(), invoke.Event{RequestID: id, Function: name, Payload: []byte(payload), EnqueuedAt: time.Now().UTC()}))
	return id
}

func (e *env) requireDrained(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := e.q.Pending(t.Context())
		return err == nil && n == 0
	}, 15*time.Second, 20*time.Millisecond, "queue drains")
}

// subscribe collects what is published on subject (core NATS, no stream).
func subscribe(t *testing.T, st *store.Store, subject string) *collector {
	t.Helper()
	c := &collector{}
	sub, err := st.JetStream().Conn().Subscribe(subject, func(m *nats.Msg) {
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
	})
	require.NoError(t, err)
	require.NoError(t, st.JetStream().Conn().Flush())
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return c
}

type collector struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (c *collector) all() []*nats.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*nats.Msg(nil), c.msgs...)
}

func decodeRecord(t *testing.T, b []byte) async.Record {
	t.Helper()
	var r async.Record
	require.NoError(t, json.Unmarshal(b, &r), "record %s", b)
	return r
}

func intp(n int) *int { return &n }

func TestWorker_SuccessRunsOnceWithTheEventID(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(ok))
	createFunction(t, st, "fn", "")
	putConfig(t, st, "fn", kumo.EventInvokeConfig{OnSuccess: scope.NATSDestinationARN("results.fn")})
	got := subscribe(t, st, "results.fn")
	e.start(t)
	id := e.enqueue(t, "fn", `{"n":1}`)
	e.requireDrained(t)
	require.Eventually(t, func() bool { return len(got.all()) == 1 }, 5*time.Second, 10*time.Millisecond)

	require.Equal(t, 1, e.inv.count("fn", false))
	run := e.inv.runs["fn"][0]
	assert.Equal(t, id, run.RequestID, "the run carries the event's request id")
	assert.Equal(t, invoke.TypeRequestResponse, run.InvocationType)
	assert.JSONEq(t, `{"n":1}`, string(run.Payload))

	msg := got.all()[0]
	assert.Equal(t, id, msg.Header.Get(async.HeaderRequestID))
	rec := decodeRecord(t, msg.Data)
	assert.Equal(t, "1.0", rec.Version)
	assert.Equal(t, async.RequestContext{RequestID: id, FunctionArn: "arn:aws:lambda:local:000000000000:function:fn:$LATEST", Condition: "Success", ApproximateInvokeCount: 1}, rec.RequestContext)
	assert.JSONEq(t, `{"n":1}`, string(rec.RequestPayload))
	assert.JSONEq(t, `{"ok":true}`, string(rec.ResponsePayload))
	require.NotNil(t, rec.ResponseContext)
	assert.Equal(t, async.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST"}, *rec.ResponseContext)
	_, err := time.Parse(time.RFC3339, rec.Timestamp)
	assert.NoError(t, err)
}

func TestWorker_FunctionErrorSpendsRetries(t *testing.T) {
	t.Parallel()
	for _, retries := range []int{0, 1, 2} {
		t.Run(string(rune('0'+retries)), func(t *testing.T) {
			t.Parallel()
			st := openStore(t, t.TempDir())
			e := newEnv(t, st, newInvoker(failing))
			createFunction(t, st, "fn", scope.NATSDestinationARN("dlq.fn"))
			createFunction(t, st, "dest", "")
			putConfig(t, st, "fn", kumo.EventInvokeConfig{
				MaximumRetryAttempts: intp(retries),
				OnFailure:            scope.FunctionARN("dest"),
			})
			dlq := subscribe(t, st, "dlq.fn")
			e.start(t)
			id := e.enqueue(t, "fn", `{"mode":"error"}`)
			e.requireDrained(t)
			require.Eventually(t, func() bool { return e.inv.count("dest", true) == 1 && len(dlq.all()) == 1 }, 5*time.Second, 10*time.Millisecond)

			assert.Equal(t, retries+1, e.inv.count("fn", false), "1 attempt + %d retries", retries)
			for _, r := range e.inv.runs["fn"] {
				assert.Equal(t, id, r.RequestID)
			}
			rec := decodeRecord(t, e.inv.event("dest", 0).Payload)
			assert.Equal(t, "RetriesExhausted", rec.RequestContext.Condition)
			assert.Equal(t, retries+1, rec.RequestContext.ApproximateInvokeCount)
			assert.Equal(t, id, rec.RequestContext.RequestID)
			require.NotNil(t, rec.ResponseContext)
			assert.Equal(t, "Unhandled", rec.ResponseContext.FunctionError)
			assert.JSONEq(t, `{"errorMessage":"requested failure","errorType":"errorString"}`, string(rec.ResponsePayload))

			dead := dlq.all()[0]
			assert.JSONEq(t, `{"mode":"error"}`, string(dead.Data), "the dead letter is the original event")
			assert.Equal(t, id, dead.Header.Get(async.HeaderRequestID))
			assert.Equal(t, "RetriesExhausted", dead.Header.Get(async.HeaderCondition))
			// Nothing runs again later.
			time.Sleep(300 * time.Millisecond)
			assert.Equal(t, retries+1, e.inv.count("fn", false))
		})
	}
}

func TestWorker_ThrottleDoesNotSpendRetries(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	const throttles = 4
	var mu sync.Mutex
	throttled := 0
	inv := newInvoker(func(_ string, n int) (invoke.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		if throttled < throttles {
			throttled++
			return invoke.Response{}, &kumo.Error{Kind: kumo.ErrTooManyRequests, Message: "Rate Exceeded."}
		}
		if n == 0 {
			return failing("", n)
		}
		return ok("", n)
	})
	e := newEnv(t, st, inv)
	createFunction(t, st, "fn", "")
	putConfig(t, st, "fn", kumo.EventInvokeConfig{MaximumRetryAttempts: intp(1), OnSuccess: scope.FunctionARN("dest")})
	e.start(t)
	e.enqueue(t, "fn", `{}`)
	e.requireDrained(t)
	require.Eventually(t, func() bool { return e.inv.count("dest", true) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, throttles, e.inv.count("fn#throttled", false))
	assert.Equal(t, 2, e.inv.count("fn", false), "one failed run, one retry that succeeded: throttles spent nothing")
	rec := decodeRecord(t, e.inv.event("dest", 0).Payload)
	assert.Equal(t, "Success", rec.RequestContext.Condition)
	assert.Equal(t, 2, rec.RequestContext.ApproximateInvokeCount)
}

func TestWorker_ServiceErrorsRetryUntilTheEventExpires(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(func(string, int) (invoke.Response, error) {
		return invoke.Response{}, errors.New("sandbox start: no space left on device")
	}))
	createFunction(t, st, "fn", "")
	putConfig(t, st, "fn", kumo.EventInvokeConfig{MaximumEventAgeInSeconds: intp(60), OnFailure: scope.FunctionARN("dest")})
	e.start(t)
	e.enqueue(t, "fn", `{}`)
	// Several deliveries fail without spending anything...
	time.Sleep(500 * time.Millisecond)
	n, err := e.q.Pending(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(1), n, "still queued")
	require.Equal(t, 0, e.inv.count("dest", true))
	// ...until the event is older than its maximum age.
	e.clock.advance(61 * time.Second)
	e.requireDrained(t)
	require.Eventually(t, func() bool { return e.inv.count("dest", true) == 1 }, 5*time.Second, 10*time.Millisecond)
	rec := decodeRecord(t, e.inv.event("dest", 0).Payload)
	assert.Equal(t, "EventAgeExceeded", rec.RequestContext.Condition)
	assert.Equal(t, 0, rec.RequestContext.ApproximateInvokeCount)
}

func TestWorker_ExpiredEventIsNotRunAndIsRecorded(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(ok))
	createFunction(t, st, "fn", "")
	id := e.enqueue(t, "fn", `{}`)
	// The default maximum age is 6 hours.
	e.clock.advance(6*time.Hour + time.Second)
	e.start(t)
	e.requireDrained(t)
	assert.Equal(t, 0, e.inv.count("fn", false), "an expired event is not run")
	require.Eventually(t, func() bool {
		recs, err := st.ReadLogs(t.Context(), "fn", 0, 100)
		require.NoError(t, err)
		for _, r := range recs {
			if r.RequestID == id && assert.Contains(t, string(r.Data), "Condition: EventAgeExceeded") {
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond, "with no destination the expiry is recorded in the function's log")
}

func TestWorker_DeletedFunctionIsRecordedNotRetried(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(func(fn string, _ int) (invoke.Response, error) {
		return invoke.Response{}, kumo.NotFound("Function not found: %s", fn)
	}))
	dlq := subscribe(t, st, "dlq.gone")
	createFunction(t, st, "gone", scope.NATSDestinationARN("dlq.gone"))
	e.start(t)
	e.enqueue(t, "gone", `{"x":1}`)
	e.requireDrained(t)
	require.Eventually(t, func() bool { return len(dlq.all()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, e.inv.count("gone", false))
	assert.Contains(t, dlq.all()[0].Header.Get(async.HeaderErrorMessage), "Function not found")
}

func TestWorker_NATSDestinationUsesJetStreamWhenAStreamCaptures(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(ok))
	js := st.JetStream()
	s, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "RESULTS", Subjects: []string{"results.>"}})
	require.NoError(t, err)
	createFunction(t, st, "fn", "")
	putConfig(t, st, "fn", kumo.EventInvokeConfig{OnSuccess: scope.NATSDestinationARN("results.ok")})
	e.start(t)
	id := e.enqueue(t, "fn", `{}`)
	e.requireDrained(t)
	require.Eventually(t, func() bool {
		info, err := s.Info(t.Context())
		return err == nil && info.State.Msgs == 1
	}, 5*time.Second, 10*time.Millisecond)
	m, err := s.GetLastMsgForSubject(t.Context(), "results.ok")
	require.NoError(t, err)
	assert.Equal(t, id, m.Header.Get(async.HeaderRequestID))
	assert.Equal(t, "Success", decodeRecord(t, m.Data).RequestContext.Condition)
}

func TestWorker_MoverFinishesMaxDeliveredEvents(t *testing.T) {
	t.Parallel()
	st := openStore(t, t.TempDir())
	e := newEnv(t, st, newInvoker(ok), async.WithMaxDeliver(1), async.WithAckWait(300*time.Millisecond))
	createFunction(t, st, "fn", "")
	putConfig(t, st, "fn", kumo.EventInvokeConfig{OnFailure: scope.FunctionARN("dest")})
	id := e.enqueue(t, "fn", `{"stuck":true}`)

	// A host takes the event and dies without a word: its only delivery
	// times out, and JetStream will not deliver it again.
	cons, err := st.JetStream().Consumer(t.Context(), "KUMO_ASYNC", "workers")
	require.NoError(t, err)
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	require.NoError(t, err)
	n := 0
	for range batch.Messages() {
		n++
	}
	require.Equal(t, 1, n)

	e.start(t)
	e.requireDrained(t)
	require.Eventually(t, func() bool { return e.inv.count("dest", true) == 1 }, 10*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0, e.inv.count("fn", false), "a max-delivered event is finished, not run")
	rec := decodeRecord(t, e.inv.event("dest", 0).Payload)
	assert.Equal(t, id, rec.RequestContext.RequestID)
	assert.Equal(t, "RetriesExhausted", rec.RequestContext.Condition)
}

func TestQueue_EventsSurviveAReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st1, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	createFunction(t, st1, "fn", "")
	q1, err := async.NewQueue(t.Context(), st1.JetStream(), 1)
	require.NoError(t, err)
	var ids []string
	for range 5 {
		id := uuid.NewString()
		require.NoError(t, q1.Enqueue(t.Context(), invoke.Event{RequestID: id, Function: "fn", Payload: []byte(`{}`)}))
		ids = append(ids, id)
	}
	require.NoError(t, st1.Close())

	st2 := openStore(t, dir)
	e := newEnv(t, st2, newInvoker(ok))
	e.start(t)
	e.requireDrained(t)
	var ran []string
	for _, r := range e.inv.runs["fn"] {
		ran = append(ran, r.RequestID)
	}
	assert.ElementsMatch(t, ids, ran)
}

func TestQueue_EnqueueFailsClosed(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	q, err := async.NewQueue(t.Context(), st.JetStream(), 1)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	err = q.Enqueue(t.Context(), invoke.Event{RequestID: uuid.NewString(), Function: "fn", Payload: []byte(`{}`)})
	require.ErrorIs(t, err, kumo.ErrServiceUnavailable)
}

// testLogger writes the worker's log into the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
