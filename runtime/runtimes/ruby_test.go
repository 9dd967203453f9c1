package runtimes_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

const ruby31 = "/usr/bin/ruby3.1"

// startRuby runs kumo's Ruby client from the source tree with files as the
// function's code.
func startRuby(t *testing.T, handler string, files map[string]string, env map[string]string) *ricHost {
	t.Helper()
	if _, err := os.Stat(ruby31); err != nil {
		t.Skipf("%s not installed", ruby31)
	}
	bootstrap, err := filepath.Abs("ruby/var-runtime/bootstrap.rb")
	require.NoError(t, err)
	task := t.TempDir()
	writeFiles(t, task, files)
	return startRIC(t, ricSpec{
		Argv:    []string{ruby31, bootstrap},
		TaskDir: task,
		Handler: handler,
		Env:     env,
	})
}

// exitCode waits for the client to exit and returns its status.
func (h *ricHost) exitCode() int {
	h.t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(h.t, err)
		return 0
	case <-time.After(10 * time.Second):
		h.t.Fatalf("runtime still running; output:\n%s", h.out.String())
		return -1
	}
}

const rubyApp = `
require 'greeting'

$count = 0
puts "init ran"

def handler(event:, context:)
  $count += 1
  puts "stdout #{event['name']}"
  $stderr.puts "stderr #{event['name']}"
  { 'greeting' => Greeting.hello(event['name']), 'count' => $count, 'event' => event }
end

def context(event:, context:)
  {
    'aws_request_id' => context.aws_request_id,
    'function_name' => context.function_name,
    'function_version' => context.function_version,
    'memory_limit_in_mb' => context.memory_limit_in_mb,
    'invoked_function_arn' => context.invoked_function_arn,
    'log_group_name' => context.log_group_name,
    'log_stream_name' => context.log_stream_name,
    'remaining' => context.get_remaining_time_in_millis,
    'deadline_ms' => context.deadline_ms,
    'client_context' => context.client_context,
    'identity' => context.identity,
    'trace' => ENV['_X_AMZN_TRACE_ID'],
    'request_id_global' => $_global_aws_request_id,
    'load_path' => $LOAD_PATH.first(2),
  }
end

def divide(event:, context:)
  1 / 0
end

def nan(event:, context:)
  Float::NAN
end

def stream(event:, context:)
  StringIO.new("raw, not JSON")
end

def positional(event)
  event.keys
end

def echo(event:, context:)
  event
end

def quit(event:, context:)
  exit 3
end

def big(event:, context:)
  'x' * (event['mb'] * 1024 * 1024)
end

module Outer
  class Inner
    def self.handle(event:, context:)
      "class method got #{event}"
    end
  end
end
`

const rubyGreeting = `
module Greeting
  def self.hello(name)
    "hello #{name} from the layer"
  end
end
`

// rubyFunction starts app.rb with the layer's library under a fake /opt,
// which it returns.
func rubyFunction(t *testing.T, handler string) (*ricHost, string) {
	t.Helper()
	opt := t.TempDir()
	writeFiles(t, opt, map[string]string{"ruby/lib/greeting.rb": rubyGreeting})
	h := startRuby(t, handler, map[string]string{"app.rb": rubyApp}, map[string]string{"_KUMO_OPT_DIR": opt})
	require.NoError(t, h.waitInit())
	return h, opt
}

func TestRubyHandlerStateAndOutput(t *testing.T) {
	t.Parallel()
	h, _ := rubyFunction(t, "app.handler")
	for i := 1; i <= 3; i++ {
		var got struct {
			Greeting string         `json:"greeting"`
			Count    int            `json:"count"`
			Event    map[string]any `json:"event"`
		}
		h.invokeJSON(`{"name":"今日は","n":1.5}`, &got)
		require.Equal(t, "hello 今日は from the layer", got.Greeting)
		require.Equal(t, i, got.Count, "module state survives between invocations")
		require.Equal(t, map[string]any{"name": "今日は", "n": 1.5}, got.Event)
	}
	require.Eventually(t, func() bool {
		out := h.out.String()
		return strings.Count(out, "stdout 今日は\n") == 3 && strings.Count(out, "stderr 今日は\n") == 3
	}, 5*time.Second, 20*time.Millisecond, "output:\n%s", h.out.String())
	assert.Equal(t, 1, strings.Count(h.out.String(), "init ran"))
}

func TestRubyHandlers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler string
		payload string
		want    string
	}{
		{"class method", "app.Outer::Inner.handle", `"x"`, `"class method got x"`},
		{"string event", "app.echo", `"just a string"`, `"just a string"`},
		{"null event", "app.echo", `null`, `null`},
		{"positional parameter gets the keywords as a hash", "app.positional", `{}`, `["event","context"]`},
		{"IO is sent as it is", "app.stream", `{}`, `raw, not JSON`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := rubyFunction(t, tc.handler)
			res := h.invoke(runtimeapi.Invocation{Payload: []byte(tc.payload)}, 10*time.Second)
			require.Empty(t, res.ErrorType, "payload: %s", res.Payload)
			require.Equal(t, tc.want, string(res.Payload))
		})
	}
}

func TestRubyContext(t *testing.T) {
	t.Parallel()
	h, opt := rubyFunction(t, "app.context")
	deadline := time.Now().Add(90 * time.Second)
	res := h.invoke(runtimeapi.Invocation{
		RequestID:          "req-1",
		Payload:            []byte(`{}`),
		Deadline:           deadline,
		InvokedFunctionARN: "arn:aws:lambda:local:000000000000:function:fn:live",
		TraceID:            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		ClientContext:      `{"custom":{"k":"v"},"env":{"platform":"linux"}}`,
		CognitoIdentity:    `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
	}, 0)
	require.Empty(t, res.ErrorType, "payload: %s", res.Payload)
	var got map[string]any
	require.NoError(t, json.Unmarshal(res.Payload, &got))

	remaining := got["remaining"].(float64)
	assert.Greater(t, remaining, 80_000.0)
	assert.LessOrEqual(t, remaining, 90_000.0)
	assert.Equal(t, float64(deadline.UnixMilli()), got["deadline_ms"])
	delete(got, "remaining")
	delete(got, "deadline_ms")
	assert.Equal(t, map[string]any{
		"aws_request_id":       "req-1",
		"function_name":        "fn",
		"function_version":     "$LATEST",
		"memory_limit_in_mb":   "256", // a String, as in aws_lambda_ric
		"invoked_function_arn": "arn:aws:lambda:local:000000000000:function:fn:live",
		"log_group_name":       "/aws/lambda/fn",
		"log_stream_name":      "2026/11/25/[$LATEST]abcdef",
		"client_context":       map[string]any{"custom": map[string]any{"k": "v"}, "env": map[string]any{"platform": "linux"}},
		"identity":             map[string]any{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"},
		"trace":                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		"request_id_global":    "req-1",
		// The task root, then the layers' library directory, as in AWS.
		"load_path": []any{h.cmd.Dir, filepath.Join(opt, "ruby/lib")},
	}, got)

	// The next invocation gets its own trace id and no client context.
	res = h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`), TraceID: "Root=1-2"}, 10*time.Second)
	require.Empty(t, res.ErrorType, "payload: %s", res.Payload)
	require.NoError(t, json.Unmarshal(res.Payload, &got))
	assert.Equal(t, "Root=1-2", got["trace"])
	assert.Nil(t, got["client_context"])
	assert.Nil(t, got["identity"])
}

func TestRubyFunctionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    string
		errorType  string
		headerType string // aws_lambda_ric names only a few classes in the header
		message    string
		exact      bool   // message is all of errorMessage
		topFrame   string // a prefix of stackTrace[0]; empty: no frames
	}{
		{
			name: "raise", handler: "app.divide",
			errorType: "Function<ZeroDivisionError>", headerType: "Function<UserException>",
			message: "divided by 0", topFrame: "app.rb:",
		},
		{
			name: "return value JSON cannot hold", handler: "app.nan",
			errorType: "Function<JSON::GeneratorError>", headerType: "Function<UserException>",
			message: "NaN not allowed in JSON",
		},
		{
			// As in AWS, a missing method is found when the handler is
			// called, not at init.
			name: "missing method", handler: "app.nope",
			errorType: "Function<NoMethodError>", headerType: "Function<NoMethodError>",
			message: "undefined method `nope' for main:Object", exact: true,
		},
		{
			// aws_lambda_ric exits after reporting it; kumo's client keeps
			// the instance, as for any other handler error.
			name: "exit", handler: "app.quit",
			errorType: "Function<SystemExit>", headerType: "Function<SystemExit>",
			message: "exit", exact: true,
		},
		{
			name: "missing class", handler: "app.Missing::Klass.handle",
			errorType: "Function<NameError>", headerType: "Function<NameError>",
			message: "uninitialized constant Kernel::Missing", exact: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := rubyFunction(t, tc.handler)
			for range 2 { // a handler error does not end the runtime
				res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 10*time.Second)
				require.Equal(t, tc.headerType, res.ErrorType, "payload: %s", res.Payload)
				e := decodeError(t, res.Payload)
				assert.Equal(t, tc.errorType, e.ErrorType)
				if tc.exact {
					assert.Equal(t, tc.message, e.ErrorMessage)
				} else {
					assert.Contains(t, e.ErrorMessage, tc.message)
				}
				require.NotNil(t, e.StackTrace, "stackTrace is always present")
				for _, frame := range e.StackTrace {
					assert.NotContains(t, frame, "bootstrap.rb", "the runtime's own frames are hidden")
				}
				if tc.topFrame != "" {
					require.NotEmpty(t, e.StackTrace)
					assert.Contains(t, e.StackTrace[0], filepath.Join(h.cmd.Dir, tc.topFrame))
				}
			}
			assert.Contains(t, h.out.String(), "Error raised from handler method")
		})
	}
}

func TestRubyInitErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		handler    string
		source     string
		errorType  string
		headerType string
		message    string
	}{
		{
			name: "missing file", handler: "nope.handler",
			errorType: "Init<LoadError>", headerType: "Init<LoadError>",
			message: "cannot load such file -- nope",
		},
		{
			name: "missing dependency", handler: "app.handler", source: "require 'not_a_gem_anywhere'\n",
			errorType: "Init<LoadError>", headerType: "Init<LoadError>",
			message: "cannot load such file -- not_a_gem_anywhere",
		},
		{
			name: "syntax error", handler: "app.handler", source: "def handler(event:, context:)\n  {\n",
			errorType: "Init<SyntaxError>", headerType: "Function<UserException>",
			message: "app.rb",
		},
		{
			name: "raise at load", handler: "app.handler", source: "raise 'no config'\n",
			errorType: "Init<RuntimeError>", headerType: "Function<UserException>",
			message: "no config",
		},
		{
			name: "malformed handler", handler: "app",
			errorType: "Init<ArgumentError>", headerType: "Init<ArgumentError>",
			message: "must be of form FILENAME.METHOD or FILENAME.CLASS.METHOD",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{}
			if tc.source != "" {
				files["app.rb"] = tc.source
			}
			h := startRuby(t, tc.handler, files, nil)
			err := h.waitInit()
			var ie *runtimeapi.InitError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tc.headerType, ie.ErrorType, "payload: %s", ie.Payload)
			e := decodeError(t, ie.Payload)
			assert.Equal(t, tc.errorType, e.ErrorType)
			assert.Contains(t, e.ErrorMessage, tc.message)
			for _, frame := range e.StackTrace {
				assert.NotContains(t, frame, "bootstrap.rb")
			}
			assert.Equal(t, 252, h.exitCode(), "exits like aws_lambda_ric's exit(-4)")
			assert.Contains(t, h.out.String(), "Init error when loading handler "+tc.handler)
		})
	}
}

// An image's CMD comes to the client as its argument and wins over
// _HANDLER, as with AWS's base images.
func TestRubyHandlerFromArgument(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(ruby31); err != nil {
		t.Skipf("%s not installed", ruby31)
	}
	bootstrap, err := filepath.Abs("ruby/var-runtime/bootstrap.rb")
	require.NoError(t, err)
	task := t.TempDir()
	writeFiles(t, task, map[string]string{"lib/app.rb": "def run(event:, context:) = 'from argv'\n"})
	h := startRIC(t, ricSpec{Argv: []string{ruby31, bootstrap, "lib/app.run"}, TaskDir: task, Handler: "wrong.handler"})
	require.NoError(t, h.waitInit())
	var got string
	h.invokeJSON(`{}`, &got)
	require.Equal(t, "from argv", got)
}

func TestRubyOversizedResponse(t *testing.T) {
	t.Parallel()
	h, _ := rubyFunction(t, "app.big")
	res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{"mb":7}`)}, 10*time.Second)
	require.Equal(t, runtimeapi.ErrorTypeResponseTooLarge, res.ErrorType, "payload: %s", res.Payload)
	// The API refuses the body (413); the client carries on with the next
	// event.
	var got string
	h.invokeJSON(`{"mb":1}`, &got)
	require.Len(t, got, 1024*1024)
}

func TestRubyExit(t *testing.T) {
	t.Parallel()
	t.Run("SIGTERM while waiting", func(t *testing.T) {
		t.Parallel()
		h, _ := rubyFunction(t, "app.echo")
		require.NoError(t, h.api.WaitReady(t.Context()))
		require.NoError(t, h.cmd.Process.Signal(syscall.SIGTERM))
		require.Equal(t, 0, h.exitCode())
	})
	t.Run("runtime api gone", func(t *testing.T) {
		t.Parallel()
		h, _ := rubyFunction(t, "app.echo")
		require.NoError(t, h.api.WaitReady(t.Context()))
		require.NoError(t, h.api.Close())
		require.NotEqual(t, 0, h.exitCode())
	})
}
