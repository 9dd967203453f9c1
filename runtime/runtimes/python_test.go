package runtimes_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

// python is the interpreter the python3.11 image ships (Debian's).
const python = "/usr/bin/python3.11"

// startPython runs kumo's Python client on files written to a fresh task
// root.
func startPython(t *testing.T, handler string, files map[string]string, env map[string]string) (*ricHost, string) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not installed", python)
	}
	bootstrap, err := filepath.Abs("python/var-runtime/bootstrap.py")
	require.NoError(t, err)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return startRIC(t, ricSpec{Argv: []string{python, bootstrap}, TaskDir: dir, Handler: handler, Env: env}), dir
}

// initError waits for the client to report an init failure and exit 1,
// as AWS's client does after posting it.
func initError(t *testing.T, h *ricHost) (string, lambdaError, map[string]any) {
	t.Helper()
	err := h.waitInit()
	var ie *runtimeapi.InitError
	require.ErrorAs(t, err, &ie)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(ie.Payload, &doc), "%s", ie.Payload)
	select {
	case werr := <-h.done:
		h.done <- werr
		var exit *exec.ExitError
		require.True(t, errors.As(werr, &exit), "exit: %v", werr)
		require.Equal(t, 1, exit.ExitCode())
	case <-time.After(10 * time.Second):
		t.Fatal("client still running after reporting an init error")
	}
	return ie.ErrorType, decodeError(t, ie.Payload), doc
}

func TestPython_Success(t *testing.T) {
	t.Parallel()
	h, _ := startPython(t, "app.handler", map[string]string{
		"app.py": "def handler(event, context):\n    return {'echo': event, 'n': event['n'] + 1}\n",
	}, nil)
	require.NoError(t, h.waitInit())
	var got map[string]any
	h.invokeJSON(`{"n": 41}`, &got)
	require.Equal(t, map[string]any{"echo": map[string]any{"n": 41.0}, "n": 42.0}, got)

	// Large bodies come chunked from the Runtime API.
	big := strings.Repeat("x", 4<<20)
	h.invokeJSON(`{"n": 1, "big": "`+big+`"}`, &got)
	require.Equal(t, big, got["echo"].(map[string]any)["big"])
}

func TestPython_Context(t *testing.T) {
	t.Parallel()
	h, _ := startPython(t, "app.handler", map[string]string{
		"app.py": `import os

def handler(event, context):
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
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "client_context": None if cc is None else {
            "installation_id": cc.client.installation_id,
            "app_title": cc.client.app_title,
            "custom": cc.custom,
            "env": cc.env,
        },
        "cognito_identity_id": context.identity.cognito_identity_id,
        "cognito_identity_pool_id": context.identity.cognito_identity_pool_id,
    }
`,
	}, nil)
	require.NoError(t, h.waitInit())

	type ctxOut struct {
		AWSRequestID       string  `json:"aws_request_id"`
		FunctionName       string  `json:"function_name"`
		FunctionVersion    string  `json:"function_version"`
		MemoryLimitInMB    any     `json:"memory_limit_in_mb"`
		InvokedFunctionARN string  `json:"invoked_function_arn"`
		LogGroupName       string  `json:"log_group_name"`
		LogStreamName      string  `json:"log_stream_name"`
		Remaining          int64   `json:"remaining"`
		Trace              *string `json:"trace"`
		ClientContext      *struct {
			InstallationID string            `json:"installation_id"`
			AppTitle       string            `json:"app_title"`
			Custom         map[string]string `json:"custom"`
			Env            map[string]string `json:"env"`
		} `json:"client_context"`
		CognitoIdentityID     *string `json:"cognito_identity_id"`
		CognitoIdentityPoolID *string `json:"cognito_identity_pool_id"`
	}

	t.Run("all fields", func(t *testing.T) {
		res := h.invoke(fullInvocation(), 5*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		var got ctxOut
		require.NoError(t, json.Unmarshal(res.Payload, &got), "%s", res.Payload)
		assertFullContext(t, lambdaContext{got.AWSRequestID, got.FunctionName, got.FunctionVersion, got.MemoryLimitInMB,
			got.InvokedFunctionARN, got.LogGroupName, got.LogStreamName, got.Remaining})
		require.NotNil(t, got.Trace)
		assert.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", *got.Trace)
		require.NotNil(t, got.ClientContext)
		assert.Equal(t, "inst-1", got.ClientContext.InstallationID)
		assert.Equal(t, "kumo-app", got.ClientContext.AppTitle)
		assert.Equal(t, map[string]string{"k": "v"}, got.ClientContext.Custom)
		assert.Equal(t, map[string]string{"platform": "linux"}, got.ClientContext.Env)
		require.NotNil(t, got.CognitoIdentityID)
		assert.Equal(t, "cog-1", *got.CognitoIdentityID)
		require.NotNil(t, got.CognitoIdentityPoolID)
		assert.Equal(t, "pool-1", *got.CognitoIdentityPoolID)
	})

	t.Run("absent client context and identity", func(t *testing.T) {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 2*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		var got ctxOut
		require.NoError(t, json.Unmarshal(res.Payload, &got), "%s", res.Payload)
		assert.Nil(t, got.ClientContext)
		assert.Nil(t, got.CognitoIdentityID)
		assert.Nil(t, got.CognitoIdentityPoolID)
		assert.Greater(t, got.Remaining, int64(0))
		assert.LessOrEqual(t, got.Remaining, int64(2000))
		// The trace id is the new invocation's, not the previous one's.
		require.NotNil(t, got.Trace)
		assert.NotContains(t, *got.Trace, "5759e988")
		assert.Contains(t, *got.Trace, "Root=1-")
	})

	t.Run("bad client context", func(t *testing.T) {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`), ClientContext: `{not json`}, 2*time.Second)
		assert.Equal(t, "Runtime.LambdaContextUnmarshalError", res.ErrorType)
		e := decodeError(t, res.Payload)
		assert.Contains(t, e.ErrorMessage, "Unable to parse Client Context JSON")
	})
}

func TestPython_HandlerError(t *testing.T) {
	t.Parallel()
	h, dir := startPython(t, "app.handler", map[string]string{
		"app.py": `class MyError(Exception):
    pass

def helper(msg):
    raise MyError(msg)

def handler(event, context):
    helper("it broke: " + event["why"])
`,
	}, nil)
	require.NoError(t, h.waitInit())
	res := h.invoke(runtimeapi.Invocation{RequestID: "req-err", Payload: []byte(`{"why":"testing"}`)}, 5*time.Second)
	require.Equal(t, "MyError", res.ErrorType)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(res.Payload, &doc))
	assert.Equal(t, "req-err", doc["requestId"])
	e := decodeError(t, res.Payload)
	assert.Equal(t, "MyError", e.ErrorType)
	assert.Equal(t, "it broke: testing", e.ErrorMessage)
	// The client's own frames are left out; no 3.11 column carets.
	app := filepath.Join(dir, "app.py")
	assert.Equal(t, []string{
		"  File \"" + app + "\", line 8, in handler\n    helper(\"it broke: \" + event[\"why\"])\n",
		"  File \"" + app + "\", line 5, in helper\n    raise MyError(msg)\n",
	}, e.StackTrace)

	// The error is logged as AWS logs it, indented with no-break spaces.
	nb := "\u00a0\u00a0"
	want := "[ERROR] MyError: it broke: testing\nTraceback (most recent call last):\n" +
		nb + "File \"" + app + "\", line 8, in handler\n" + nb + nb + "helper("
	require.Eventually(t, func() bool { return strings.Contains(h.out.String(), want) }, 5*time.Second, 20*time.Millisecond, "output:\n%s", h.out.String())

	// A handler error does not end the process.
	res = h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 5*time.Second)
	e = decodeError(t, res.Payload)
	assert.Equal(t, "KeyError", e.ErrorType)
	assert.Equal(t, "'why'", e.ErrorMessage)
}

func TestPython_Responses(t *testing.T) {
	t.Parallel()
	h, _ := startPython(t, "app.handler", map[string]string{
		"app.py": `import decimal

def handler(event, context):
    kind = event["kind"]
    if kind == "set":
        return {1, 2}
    if kind == "str":
        return "hi"
    if kind == "none":
        return None
    if kind == "bytes":
        return b"raw \x00 bytes"
    if kind == "decimal":
        return {"i": decimal.Decimal("3"), "f": decimal.Decimal("1.5")}
    if kind == "unicode":
        return {"s": "h\u00e9llo"}
`,
	}, nil)
	require.NoError(t, h.waitInit())

	tests := []struct {
		kind, payload, errorType string
	}{
		{kind: "str", payload: `"hi"`},
		{kind: "none", payload: `null`},
		{kind: "bytes", payload: "raw \x00 bytes"},
		{kind: "decimal", payload: `{"i": 3, "f": 1.5}`},
		{kind: "unicode", payload: `{"s": "h\u00e9llo"}`},
		{kind: "set", errorType: "Runtime.MarshalError"},
		{kind: "str", payload: `"hi"`}, // still serving after a marshal error
	}
	for _, tc := range tests {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{"kind":"` + tc.kind + `"}`)}, 5*time.Second)
		require.Equal(t, tc.errorType, res.ErrorType, "%s: %s", tc.kind, res.Payload)
		if tc.errorType != "" {
			e := decodeError(t, res.Payload)
			assert.Equal(t, "Unable to marshal response: Object of type set is not JSON serializable", e.ErrorMessage)
			assert.Empty(t, e.StackTrace)
			continue
		}
		assert.Equal(t, tc.payload, string(res.Payload), tc.kind)
	}
}

func TestPython_Output(t *testing.T) {
	t.Parallel()
	h, _ := startPython(t, "app.handler", map[string]string{
		"app.py": `import logging, sys

logger = logging.getLogger()
logger.setLevel(logging.INFO)
print("init output")

def handler(event, context):
    print("print " + event["m"])
    print("partial line " + event["m"], end="")
    sys.stderr.write("stderr " + event["m"] + "\n")
    logger.info("info %s", event["m"])
    logging.getLogger("child").warning("warn " + event["m"])
    return "ok"
`,
	}, nil)
	require.NoError(t, h.waitInit())
	require.Eventually(t, func() bool { return strings.Contains(h.out.String(), "init output\n") }, 2*time.Second, 10*time.Millisecond)
	for _, m := range []string{"one", "two"} {
		res := h.invoke(runtimeapi.Invocation{RequestID: "req-" + m, Payload: []byte(`{"m":"` + m + `"}`)}, 5*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		// Output is flushed before the response is posted; the harness
		// copies it from a pipe, hence the short wait.
		want := []*regexp.Regexp{
			regexp.MustCompile(`(?m)^print ` + m + `$`),
			regexp.MustCompile(`partial line ` + m),
			regexp.MustCompile(`(?m)stderr ` + m + `$`),
			regexp.MustCompile(`(?m)^\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\treq-` + m + `\tinfo ` + m + `$`),
			regexp.MustCompile(`(?m)^\[WARNING\]\t\S+Z\treq-` + m + `\twarn ` + m + `$`),
		}
		require.Eventually(t, func() bool {
			out := h.out.String()
			for _, re := range want {
				if !re.MatchString(out) {
					return false
				}
			}
			return true
		}, 2*time.Second, 10*time.Millisecond, "output:\n%s", h.out.String())
	}
}

func TestPython_StateAcrossInvocations(t *testing.T) {
	t.Parallel()
	h, _ := startPython(t, "app.handler", map[string]string{
		"app.py": `import os

count = 0

def handler(event, context):
    global count
    count += 1
    return {"count": count, "pid": os.getpid()}
`,
	}, nil)
	require.NoError(t, h.waitInit())
	pid := 0.0
	for i := 1; i <= 5; i++ {
		var got map[string]float64
		h.invokeJSON(`{}`, &got)
		require.Equal(t, float64(i), got["count"])
		if i == 1 {
			pid = got["pid"]
		}
		require.Equal(t, pid, got["pid"], "one process serves every invocation")
	}
	require.Equal(t, float64(h.cmd.Process.Pid), pid)
}

func TestPython_HandlerNames(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"app.py":                "def handler(event, context):\n    return 'app'\n",
		"pkg/__init__.py":       "",
		"pkg/mod.py":            "def handler(event, context):\n    return 'pkg.mod'\n",
		"pkg/sub/__init__.py":   "",
		"pkg/sub/deep.py":       "def run(event, context):\n    return 'pkg.sub.deep'\n",
		"nsdir/implicit_ns.py":  "def handler(event, context):\n    return 'namespace package'\n",
		"src/handlers/users.py": "def get(event, context):\n    return 'src/handlers/users'\n",
	}
	tests := []struct{ handler, want string }{
		{"app.handler", "app"},
		{"pkg/mod.handler", "pkg.mod"},
		{"pkg.mod.handler", "pkg.mod"},
		{"pkg/sub/deep.run", "pkg.sub.deep"},
		{"pkg.sub.deep.run", "pkg.sub.deep"},
		{"nsdir/implicit_ns.handler", "namespace package"},
		{"src/handlers/users.get", "src/handlers/users"},
	}
	for _, tc := range tests {
		t.Run(tc.handler, func(t *testing.T) {
			t.Parallel()
			h, _ := startPython(t, tc.handler, files, nil)
			require.NoError(t, h.waitInit())
			var got string
			h.invokeJSON(`{}`, &got)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPython_InitErrors(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"app.py":          "def handler(event, context):\n    return 1\n",
		"broken.py":       "def handler(event, context)\n    return 1\n",
		"needsdep.py":     "import requests_not_installed\n\ndef handler(event, context):\n    return 1\n",
		"raises.py":       "raise RuntimeError('bad config')\n",
		"brokendep.py":    "import broken\n\ndef handler(event, context):\n    return 1\n",
		"pkg/__init__.py": "",
	}
	tests := []struct {
		name, handler, errorType, message string
	}{
		{"import error", "missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'"},
		{"import error in module", "needsdep.handler", "Runtime.ImportModuleError", "Unable to import module 'needsdep': No module named 'requests_not_installed'"},
		{"import error in package", "pkg/nope.handler", "Runtime.ImportModuleError", "Unable to import module 'pkg/nope': No module named 'pkg.nope'"},
		{"handler not found", "app.nothere", "Runtime.HandlerNotFound", "Handler 'nothere' missing on module 'app'"},
		{"malformed handler", "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"},
		{"empty handler", "", "Runtime.MalformedHandlerName", "Bad handler '': not enough values to unpack (expected 2, got 1)"},
		{"built-in module", "sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys as a handler module"},
		{"syntax error", "broken.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'broken': expected ':' (broken.py, line 1)"},
		{"syntax error in import", "brokendep.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'brokendep': expected ':' (broken.py, line 1)"},
		{"exception at import", "raises.handler", "RuntimeError", "bad config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, dir := startPython(t, tc.handler, files, nil)
			errorType, e, doc := initError(t, h)
			assert.Equal(t, tc.errorType, errorType)
			assert.Equal(t, tc.errorType, e.ErrorType)
			assert.Equal(t, tc.message, e.ErrorMessage)
			assert.Equal(t, "", doc["requestId"])
			require.NotNil(t, doc["stackTrace"], "stackTrace is always a list")
			switch tc.errorType {
			case "Runtime.UserCodeSyntaxError":
				require.Len(t, e.StackTrace, 1)
				assert.Equal(t, "  File \""+filepath.Join(dir, "broken.py")+"\" Line 1\n    def handler(event, context)\n", e.StackTrace[0])
			case "RuntimeError":
				require.NotEmpty(t, e.StackTrace)
				assert.Contains(t, e.StackTrace[len(e.StackTrace)-1], "raises.py\", line 1, in <module>\n    raise RuntimeError('bad config')\n")
				for _, l := range e.StackTrace {
					assert.NotContains(t, l, "bootstrap.py")
				}
			default:
				assert.Empty(t, e.StackTrace)
			}
			assert.Contains(t, h.out.String(), "[ERROR] "+tc.errorType+": "+tc.message+"\nTraceback (most recent call last):\n")
		})
	}
}

func TestPython_SysPathAndLayers(t *testing.T) {
	t.Parallel()
	opt := t.TempDir()
	writeFiles(t, opt, map[string]string{
		"python/mylib.py":  "def greet(n):\n    return 'hello ' + n\n",
		"python/shadow.py": "WHERE = 'opt'\n",
		"python/lib/python3.11/site-packages/sitelib.py": "WHERE = 'site-packages'\n",
	})
	h, dir := startPython(t, "app.handler", map[string]string{
		"app.py": `import sys, mylib, shadow, sitelib

def handler(event, context):
    return {"greet": mylib.greet("layer"), "shadow": shadow.WHERE, "sitelib": sitelib.WHERE, "path": sys.path}
`,
		"shadow.py": "WHERE = 'task'\n",
	}, map[string]string{"_KUMO_OPT_DIR": opt})
	require.NoError(t, h.waitInit())
	var got struct {
		Greet, Shadow, Sitelib string
		Path                   []string
	}
	h.invokeJSON(`{}`, &got)
	assert.Equal(t, "hello layer", got.Greet)
	assert.Equal(t, "task", got.Shadow, "the task root comes before /opt/python")
	assert.Equal(t, "site-packages", got.Sitelib)
	runtimeDir, err := filepath.Abs("python/var-runtime")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(got.Path), 5)
	assert.Equal(t, []string{
		dir,
		filepath.Join(opt, "python/lib/python3.11/site-packages"),
		filepath.Join(opt, "python"),
		runtimeDir,
	}, got.Path[:4])
	assert.NotContains(t, got.Path[4:], runtimeDir)
	assert.Contains(t, got.Path, "/usr/lib/python3.11", "the interpreter's own paths follow")
}
