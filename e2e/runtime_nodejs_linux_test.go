package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nodeESMApp is an ES module handler: it imports a package from a layer,
// which Node's ES module resolver finds only through the runtime (NODE_PATH
// is for require()), as on Lambda's Node.js 18+ runtimes.
const nodeESMApp = `import greet from 'greeter';

export const handler = async (event, context) => {
  if (event.mode === 'error') {
    fail(event.why);
  }
  console.log('log-marker', context.awsRequestId);
  return {
    awsRequestId: context.awsRequestId,
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    memoryLimitInMB: context.memoryLimitInMB,
    invokedFunctionArn: context.invokedFunctionArn,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    clientContext: context.clientContext,
    trace: process.env._X_AMZN_TRACE_ID,
    greeting: greet(event.name ?? 'nobody'),
    module: typeof require,
    nodeVersion: process.version,
    nodePath: process.env.NODE_PATH,
  };
};

function fail(why) {
  throw new TypeError('failed: ' + why);
}
`

// nodeCJSApp is a CommonJS callback handler requiring the same layer
// package through NODE_PATH.
const nodeCJSApp = `const greet = require('greeter');
let count = 0;

exports.handler = (event, context, callback) => {
  count++;
  setTimeout(() => callback(null, { greeting: greet('cjs'), count, module: typeof require, waits: context.callbackWaitsForEmptyEventLoop }), 10);
};
`

// TestRootCLI_RuntimeNodejs runs kumo's nodejs20.x managed runtime the way a
// user would: zips and a layer through the aws CLI.
func TestRootCLI_RuntimeNodejs(t *testing.T) {
	h := sharedHost(t)
	dir := t.TempDir()
	layerName := uniqueName("node-lib")

	// Published with the test's t, not a step's: publishLayer deletes the
	// layer version when its t ends.
	l := h.publishLayer(t, layerName, mustZip(t,
		zipEntry{name: "nodejs/node_modules/greeter/package.json", data: []byte(`{"name": "greeter", "main": "index.js"}`)},
		zipEntry{name: "nodejs/node_modules/greeter/index.js", data: []byte("module.exports = (n) => 'hello ' + n + ' from a layer';\n")},
	), "--compatible-runtimes", "nodejs20.x")
	require.Equal(t, []string{"nodejs20.x"}, l.CompatibleRuntimes)
	layerARN := l.LayerVersionArn

	esmZip := filepath.Join(dir, "esm.zip")
	require.NoError(t, os.WriteFile(esmZip, mustZip(t, zipEntry{name: "index.mjs", data: []byte(nodeESMApp)}), 0o644))
	cjsZip := filepath.Join(dir, "cjs.zip")
	require.NoError(t, os.WriteFile(cjsZip, mustZip(t, zipEntry{name: "src/app.js", data: []byte(nodeCJSApp)}), 0o644))
	esm, cjs := uniqueName("node-esm"), uniqueName("node-cjs")
	h.deleteAtCleanup(t, esm)
	h.deleteAtCleanup(t, cjs)

	step(t, "create-function", func(t *testing.T) {
		for _, fn := range []struct{ name, handler, zip string }{
			{esm, "index.handler", esmZip},
			{cjs, "src/app.handler", cjsZip},
		} {
			cfg := h.createRuntimeFn(t, fn.name, "nodejs20.x", fn.handler, fn.zip,
				"--timeout", "10", "--memory-size", "256", "--layers", layerARN)
			require.Len(t, cfg.Layers, 1)
		}
	})

	step(t, "invoke es module: context and layer", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"client":{"app_title":"kumo-e2e"},"custom":{"team":"kumo"},"env":{}}`))
		out, body := cliInvoke(t, h, esm, `{"name":"esm"}`, "--log-type", "Tail", "--client-context", cc)
		require.Equal(t, 200, out.StatusCode)
		require.Empty(t, out.FunctionError, string(body))
		var got struct {
			AWSRequestID       string         `json:"awsRequestId"`
			FunctionName       string         `json:"functionName"`
			FunctionVersion    string         `json:"functionVersion"`
			MemoryLimitInMB    string         `json:"memoryLimitInMB"`
			InvokedFunctionARN string         `json:"invokedFunctionArn"`
			LogGroupName       string         `json:"logGroupName"`
			LogStreamName      string         `json:"logStreamName"`
			Remaining          int64          `json:"remaining"`
			ClientContext      map[string]any `json:"clientContext"`
			Trace              string         `json:"trace"`
			Greeting           string         `json:"greeting"`
			Module             string         `json:"module"`
			NodeVersion        string         `json:"nodeVersion"`
			NodePath           string         `json:"nodePath"`
		}
		require.NoError(t, json.Unmarshal(body, &got), string(body))
		require.Regexp(t, uuidRE, got.AWSRequestID)
		require.Equal(t, esm, got.FunctionName)
		require.Equal(t, "$LATEST", got.FunctionVersion)
		require.Equal(t, "256", got.MemoryLimitInMB)
		require.Equal(t, fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", testRegion, testAccount, esm), got.InvokedFunctionARN)
		require.Equal(t, "/aws/lambda/"+esm, got.LogGroupName)
		require.NotEmpty(t, got.LogStreamName)
		require.Positive(t, got.Remaining)
		require.LessOrEqual(t, got.Remaining, int64(10000))
		require.Equal(t, map[string]any{"team": "kumo"}, got.ClientContext["custom"])
		require.Contains(t, got.Trace, "Root=1-")
		require.Equal(t, "hello esm from a layer", got.Greeting)
		require.Equal(t, "undefined", got.Module, "loaded as an ES module")
		require.True(t, strings.HasPrefix(got.NodeVersion, "v20."), got.NodeVersion)
		require.Equal(t, "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task", got.NodePath)

		// The function's output lands between START and END, in AWS's format.
		logText := decodeLog(t, &out.LogResult)
		start := strings.Index(logText, "START RequestId: "+got.AWSRequestID)
		logged := strings.Index(logText, "Z\t"+got.AWSRequestID+"\tINFO\tlog-marker "+got.AWSRequestID+"\n")
		end := strings.Index(logText, "END RequestId: "+got.AWSRequestID)
		require.True(t, start >= 0 && logged > start && end > logged, "log:\n%s", logText)
	})

	step(t, "invoke error", func(t *testing.T) {
		out, body := cliInvoke(t, h, esm, `{"mode":"error","why":"on purpose"}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		// AWS's Node.js client sends trace, not stackTrace.
		var e struct {
			ErrorMessage, ErrorType string
			Trace                   []string
			StackTrace              []string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "TypeError", e.ErrorType)
		require.Equal(t, "failed: on purpose", e.ErrorMessage)
		require.Nil(t, e.StackTrace, string(body))
		require.GreaterOrEqual(t, len(e.Trace), 3, string(body))
		require.Equal(t, "TypeError: failed: on purpose", e.Trace[0])
		require.True(t, strings.HasPrefix(e.Trace[1], "    at fail (file:///var/task/index.mjs:"), e.Trace[1])
		require.True(t, strings.HasPrefix(e.Trace[2], "    at Runtime.handler (file:///var/task/index.mjs:"), e.Trace[2])
		require.Contains(t, decodeLog(t, &out.LogResult), "\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"failed: on purpose\"")
	})

	step(t, "invoke commonjs callback handler", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			out, body := cliInvoke(t, h, cjs, `{}`)
			require.Empty(t, out.FunctionError, string(body))
			var got struct {
				Greeting, Module string
				Count            int
				Waits            bool
			}
			require.NoError(t, json.Unmarshal(body, &got), string(body))
			require.Equal(t, "hello cjs from a layer", got.Greeting)
			require.Equal(t, "function", got.Module)
			require.True(t, got.Waits)
			// A warm instance keeps its state.
			require.Equal(t, i, got.Count)
		}
	})

	step(t, "init error", func(t *testing.T) {
		bad := uniqueName("node-init")
		h.deleteAtCleanup(t, bad)
		h.createRuntimeFn(t, bad, "nodejs20.x", "missing.handler", esmZip)
		out, body := cliInvoke(t, h, bad, `{}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct {
			ErrorMessage, ErrorType string
			Trace                   []string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "Runtime.ImportModuleError", e.ErrorType)
		require.Equal(t, "Error: Cannot find module 'missing'\nRequire stack:\n- /var/runtime/index.mjs", e.ErrorMessage)
		require.NotEmpty(t, e.Trace)
		require.Contains(t, decodeLog(t, &out.LogResult), "\tundefined\tERROR\tUncaught Exception \t{\"errorType\":\"Runtime.ImportModuleError\"")
	})
}
