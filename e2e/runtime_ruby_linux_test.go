package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rubyApp is a ruby3.1 function whose event's mode picks what it does.
const rubyApp = `require 'greeting'

$count = 0
puts 'init ran'

def handler(event:, context:)
  case event['mode']
  when 'context'
    {
      'aws_request_id' => context.aws_request_id,
      'function_name' => context.function_name,
      'function_version' => context.function_version,
      'memory_limit_in_mb' => context.memory_limit_in_mb,
      'invoked_function_arn' => context.invoked_function_arn,
      'log_group_name' => context.log_group_name,
      'log_stream_name' => context.log_stream_name,
      'remaining' => context.get_remaining_time_in_millis,
      'client_context' => context.client_context,
      'trace' => ENV['_X_AMZN_TRACE_ID'],
      'ruby' => RUBY_VERSION,
      'cwd' => Dir.pwd,
    }
  when 'divide'
    1 / 0
  else
    $count += 1
    puts "hello output #{$count}"
    { 'greeting' => Greeting.hello(event['name']), 'count' => $count }
  end
end

module Kumo
  class Handler
    def self.call(event:, context:)
      "class method got #{event['name']}"
    end
  end
end
`

type rubyError struct {
	ErrorMessage string   `json:"errorMessage"`
	ErrorType    string   `json:"errorType"`
	StackTrace   []string `json:"stackTrace"`
}

func TestRootCLI_RuntimeRuby(t *testing.T) {
	h := sharedHost(t)
	layer := h.publishLayer(t, uniqueName("ruby-lib"), mustZip(t, zipEntry{
		name: "ruby/lib/greeting.rb",
		data: []byte("module Greeting\n  def self.hello(name) = \"hello #{name} from a layer\"\nend\n"),
	}))
	zipPath := filepath.Join(t.TempDir(), "app.zip")
	require.NoError(t, os.WriteFile(zipPath, mustZip(t, zipEntry{name: "app.rb", data: []byte(rubyApp)}), 0o644))

	create := func(t *testing.T, handler string) string {
		t.Helper()
		name := uniqueName("ruby")
		h.deleteAtCleanup(t, name)
		h.createRuntimeFn(t, name, "ruby3.1", handler, zipPath,
			"--layers", layer.LayerVersionArn, "--memory-size", "256", "--timeout", "30")
		return name
	}
	fn := create(t, "app.handler")

	step(t, "invoke keeps state and captures output", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			out, body := cliInvoke(t, h, fn, `{"name":"kumo"}`, "--log-type", "Tail")
			require.Empty(t, out.FunctionError, "%s", body)
			var got struct {
				Greeting string
				Count    int
			}
			require.NoError(t, json.Unmarshal(body, &got), "%s", body)
			require.Equal(t, "hello kumo from a layer", got.Greeting)
			require.Equal(t, i, got.Count, "one warm instance keeps its globals")
			logs, err := base64.StdEncoding.DecodeString(out.LogResult)
			require.NoError(t, err)
			assert.Contains(t, string(logs), fmt.Sprintf("hello output %d\n", i), "the function's puts is in its invocation's log")
		}
	})

	t.Run("context", func(t *testing.T) {
		clientContext := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))
		out, body := cliInvoke(t, h, fn, `{"mode":"context"}`, "--client-context", clientContext)
		require.Empty(t, out.FunctionError, "%s", body)
		var got map[string]any
		require.NoError(t, json.Unmarshal(body, &got), "%s", body)
		assert.Regexp(t, uuidRE, got["aws_request_id"])
		assert.Equal(t, fn, got["function_name"])
		assert.Equal(t, "$LATEST", got["function_version"])
		assert.Equal(t, "256", got["memory_limit_in_mb"], "a String, as in AWS's Ruby runtime")
		assert.Equal(t, "arn:aws:lambda:local:000000000000:function:"+fn, got["invoked_function_arn"])
		assert.Equal(t, "/aws/lambda/"+fn, got["log_group_name"])
		assert.NotEmpty(t, got["log_stream_name"])
		assert.Greater(t, got["remaining"], 20_000.0)
		assert.LessOrEqual(t, got["remaining"], 30_000.0)
		assert.Equal(t, map[string]any{"custom": map[string]any{"k": "v"}}, got["client_context"])
		assert.True(t, strings.HasPrefix(got["trace"].(string), "Root=1-"), "trace %v", got["trace"])
		assert.True(t, strings.HasPrefix(got["ruby"].(string), "3.1."), "ruby %v", got["ruby"])
		assert.Equal(t, "/var/task", got["cwd"])
	})

	t.Run("error shape", func(t *testing.T) {
		out, body := cliInvoke(t, h, fn, `{"mode":"divide"}`)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e rubyError
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		require.Equal(t, "Function<ZeroDivisionError>", e.ErrorType)
		require.Equal(t, "divided by 0", e.ErrorMessage)
		require.NotEmpty(t, e.StackTrace)
		assert.True(t, strings.HasPrefix(e.StackTrace[0], "/var/task/app.rb:"), "%v", e.StackTrace)
		for _, frame := range e.StackTrace {
			assert.NotContains(t, frame, "/var/runtime/", "the runtime's frames are hidden")
		}
		// The error did not cost the instance its state.
		_, body = cliInvoke(t, h, fn, `{"name":"again"}`)
		assert.Contains(t, string(body), `"count":3`)
	})

	t.Run("class method handler", func(t *testing.T) {
		out, body := cliInvoke(t, h, create(t, "app.Kumo::Handler.call"), `{"name":"x"}`)
		require.Empty(t, out.FunctionError, "%s", body)
		require.Equal(t, `"class method got x"`, string(body))
	})

	t.Run("init error", func(t *testing.T) {
		out, body := cliInvoke(t, h, create(t, "missing.handler"), `{}`)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e rubyError
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		require.Equal(t, "Init<LoadError>", e.ErrorType)
		require.Equal(t, "cannot load such file -- missing", e.ErrorMessage)
	})
}
