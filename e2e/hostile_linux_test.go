package e2e

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/require"
)

// requirePlatformError wants a 200 whose body is a platform error of
// errType, and returns its message.
func requirePlatformError(t *testing.T, out *lambda.InvokeOutput, body map[string]any, errType string) string {
	t.Helper()
	require.Equal(t, int32(200), out.StatusCode)
	require.Equal(t, "Unhandled", aws.ToString(out.FunctionError), "body: %v", body)
	require.Equal(t, errType, body["errorType"], "body: %v", body)
	msg, _ := body["errorMessage"].(string)
	return msg
}

var instanceRE = regexp.MustCompile(`instance=([0-9a-f]{16}) `)

// failedInstance reads the instance id the function logged at the start of
// a failed invocation.
func failedInstance(t *testing.T, out *lambda.InvokeOutput) string {
	t.Helper()
	logText := decodeLog(t, out.LogResult)
	m := instanceRE.FindStringSubmatch(logText)
	require.NotNil(t, m, "no instance line in the log tail:\n%s", logText)
	return m[1]
}

// requireColdStart wants the next echo invoke to run in a new instance,
// not in the one whose invocation failed.
func requireColdStart(t *testing.T, h *host, name string, failed *lambda.InvokeOutput) {
	t.Helper()
	oldInstance := failedInstance(t, failed)
	out, body := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError, "invoke after the failure: %v", body)
	require.NotEmpty(t, body["instance"])
	require.NotEqual(t, oldInstance, body["instance"], "the failed instance was reused")
}

// warmInstance invokes echo once and returns the instance id.
func warmInstance(t *testing.T, h *host, name string) string {
	t.Helper()
	out, body := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError, "%v", body)
	id, _ := body["instance"].(string)
	require.NotEmpty(t, id)
	return id
}

func TestRootHostile_OutOfMemory(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-oom", artifacts(t).fnZip, withMemory(128), withTimeout(30))
	warmInstance(t, h, name)
	out, body := h.invoke(t, name, map[string]any{"mode": "alloc", "mb": 512})
	requirePlatformError(t, out, body, "Runtime.OutOfMemory")
	requireColdStart(t, h, name, out)
	// Within the limit works.
	out, body = h.invoke(t, name, map[string]any{"mode": "alloc", "mb": 32})
	require.Nil(t, out.FunctionError, "%v", body)
	h.canary(t)
}

func TestRootHostile_Timeout(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-spin", artifacts(t).fnZip, withTimeout(2))
	warmInstance(t, h, name)
	out, body := h.invoke(t, name, map[string]any{"mode": "spin"})
	msg := requirePlatformError(t, out, body, "Sandbox.Timedout")
	require.Contains(t, msg, "Task timed out after 2.00 seconds")
	require.Contains(t, decodeLog(t, out.LogResult), "Task timed out after 2.00 seconds")
	requireColdStart(t, h, name, out)

	out, body = h.invoke(t, name, map[string]any{"mode": "sleep", "ms": 10000})
	msg = requirePlatformError(t, out, body, "Sandbox.Timedout")
	require.Contains(t, msg, "Task timed out after 2.00 seconds")
	h.canary(t)
}

func TestRootHostile_ExitMidInvocation(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-exit", artifacts(t).fnZip)
	warmInstance(t, h, name)
	out, body := h.invoke(t, name, map[string]any{"mode": "exit"})
	msg := requirePlatformError(t, out, body, "Runtime.ExitError")
	require.Contains(t, msg, "exit status 3")
	requireColdStart(t, h, name, out)
	h.canary(t)
}

// A Go panic reports the error and then exits the runtime: the invocation
// gets the panic, and the next one must not be sent to the dying process.
func TestRootHostile_PanicThenInvoke(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-panic", artifacts(t).fnZip)
	for i := range 5 {
		out, body := h.invoke(t, name, map[string]any{"mode": "panic"})
		require.Equal(t, "Unhandled", aws.ToString(out.FunctionError), "round %d: %v", i, body)
		require.Contains(t, body["errorMessage"], "kaboom", "round %d", i)
		panicked := failedInstance(t, out)
		out, body = h.invoke(t, name, map[string]any{"mode": "echo"})
		require.Nil(t, out.FunctionError, "round %d: the first invoke after a panic fails: %v", i, body)
		require.NotEqual(t, panicked, body["instance"], "round %d", i)
	}
}

func TestRootHostile_ForkBomb(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-fork", artifacts(t).fnZip, withTimeout(60), withMemory(1024))
	out, body := h.invoke(t, name, map[string]any{"mode": "forkbomb", "max": 5000})
	require.Equal(t, int32(200), out.StatusCode)
	t.Logf("fork bomb: FunctionError=%q body=%v", aws.ToString(out.FunctionError), body)
	if out.FunctionError == nil {
		forked, _ := body["forked"].(float64)
		require.Less(t, forked, 5000.0, "no pids limit: 5000 forks succeeded")
		require.Contains(t, body["error"], "resource temporarily unavailable", "fork must fail with EAGAIN at the pids limit")
	}
	h.canary(t)

	// Destroying the function ends its instance and every process in it.
	_, err := h.lambda.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	eventually(t, 30*time.Second, func() bool { return len(fnProcs(name)) == 0 },
		"processes of %s remain after delete: %d", name, len(fnProcs(name)))
	h.canary(t)
}

func TestRootHostile_FillTmp(t *testing.T) {
	h := sharedHost(t)
	// tmpfs pages may count against the memory limit: give memory room so
	// that the /tmp limit, not the OOM killer, stops the writer.
	name := h.createFn(t, "h-tmp", artifacts(t).fnZip, withTmp(512), withMemory(1024), withTimeout(120))
	out, body := h.invoke(t, name, map[string]any{"mode": "filltmp"})
	require.Nil(t, out.FunctionError, "%v", body)
	written, _ := body["bytes"].(float64)
	require.Equal(t, true, body["enospc"], "want ENOSPC, got %v", body["error"])
	require.Greater(t, written, float64(400<<20), "wrote only %.0f bytes", written)
	require.LessOrEqual(t, written, float64(530<<20), "wrote %.0f bytes into a 512 MB /tmp", written)
	h.canary(t)
}

func TestRootHostile_LogFlood(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-flood", artifacts(t).fnZip, withTimeout(120))
	out, body := h.invoke(t, name, map[string]any{"mode": "logflood", "mb": 20})
	require.Nil(t, out.FunctionError, "%v", body)
	require.Equal(t, float64(20<<20), body["printed"])
	logText := decodeLog(t, out.LogResult)
	require.LessOrEqual(t, len(logText), 4096)
	require.Contains(t, logText, "REPORT RequestId: ")
	h.canary(t)
}

func TestRootHostile_ReadOnlyFilesystem(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-ro", artifacts(t).fnZip)
	out, body := h.invoke(t, name, map[string]any{"mode": "writeroot"})
	require.Nil(t, out.FunctionError, "%v", body)
	for _, p := range []string{"/var/task/x", "/etc/x", "/x"} {
		v, _ := body[p].(string)
		require.NotEqual(t, "ok", v, "%s is writable", p)
		require.True(t, strings.Contains(v, "read-only file system") || strings.Contains(v, "permission denied"),
			"%s: %s", p, v)
	}
}

func TestRootHostile_Privileges(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	name := h.createFn(t, "h-who", a.fnZip)
	out, body := h.invoke(t, name, map[string]any{"mode": "whoami"})
	require.Nil(t, out.FunctionError, "%v", body)
	require.NotEqual(t, 0.0, body["uid"], "function runs as root")
	require.NotEqual(t, 0.0, body["gid"])
	require.Equal(t, "0000000000000000", body["CapEff"])
	require.Equal(t, "0000000000000000", body["CapPrm"])
	require.Equal(t, "1", body["NoNewPrivs"])
	if a.seccomp {
		require.Equal(t, "2", body["Seccomp"], "server built with seccomp")
	} else {
		t.Logf("server built without the seccomp tag; Seccomp=%v", body["Seccomp"])
	}
}

func TestRootHostile_HostLoopbackUnreachable(t *testing.T) {
	h := sharedHost(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	name := h.createFn(t, "h-net", artifacts(t).fnZip, withTimeout(10))
	apiAddr := strings.TrimPrefix(h.endpoint, "http://")
	for _, addr := range []string{ln.Addr().String(), apiAddr} {
		out, body := h.invoke(t, name, map[string]any{"mode": "connect", "addr": addr})
		require.Nil(t, out.FunctionError, "%v", body)
		require.Equal(t, "error", body["result"], "the sandbox reached the host's %s", addr)
	}
	require.Zero(t, accepted.Load(), "the host listener accepted a connection from the sandbox")
}

func TestRootHostile_Environment(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "h-env", artifacts(t).fnZip, withEnv(map[string]string{"MY_VAR": "v1"}))
	out, body := h.invoke(t, name, map[string]any{"mode": "echo", "env": []string{"MY_VAR", "AWS_LAMBDA_LOG_GROUP_NAME"}})
	require.Nil(t, out.FunctionError, "%v", body)
	env := body["env"].(map[string]any)
	require.NotEmpty(t, env["AWS_LAMBDA_RUNTIME_API"])
	require.Equal(t, name, env["AWS_LAMBDA_FUNCTION_NAME"])
	require.Equal(t, "bootstrap", env["_HANDLER"])
	require.Equal(t, testRegion, env["AWS_REGION"])
	require.Equal(t, "/var/task", env["LAMBDA_TASK_ROOT"])
	require.Equal(t, "128", env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
	require.Equal(t, "$LATEST", env["AWS_LAMBDA_FUNCTION_VERSION"])
	require.Equal(t, "v1", env["MY_VAR"])

	for _, reserved := range []string{"AWS_LAMBDA_RUNTIME_API", "_HANDLER", "AWS_REGION", "LAMBDA_TASK_ROOT", "AWS_ACCESS_KEY_ID"} {
		_, err := h.lambda.CreateFunction(t.Context(), createInput(uniqueName("h-resv"), artifacts(t).fnZip,
			withEnv(map[string]string{reserved: "x"})))
		var e *types.InvalidParameterValueException
		require.ErrorAs(t, err, &e, "reserved variable %s accepted at create", reserved)
		_, err = h.lambda.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name),
			Environment:  &types.Environment{Variables: map[string]string{reserved: "x"}},
		})
		require.ErrorAs(t, err, &e, "reserved variable %s accepted at update", reserved)
	}
}

// TestRootHostile_HostHealthyAfterAll runs last in file order: the shared
// host still answers and runs functions after everything above.
func TestRootHostile_HostHealthyAfterAll(t *testing.T) {
	h := sharedHost(t)
	h.canary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.endpoint+"/kumo/v1/health", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
