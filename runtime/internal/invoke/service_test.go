package invoke_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/node"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

var scope = kumo.Scope{Region: "local", Account: "000000000000"}

// runner stands in for the node: sandboxes are tested in package sandbox
// and end to end; here the subject is resolution, admission and logging.
type runner struct {
	mu       sync.Mutex
	release  chan struct{}
	running  int
	ran      []string // RevisionIDs run
	forgot   []string
	prepared []string
	out      node.Outcome
}

func (r *runner) Run(ctx context.Context, fn *kumo.Function, inv node.Invocation) (node.Outcome, error) {
	r.mu.Lock()
	r.running++
	r.ran = append(r.ran, fn.RevisionID)
	release := r.release
	r.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	r.mu.Lock()
	r.running--
	r.mu.Unlock()
	out := r.out
	out.Log = []byte("START RequestId: " + inv.RequestID + "\nhello\nEND\n")
	return out, nil
}

func (r *runner) Forget(name, version, keep string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgot = append(r.forgot, name+":"+version+"@"+keep)
}

func (r *runner) Prepare(fn *kumo.Function) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prepared = append(r.prepared, fn.RevisionID)
}

func newService(t *testing.T, opts ...invoke.Option) (*invoke.Service, *runner, *store.Store) {
	t.Helper()
	st, err := store.Open(t.Context(), store.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	r := &runner{out: node.Outcome{Payload: []byte(`{"ok":true}`)}}
	svc := invoke.New(r, st, scope, opts...)
	t.Cleanup(svc.Close)
	return svc, r, st
}

func putFunction(t *testing.T, st *store.Store, name, revision string, at time.Time) *kumo.Function {
	t.Helper()
	f := &kumo.Function{Name: name, Role: "r", Runtime: "provided.al2023", Handler: "bootstrap", MemorySize: 128, Timeout: 3,
		State: kumo.StateActive, LastUpdateStatus: kumo.UpdateSuccess, RevisionID: revision, LastModified: at, ImageDigest: "sha256:00"}
	if _, rev, err := st.GetFunction(t.Context(), name); err == nil {
		_, err = st.UpdateFunction(t.Context(), f, rev)
		require.NoError(t, err)
	} else {
		_, err = st.CreateFunction(t.Context(), f)
		require.NoError(t, err)
	}
	return f
}

func TestInvoke_ResolvesAndReports(t *testing.T) {
	t.Parallel()
	svc, r, st := newService(t)
	putFunction(t, st, "fn", "rev-1", time.Now())

	resp, err := svc.Invoke(t.Context(), invoke.Request{FunctionName: "arn:aws:lambda:local:000000000000:function:fn:$LATEST", InvocationType: invoke.TypeRequestResponse, Tail: true})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "$LATEST", resp.ExecutedVersion)
	assert.JSONEq(t, `{"ok":true}`, string(resp.Payload))
	assert.Empty(t, resp.FunctionError)
	assert.Contains(t, string(resp.LogTail), "START RequestId: "+resp.RequestID)

	r.out = node.Outcome{Payload: []byte(`{"errorType":"x"}`), ErrorType: "x"}
	resp, err = svc.Invoke(t.Context(), invoke.Request{FunctionName: "fn", InvocationType: invoke.TypeRequestResponse})
	require.NoError(t, err)
	assert.Equal(t, "Unhandled", resp.FunctionError)
	assert.Nil(t, resp.LogTail, "no tail unless asked for")

	resp, err = svc.Invoke(t.Context(), invoke.Request{FunctionName: "fn", InvocationType: invoke.TypeDryRun})
	require.NoError(t, err)
	assert.Equal(t, 204, resp.StatusCode)
	assert.Len(t, r.ran, 2, "a dry run runs nothing")

	// The log record reaches the store, off the invocation's path.
	require.Eventually(t, func() bool {
		recs, err := st.ReadLogs(t.Context(), "fn", 0, 10)
		return err == nil && len(recs) == 2
	}, 10*time.Second, 10*time.Millisecond)

	tests := []struct {
		name string
		req  invoke.Request
		kind error
	}{
		{"missing", invoke.Request{FunctionName: "nope"}, kumo.ErrNotFound},
		{"unpublished version", invoke.Request{FunctionName: "fn", Qualifier: "1"}, kumo.ErrNotFound},
		{"alias in name", invoke.Request{FunctionName: "fn:live"}, kumo.ErrNotFound},
		{"conflicting qualifiers", invoke.Request{FunctionName: "fn:1", Qualifier: "2"}, kumo.ErrInvalidParameter},
		{"bad qualifier", invoke.Request{FunctionName: "fn", Qualifier: "a b"}, kumo.ErrInvalidParameter},
		{"bad name", invoke.Request{FunctionName: "f n"}, kumo.ErrInvalidParameter},
		{"other account", invoke.Request{FunctionName: "arn:aws:lambda:local:111111111111:function:fn"}, kumo.ErrInvalidParameter},
		{"event", invoke.Request{FunctionName: "fn", InvocationType: invoke.TypeEvent}, kumo.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.InvocationType == "" {
				tc.req.InvocationType = invoke.TypeRequestResponse
			}
			_, err := svc.Invoke(t.Context(), tc.req)
			require.ErrorIs(t, err, tc.kind)
		})
	}
}

func TestInvoke_ConcurrencyLimitIsExact(t *testing.T) {
	t.Parallel()
	const limit = 3
	svc, r, st := newService(t, invoke.WithConcurrency(limit))
	putFunction(t, st, "slow", "rev-1", time.Now())
	r.release = make(chan struct{})

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Invoke(t.Context(), invoke.Request{FunctionName: "slow", InvocationType: invoke.TypeRequestResponse})
			errs <- err
		}()
	}
	// Seven are turned away at once while three hold their slots.
	var throttled []error
	for len(throttled) < 10-limit {
		err := <-errs
		require.Error(t, err)
		throttled = append(throttled, err)
	}
	r.mu.Lock()
	assert.Equal(t, limit, r.running)
	r.mu.Unlock()
	for _, err := range throttled {
		require.ErrorIs(t, err, kumo.ErrTooManyRequests)
		var kerr *kumo.Error
		require.ErrorAs(t, err, &kerr)
		assert.Equal(t, "ConcurrentInvocationLimitExceeded", kerr.Reason)
	}
	close(r.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// Slots are free again.
	_, err := svc.Invoke(t.Context(), invoke.Request{FunctionName: "slow", InvocationType: invoke.TypeRequestResponse})
	require.NoError(t, err)
}

func TestObserve_NewerWins(t *testing.T) {
	t.Parallel()
	svc, r, st := newService(t)
	now := time.Now()
	newer := putFunction(t, st, "fn", "rev-2", now)
	older := newer.Clone()
	older.RevisionID, older.LastModified = "rev-1", now.Add(-time.Second)

	svc.Observe("fn", newer)
	svc.Observe("fn", older) // a late watch event
	_, err := svc.Invoke(t.Context(), invoke.Request{FunctionName: "fn", InvocationType: invoke.TypeRequestResponse})
	require.NoError(t, err)
	assert.Equal(t, []string{"rev-2"}, r.ran, "an older value never replaces a newer one")
	assert.Equal(t, []string{"fn:$LATEST@rev-2"}, r.forgot)
	assert.Equal(t, []string{"rev-2"}, r.prepared)

	svc.Observe("fn", nil)
	assert.Equal(t, "fn:@", r.forgot[len(r.forgot)-1], "a delete retires every instance of every version")
	require.NoError(t, st.DeleteFunction(t.Context(), "fn"))
	_, err = svc.Invoke(t.Context(), invoke.Request{FunctionName: "fn", InvocationType: invoke.TypeRequestResponse})
	require.ErrorIs(t, err, kumo.ErrNotFound)
}
