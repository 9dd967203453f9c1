package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// kumo runs the kumo CLI against h and returns stdout, stderr and the exit
// status.
func (h *host) kumo(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, append(args, "--data-dir", h.dataDir, "--endpoint", h.endpoint)...)
	cmd.Env = h.cliEnv("")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	rc := 0
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "kumo %v", args)
		rc = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), rc
}

func TestRootCLI_KumoInvokeAndLogs(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "kumo-cli", artifacts(t).fnZip)
	var requestIDs []string

	t.Run("invoke", func(t *testing.T) {
		stdout, stderr, rc := h.kumo(t, "invoke", name, "--payload", `{"mode":"echo","x":"y"}`)
		require.Equal(t, 0, rc, "stderr: %s", stderr)
		var body map[string]any
		require.NoError(t, json.Unmarshal([]byte(stdout), &body), stdout)
		require.Equal(t, map[string]any{"mode": "echo", "x": "y"}, body["event"])
		requestIDs = append(requestIDs, body["request_id"].(string))
	})
	t.Run("invoke function error exits 1", func(t *testing.T) {
		stdout, stderr, rc := h.kumo(t, "invoke", name, "--payload", `{"mode":"error"}`)
		require.Equal(t, 1, rc, "stdout: %s stderr: %s", stdout, stderr)
		require.JSONEq(t, `{"errorMessage":"requested failure","errorType":"errorString"}`, strings.TrimSpace(stdout))
	})
	t.Run("invoke asynchronously and dry run", func(t *testing.T) {
		stdout, stderr, rc := h.kumo(t, "invoke", name, "--invocation-type", "Event", "--payload", `{"mode":"echo"}`)
		require.Equal(t, 0, rc, "stderr: %s", stderr)
		require.JSONEq(t, `{"StatusCode": 202}`, strings.TrimSpace(stdout))
		stdout, stderr, rc = h.kumo(t, "invoke", name, "--invocation-type", "DryRun")
		require.Equal(t, 0, rc, "stderr: %s", stderr)
		require.JSONEq(t, `{"StatusCode": 204}`, strings.TrimSpace(stdout))
		_, _, rc = h.kumo(t, "invoke", name, "--invocation-type", "Sometimes")
		require.NotEqual(t, 0, rc, "an unknown invocation type is refused")
	})
	t.Run("invoke missing function", func(t *testing.T) {
		_, stderr, rc := h.kumo(t, "invoke", "kumo-cli-no-such-fn")
		require.NotEqual(t, 0, rc)
		require.Contains(t, stderr, "ResourceNotFoundException")
	})
	t.Run("logs", func(t *testing.T) {
		require.NotEmpty(t, requestIDs)
		id := requestIDs[0]
		var stdout string
		eventually(t, 30*time.Second, func() bool {
			var rc int
			stdout, _, rc = h.kumo(t, "logs", name)
			return rc == 0 && strings.Contains(stdout, "REPORT RequestId: "+id)
		}, "kumo logs shows the invocation %s", id)
		require.Contains(t, stdout, "START RequestId: "+id)
		require.Contains(t, stdout, "END RequestId: "+id)
		require.Contains(t, stdout, "instance=", "function output is in the log")
	})
	t.Run("logs --follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		cmd := exec.CommandContext(ctx, h.bin, "logs", name, "--follow", "--data-dir", h.dataDir, "--endpoint", h.endpoint)
		cmd.Env = h.cliEnv("")
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = 10 * time.Second
		var out, errOut logBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()

		time.Sleep(500 * time.Millisecond) // let it reach the end of the existing log
		_, body := h.invoke(t, name, map[string]any{"mode": "echo", "follow": true})
		id := body["request_id"].(string)
		eventually(t, 30*time.Second, func() bool { return strings.Contains(out.Since(0), "REPORT RequestId: "+id) },
			"kumo logs --follow prints the new invocation %s; got:\n%s\nstderr: %s", id, tail(out.Since(0), 2048), errOut.Since(0))
		require.Contains(t, out.Since(0), "START RequestId: "+id)
		cancel()
		select {
		case err := <-done:
			// Wait reports the cancelled context; the exit status is what counts.
			st := cmd.ProcessState
			require.NotNil(t, st, "wait: %v", err)
			require.Equal(t, 0, st.ExitCode(), "kumo logs --follow after SIGINT: %v; stderr: %s", st, errOut.Since(0))
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("kumo logs --follow did not exit after SIGINT")
		}
	})
}
