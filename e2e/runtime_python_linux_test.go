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

const pythonApp = `import logging
import os
import sys

import mylib

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def handler(event, context):
    mode = event.get("mode")
    if mode == "error":
        fail(event["why"])
    print("print-marker " + context.aws_request_id)
    logger.info("log-marker")
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client_custom": None if cc is None else cc.custom,
        "client_app_title": None if cc is None else cc.client.app_title,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "greeting": mylib.greet(event.get("name", "nobody")),
        "path": sys.path[:4],
        "executable": sys.executable,
    }


def fail(why):
    raise ValueError("failed: " + why)
`

// TestRootCLI_RuntimePython runs kumo's python3.11 managed runtime the way a
// user would: a zip and a layer through the aws CLI.
func TestRootCLI_RuntimePython(t *testing.T) {
	h := sharedHost(t)
	dir := t.TempDir()
	layerName := uniqueName("py-lib")
	// Published on the test's t: publishLayer deletes it at cleanup.
	l := h.publishLayer(t, layerName, mustZip(t,
		zipEntry{name: "python/mylib.py", data: []byte("def greet(name):\n    return 'hello ' + name + ' from a layer'\n")},
	), "--compatible-runtimes", "python3.11")
	require.Equal(t, []string{"python3.11"}, l.CompatibleRuntimes)
	layerARN, layerVersion := l.LayerVersionArn, l.Version

	fnZip := filepath.Join(dir, "fn.zip")
	require.NoError(t, os.WriteFile(fnZip, mustZip(t, zipEntry{name: "app.py", data: []byte(pythonApp)}), 0o644))
	name := uniqueName("py")
	h.deleteAtCleanup(t, name)
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", testRegion, testAccount, name)

	step(t, "create-function", func(t *testing.T) {
		cfg := h.createRuntimeFn(t, name, "python3.11", "app.handler", fnZip,
			"--timeout", "10", "--memory-size", "256", "--layers", layerARN)
		require.Len(t, cfg.Layers, 1)
		require.Equal(t, layerARN, cfg.Layers[0].Arn)
	})

	type contextOut struct {
		AWSRequestID       string            `json:"aws_request_id"`
		FunctionName       string            `json:"function_name"`
		FunctionVersion    string            `json:"function_version"`
		MemoryLimitInMB    string            `json:"memory_limit_in_mb"`
		InvokedFunctionARN string            `json:"invoked_function_arn"`
		LogGroupName       string            `json:"log_group_name"`
		LogStreamName      string            `json:"log_stream_name"`
		Remaining          int64             `json:"remaining"`
		ClientCustom       map[string]string `json:"client_custom"`
		ClientAppTitle     string            `json:"client_app_title"`
		Trace              string            `json:"trace"`
		Greeting           string            `json:"greeting"`
		Path               []string          `json:"path"`
		Executable         string            `json:"executable"`
	}

	step(t, "invoke context and layer", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"client":{"app_title":"kumo-e2e"},"custom":{"team":"kumo"},"env":{}}`))
		out, body := cliInvoke(t, h, name, `{"name":"python"}`, "--log-type", "Tail", "--client-context", cc)
		require.Equal(t, 200, out.StatusCode)
		require.Empty(t, out.FunctionError, string(body))
		var got contextOut
		require.NoError(t, json.Unmarshal(body, &got), string(body))
		require.Regexp(t, uuidRE, got.AWSRequestID)
		require.Equal(t, name, got.FunctionName)
		require.Equal(t, "$LATEST", got.FunctionVersion)
		require.Equal(t, "256", got.MemoryLimitInMB)
		require.Equal(t, arn, got.InvokedFunctionARN)
		require.Equal(t, "/aws/lambda/"+name, got.LogGroupName)
		require.NotEmpty(t, got.LogStreamName)
		require.Positive(t, got.Remaining)
		require.LessOrEqual(t, got.Remaining, int64(10000))
		require.Equal(t, map[string]string{"team": "kumo"}, got.ClientCustom)
		require.Equal(t, "kumo-e2e", got.ClientAppTitle)
		require.Contains(t, got.Trace, "Root=1-")
		require.Equal(t, "hello python from a layer", got.Greeting)
		require.Equal(t, []string{"/var/task", "/opt/python/lib/python3.11/site-packages", "/opt/python", "/var/runtime"}, got.Path)
		require.Equal(t, "/usr/bin/python3.11", got.Executable)

		// The function's output lands between START and END.
		logText := decodeLog(t, &out.LogResult)
		start := strings.Index(logText, "START RequestId: "+got.AWSRequestID)
		printed := strings.Index(logText, "print-marker "+got.AWSRequestID+"\n")
		logged := strings.Index(logText, "[INFO]\t")
		end := strings.Index(logText, "END RequestId: "+got.AWSRequestID)
		require.True(t, start >= 0 && printed > start && logged > printed && end > logged, "log:\n%s", logText)
		require.Contains(t, logText[logged:end], "Z\t"+got.AWSRequestID+"\tlog-marker\n")
	})

	step(t, "invoke error", func(t *testing.T) {
		out, body := cliInvoke(t, h, name, `{"mode":"error","why":"on purpose"}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct {
			ErrorMessage, ErrorType, RequestID string
			StackTrace                         []string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "ValueError", e.ErrorType)
		require.Equal(t, "failed: on purpose", e.ErrorMessage)
		require.Regexp(t, uuidRE, e.RequestID)
		require.Equal(t, []string{
			"  File \"/var/task/app.py\", line 14, in handler\n    fail(event[\"why\"])\n",
			"  File \"/var/task/app.py\", line 37, in fail\n    raise ValueError(\"failed: \" + why)\n",
		}, e.StackTrace)
		require.Contains(t, decodeLog(t, &out.LogResult), "[ERROR] ValueError: failed: on purpose\nTraceback (most recent call last):\n")
	})

	step(t, "list-layer-versions and delete-layer-version", func(t *testing.T) {
		var list struct{ LayerVersions []layerVersionOut }
		h.awsJSON(t, &list, "list-layer-versions", "--layer-name", layerName)
		require.Len(t, list.LayerVersions, 1)
		require.Equal(t, layerARN, list.LayerVersions[0].LayerVersionArn)
		require.Equal(t, []string{"python3.11"}, list.LayerVersions[0].CompatibleRuntimes)

		h.awsJSON(t, nil, "delete-layer-version", "--layer-name", layerName, "--version-number", fmt.Sprint(layerVersion))
		h.awsJSON(t, &list, "list-layer-versions", "--layer-name", layerName)
		require.Empty(t, list.LayerVersions)

		// As in Lambda, the function keeps the layer it was created with.
		out, body := cliInvoke(t, h, name, `{"name":"again"}`)
		require.Empty(t, out.FunctionError, string(body))
		var got contextOut
		require.NoError(t, json.Unmarshal(body, &got), string(body))
		require.Equal(t, "hello again from a layer", got.Greeting)
	})

	step(t, "init error", func(t *testing.T) {
		bad := uniqueName("py-init")
		h.deleteAtCleanup(t, bad)
		h.createRuntimeFn(t, bad, "python3.11", "missing.handler", fnZip)
		out, body := cliInvoke(t, h, bad, `{}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct {
			ErrorMessage, ErrorType string
			StackTrace              []string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "Runtime.ImportModuleError", e.ErrorType)
		require.Equal(t, "Unable to import module 'missing': No module named 'missing'", e.ErrorMessage)
		require.NotNil(t, e.StackTrace)
		require.Contains(t, decodeLog(t, &out.LogResult), "[ERROR] Runtime.ImportModuleError: Unable to import module 'missing'")
	})
}
