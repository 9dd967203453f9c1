package runtimeapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

var (
	echoOnce sync.Once
	echoBin  string
	echoErr  error
)

// echoFunction builds the aws-lambda-go test function once per test binary.
func echoFunction(t *testing.T) string {
	t.Helper()
	echoOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kumo-runtimeapi-bin-")
		if err != nil {
			echoErr = err
			return
		}
		echoBin = filepath.Join(dir, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", echoBin, "../sandbox/testdata/echo")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = fmt.Errorf("go build echo: %w\n%s", err, out)
		}
	})
	require.NoError(t, echoErr)
	return echoBin
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startFunction runs the echo function as a plain child process against a
// Server on a random loopback port.
// The returned channel is closed when the process has exited; *waitErr is
// then its exit status.
func startFunction(t *testing.T, opts ...runtimeapi.Option) (s *runtimeapi.Server, exited <-chan struct{}, waitErr *error, out *syncBuf) {
	t.Helper()
	bin := echoFunction(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s = runtimeapi.New(ln, opts...)
	t.Cleanup(func() { _ = s.Close() })
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + ln.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME=echo", "TEST_MARKER=hi"}
	out = &syncBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	waitErr = new(error)
	go func() {
		*waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	require.NoError(t, s.WaitInit(t.Context()), "runtime output: %s", out.String())
	return s, done, waitErr, out
}

func TestServer_AWSLambdaGo(t *testing.T) {
	t.Parallel()
	s, exited, waitErr, out := startFunction(t)

	t.Run("success with metadata", func(t *testing.T) {
		inv := runtimeapi.Invocation{
			RequestID:          "11111111-2222-3333-4444-555555555555",
			Payload:            []byte(`{"hello":"world"}`),
			Deadline:           time.Now().Add(time.Minute),
			InvokedFunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:echo:prod",
			ClientContext:      `{"Client":{"app_title":"kumo-app"},"custom":{},"env":{}}`,
			CognitoIdentity:    `{"cognitoIdentityId":"cog-1","cognitoIdentityPoolId":"pool"}`,
		}
		res, err := s.Invoke(t.Context(), inv)
		require.NoError(t, err)
		require.Empty(t, res.ErrorType, string(res.Payload))
		var got struct {
			Payload     json.RawMessage `json:"payload"`
			RequestID   string          `json:"request_id"`
			FunctionARN string          `json:"function_arn"`
			HasDeadline bool            `json:"has_deadline"`
			TraceID     string          `json:"trace_id"`
			ClientApp   string          `json:"client_app"`
			CognitoID   string          `json:"cognito_id"`
		}
		require.NoError(t, json.Unmarshal(res.Payload, &got))
		assert.JSONEq(t, `{"hello":"world"}`, string(got.Payload))
		assert.Equal(t, inv.RequestID, got.RequestID)
		assert.Equal(t, inv.InvokedFunctionARN, got.FunctionARN)
		assert.True(t, got.HasDeadline)
		assert.Contains(t, got.TraceID, "Root=1-")
		assert.Equal(t, "kumo-app", got.ClientApp)
		assert.Equal(t, "cog-1", got.CognitoID)
	})

	t.Run("returned error", func(t *testing.T) {
		res, err := s.Invoke(t.Context(), runtimeapi.Invocation{Payload: []byte(`{"error":"my failure"}`)})
		require.NoError(t, err)
		assert.Equal(t, "echoError", res.ErrorType)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(res.Payload, &doc))
		assert.Equal(t, "my failure", doc["errorMessage"])
	})

	t.Run("keeps serving after an error", func(t *testing.T) {
		for i := range 20 {
			res, err := s.Invoke(t.Context(), runtimeapi.Invocation{Payload: []byte(`{"env":"TEST_MARKER"}`)})
			require.NoError(t, err, i)
			assert.Equal(t, `"hi"`, string(res.Payload))
		}
	})

	t.Run("panic reports then exits", func(t *testing.T) {
		res, err := s.Invoke(t.Context(), runtimeapi.Invocation{Payload: []byte(`{"panic":"kaboom"}`)})
		require.NoError(t, err)
		assert.NotEmpty(t, res.ErrorType)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(res.Payload, &doc))
		assert.Equal(t, "kaboom", doc["errorMessage"])
		assert.NotEmpty(t, doc["stackTrace"])
		select {
		case <-exited:
			require.Error(t, *waitErr, "non-zero exit after a panic")
		case <-time.After(30 * time.Second):
			t.Fatalf("function still running after panic; output: %s", out.String())
		}
	})
}

func TestServer_AWSLambdaGoOversizedResponse(t *testing.T) {
	t.Parallel()
	s, exited, _, _ := startFunction(t, runtimeapi.WithMaxResponseBytes(64<<10))
	res, err := s.Invoke(t.Context(), runtimeapi.Invocation{Payload: []byte(`{"size":100000}`)})
	require.NoError(t, err)
	assert.Equal(t, runtimeapi.ErrorTypeResponseTooLarge, res.ErrorType)
	// aws-lambda-go treats any status but 202 as fatal.
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("function did not exit after its response was refused")
	}
}
