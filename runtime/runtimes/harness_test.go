package runtimes_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

// ricHost runs a runtime interface client as a plain host process against
// kumo's real Runtime API server (no sandbox), so each language's client is
// tested on its own, fast, before the e2e tests run it in a real sandbox.
type ricHost struct {
	t    *testing.T
	api  *runtimeapi.Server
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

type ricSpec struct {
	// Argv starts the runtime interface client, e.g.
	// ["python3.11", "runtime/runtimes/python/bootstrap.py"].
	Argv []string
	// TaskDir is LAMBDA_TASK_ROOT (and the working directory).
	TaskDir string
	Handler string
	// Env adds to (and overrides) the Lambda environment below.
	Env map[string]string
}

// startRIC serves the Runtime API on a loopback port and starts spec.Argv
// with the environment Lambda gives a function.
func startRIC(t *testing.T, spec ricSpec) *ricHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	api := runtimeapi.New(ln, runtimeapi.WithFunctionInfo("fn", "$LATEST", spec.Handler))
	env := map[string]string{
		"PATH":                            os.Getenv("PATH"),
		"HOME":                            os.Getenv("HOME"),
		"AWS_LAMBDA_RUNTIME_API":          ln.Addr().String(),
		"_HANDLER":                        spec.Handler,
		"LAMBDA_TASK_ROOT":                spec.TaskDir,
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
		"AWS_LAMBDA_FUNCTION_NAME":        "fn",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/fn",
		"AWS_LAMBDA_LOG_STREAM_NAME":      "2026/11/25/[$LATEST]abcdef",
		"AWS_REGION":                      "local",
		"AWS_DEFAULT_REGION":              "local",
		"TZ":                              ":UTC",
		"LANG":                            "C.UTF-8",
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Dir = spec.TaskDir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	h := &ricHost{t: t, api: api, cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		_ = api.Close()
		if t.Failed() {
			t.Logf("runtime output:\n%s", out.String())
		}
	})
	return h
}

// waitInit returns nil once the client asked for its first event, or the
// *runtimeapi.InitError it reported.
func (h *ricHost) waitInit() error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- h.api.WaitInit(ctx) }()
	select {
	case err := <-errc:
		return err
	case err := <-h.done:
		h.done <- err
		h.t.Fatalf("runtime exited during init (%v); output:\n%s", err, h.out.String())
		return nil
	}
}

// invoke sends one event (timeout after d) and returns the result.
func (h *ricHost) invoke(inv runtimeapi.Invocation, d time.Duration) runtimeapi.Result {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if inv.Deadline.IsZero() {
		inv.Deadline = time.Now().Add(d)
	}
	if inv.InvokedFunctionARN == "" {
		inv.InvokedFunctionARN = "arn:aws:lambda:local:000000000000:function:fn"
	}
	res, err := h.api.Invoke(ctx, inv)
	require.NoError(h.t, err, "output:\n%s", h.out.String())
	return res
}

// invokeJSON invokes with payload and decodes a successful response.
func (h *ricHost) invokeJSON(payload string, into any) {
	h.t.Helper()
	res := h.invoke(runtimeapi.Invocation{Payload: []byte(payload)}, 10*time.Second)
	require.Empty(h.t, res.ErrorType, "payload: %s\noutput:\n%s", res.Payload, h.out.String())
	require.NoError(h.t, json.Unmarshal(res.Payload, into), "payload: %s", res.Payload)
}

// fullInvocation sets every header the Runtime API can pass a client.
func fullInvocation() runtimeapi.Invocation {
	return runtimeapi.Invocation{
		RequestID:          "11111111-2222-3333-4444-555555555555",
		Payload:            []byte(`{}`),
		InvokedFunctionARN: "arn:aws:lambda:local:000000000000:function:fn:prod",
		TraceID:            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		ClientContext:      `{"client":{"installation_id":"inst-1","app_title":"kumo-app"},"custom":{"k":"v"},"env":{"platform":"linux"}}`,
		CognitoIdentity:    `{"cognitoIdentityId":"cog-1","cognitoIdentityPoolId":"pool-1"}`,
	}
}

// lambdaContext is what every client's context object reports, whatever
// each language calls the fields.
type lambdaContext struct {
	RequestID, FunctionName, FunctionVersion string
	MemoryLimitInMB                          any
	InvokedFunctionARN                       string
	LogGroupName, LogStreamName              string
	RemainingMs                              int64
}

// assertFullContext checks the context a client reported for
// fullInvocation(), invoked with 5 s to run under startRIC's environment.
func assertFullContext(t *testing.T, got lambdaContext) {
	t.Helper()
	assert.Equal(t, "11111111-2222-3333-4444-555555555555", got.RequestID)
	assert.Equal(t, "fn", got.FunctionName)
	assert.Equal(t, "$LATEST", got.FunctionVersion)
	// A string, as in AWS's clients, which read it from the environment.
	assert.Equal(t, "256", got.MemoryLimitInMB)
	assert.Equal(t, "arn:aws:lambda:local:000000000000:function:fn:prod", got.InvokedFunctionARN)
	assert.Equal(t, "/aws/lambda/fn", got.LogGroupName)
	assert.Equal(t, "2026/11/25/[$LATEST]abcdef", got.LogStreamName)
	assert.Greater(t, got.RemainingMs, int64(3000))
	assert.LessOrEqual(t, got.RemainingMs, int64(5000))
}

// lambdaError is the error document every Lambda runtime reports.
type lambdaError struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace"`
}

func decodeError(t *testing.T, payload []byte) lambdaError {
	t.Helper()
	var e lambdaError
	require.NoError(t, json.Unmarshal(payload, &e), "error payload: %s", payload)
	return e
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := dir + "/" + name
		require.NoError(t, os.MkdirAll(p[:strings.LastIndex(p, "/")], 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
