package sandbox_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
)

// TestSandboxRoot_ConcurrentLambda starts several aws-lambda-go sandboxes
// at once and invokes each through its own Runtime API listener.
func TestSandboxRoot_ConcurrentLambda(t *testing.T) {
	m, _, _ := newManager(t)
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- runEcho(t, m, i)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}

func runEcho(t *testing.T, m *sandbox.Manager, i int) error {
	cfg := baseConfig(t, "/var/task/echo")
	cfg.Env = append(cfg.Env, "AWS_LAMBDA_RUNTIME_API="+sandbox.RuntimeAPIAddr, fmt.Sprintf("INSTANCE=%d", i))
	var out syncBuffer
	cfg.Stdout, cfg.Stderr = &out, &out
	s, err := m.Create(t.Context(), cfg)
	if err != nil {
		return fmt.Errorf("create %d: %w (output %q)", i, err, out.String())
	}
	defer s.Destroy()
	api := runtimeapi.New(s.Listener())
	defer api.Close()
	if err := api.WaitInit(t.Context()); err != nil {
		return fmt.Errorf("init %d: %w (output %s)", i, err, out.String())
	}
	for range 3 {
		res, err := api.Invoke(t.Context(), runtimeapi.Invocation{
			Payload:  []byte(`{"env":"INSTANCE"}`),
			Deadline: time.Now().Add(time.Minute),
		})
		if err != nil {
			return fmt.Errorf("invoke %d: %w", i, err)
		}
		var got string
		if err := json.Unmarshal(res.Payload, &got); err != nil || got != fmt.Sprint(i) || res.ErrorType != "" {
			return fmt.Errorf("invoke %d: got %q (%s), error %v", i, res.Payload, res.ErrorType, err)
		}
	}
	// Freeze between invocations, as the warm pool does.
	if err := s.Pause(); err != nil {
		return err
	}
	if err := s.Resume(); err != nil {
		return err
	}
	res, err := api.Invoke(t.Context(), runtimeapi.Invocation{Payload: []byte(`{"panic":"boom"}`)})
	if err != nil {
		return fmt.Errorf("invoke panic %d: %w", i, err)
	}
	if res.ErrorType == "" {
		return fmt.Errorf("invoke panic %d: no error type in %s", i, res.Payload)
	}
	select {
	case <-s.Exited():
	case <-time.After(30 * time.Second):
		return fmt.Errorf("sandbox %d still running after panic", i)
	}
	if s.ExitErr() == nil || s.OOMKilled() {
		return fmt.Errorf("sandbox %d: exit %v, oom %v", i, s.ExitErr(), s.OOMKilled())
	}
	return nil
}

func TestSandboxRoot_InvokeTimeoutThenDestroy(t *testing.T) {
	m, _, _ := newManager(t)
	cfg := baseConfig(t, "/var/task/echo")
	cfg.Env = append(cfg.Env, "AWS_LAMBDA_RUNTIME_API="+sandbox.RuntimeAPIAddr)
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	api := runtimeapi.New(s.Listener())
	defer api.Close()
	require.NoError(t, api.WaitInit(t.Context()))
	ctx, cancel := contextWithTimeout(t, 100*time.Millisecond)
	defer cancel()
	_, err = api.Invoke(ctx, runtimeapi.Invocation{Payload: []byte(`{"sleep_ms":60000}`), Deadline: time.Now().Add(time.Hour)})
	require.ErrorIs(t, err, ctx.Err())
	require.NoError(t, s.Destroy())
	assert.EqualError(t, s.ExitErr(), "signal: killed")
	assert.False(t, s.OOMKilled())
	assert.Positive(t, s.MaxMemoryUsedBytes())
}
