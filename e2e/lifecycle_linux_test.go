package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sandboxCgroups lists the sandbox cgroups (children of the host's prefix)
// in one v1 hierarchy.
func sandboxCgroups(t *testing.T, dataDir, hierarchy string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("/sys/fs/cgroup", hierarchy, cgroupPrefix(t, dataDir)))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", hierarchy, cgroupPrefix(t, dataDir), e.Name()))
		}
	}
	return out
}

func TestRootLifecycle_FrozenBetweenInvocationsAndReaped(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h := newHost(t, dir, "--idle-timeout", "3s")
	name := h.createFn(t, "lc-freeze", a.fnZip)
	out, first := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)

	cgs := sandboxCgroups(t, dir, "freezer")
	require.Len(t, cgs, 1, "one sandbox serves the function")
	eventually(t, 10*time.Second, func() bool {
		st, err := os.ReadFile(filepath.Join(cgs[0], "freezer.state"))
		return err == nil && strings.TrimSpace(string(st)) == "FROZEN"
	}, "an idle sandbox is frozen")

	// Thawed for the next invocation, and the same instance serves it.
	out, second := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)
	require.Equal(t, first["instance"], second["instance"], "warm reuse")
	require.NotContains(t, decodeLog(t, out.LogResult), "Init Duration", "a warm invocation has no init")

	// Past the idle timeout the sandbox is destroyed, and the next
	// invocation is a cold start in a new instance.
	eventually(t, 30*time.Second, func() bool {
		return len(sandboxCgroups(t, dir, "memory")) == 0 && len(fnProcs(name)) == 0
	}, "idle sandbox reaped")
	out, third := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)
	require.NotEqual(t, first["instance"], third["instance"])
	require.Contains(t, decodeLog(t, out.LogResult), "Init Duration")
}

func TestRootLifecycle_OverlappingInvocationsRunInParallel(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "lc-par", a.fnZip)
	const n = 3
	var wg sync.WaitGroup
	instances := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, body := h.invoke(t, name, map[string]any{"mode": "sleep", "ms": 1500})
			assert.Nil(t, out.FunctionError, "%v", body)
			instances[i], _ = body["instance"].(string)
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range instances {
		require.NotEmpty(t, id)
		seen[id] = true
	}
	require.Len(t, seen, n, "each overlapping invocation gets its own instance: %v", instances)
}

func TestRootLifecycle_ShutdownLetsInFlightFinish(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h := newHost(t, dir, "--shutdown-grace", "20s")
	name := h.createFn(t, "lc-grace", a.fnZip)
	h.invoke(t, name, map[string]any{"mode": "echo"}) // warm, so the timing below is the sleep's

	type result struct {
		out *lambda.InvokeOutput
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.lambda.Invoke(context.Background(), &lambda.InvokeInput{
			FunctionName: aws.String(name), Payload: []byte(`{"mode":"sleep","ms":2000}`),
		})
		done <- result{out, err}
	}()
	time.Sleep(500 * time.Millisecond) // the invocation is inside its sleep
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGTERM))
	r := <-done
	require.NoError(t, r.err, "an invocation in flight at SIGTERM completes")
	require.Nil(t, r.out.FunctionError, "%s", r.out.Payload)
	require.Contains(t, string(r.out.Payload), `"slept_ms":2000`)
	require.NoError(t, h.stop(), "clean exit")
	requireNoLeftovers(t, dir, name)
}

func TestRootLifecycle_ShutdownGraceCutsLongInvocations(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h := newHost(t, dir, "--shutdown-grace", "1s")
	name := h.createFn(t, "lc-cut", a.fnZip, withTimeout(60))
	h.invoke(t, name, map[string]any{"mode": "echo"})

	done := make(chan error, 1)
	go func() {
		_, err := h.lambda.Invoke(context.Background(), &lambda.InvokeInput{
			FunctionName: aws.String(name), Payload: []byte(`{"mode":"sleep","ms":30000}`),
		})
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	began := time.Now()
	require.NoError(t, h.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		// A service error (or the connection closing) tells the caller the
		// invocation did not complete; never a fabricated success.
		require.Error(t, err)
		t.Logf("caller got: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the cut invocation's caller was left hanging")
	}
	require.NoError(t, h.stop(), "clean exit")
	require.Less(t, time.Since(began), 25*time.Second, "shutdown does not wait for the whole invocation")
	requireNoLeftovers(t, dir, name)
}
