package runtimes_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

// node is the interpreter the nodejs20.x image runs.
const node = "/usr/bin/node"

// nodeClient is the client's entry point in the source tree.
func nodeClient(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(node); err != nil {
		t.Skipf("%s not installed", node)
	}
	p, err := filepath.Abs("nodejs/var-runtime/index.mjs")
	require.NoError(t, err)
	return p
}

// startNode runs kumo's Node.js client on files written to a fresh task
// root.
func startNode(t *testing.T, handler string, files map[string]string, env map[string]string) (*ricHost, string) {
	t.Helper()
	index := nodeClient(t)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return startRIC(t, ricSpec{Argv: []string{node, index}, TaskDir: dir, Handler: handler, Env: env}), dir
}

// nodeError is the error document of AWS's Node.js client: the stack is
// "trace", not "stackTrace" as in the other languages' clients.
type nodeError struct {
	ErrorType    string   `json:"errorType"`
	ErrorMessage string   `json:"errorMessage"`
	Trace        []string `json:"trace"`
}

func decodeNodeError(t *testing.T, payload []byte) nodeError {
	t.Helper()
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(payload, &doc), "error payload: %s", payload)
	require.NotContains(t, doc, "stackTrace", "Node's client sends trace: %s", payload)
	require.Contains(t, doc, "trace", "%s", payload)
	var e nodeError
	require.NoError(t, json.Unmarshal(payload, &e))
	return e
}

// waitExit waits for the client to exit and returns its exit code.
func waitExit(t *testing.T, h *ricHost) int {
	t.Helper()
	select {
	case werr := <-h.done:
		h.done <- werr
		var exit *exec.ExitError
		require.True(t, errors.As(werr, &exit), "exit: %v", werr)
		return exit.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("client still running")
		return 0
	}
}

// nodeInitError waits for an init failure; AWS's client then exits 129,
// the code of its uncaught-exception path.
func nodeInitError(t *testing.T, h *ricHost) (string, nodeError) {
	t.Helper()
	var ie *runtimeapi.InitError
	require.ErrorAs(t, h.waitInit(), &ie)
	require.Equal(t, 129, waitExit(t, h))
	return ie.ErrorType, decodeNodeError(t, ie.Payload)
}

func TestNode_HandlerStyles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, code, want string
	}{
		{"async", `exports.handler = async (event) => ({ style: 'async', n: event.n + 1 });`, `{"style":"async","n":42}`},
		{"promise", `exports.handler = (event) => Promise.resolve({ style: 'promise', n: event.n });`, `{"style":"promise","n":41}`},
		{"callback", `exports.handler = (event, context, callback) => {
  setTimeout(() => callback(null, { style: 'callback', n: event.n }), 5);
};`, `{"style":"callback","n":41}`},
		{"context.succeed", `exports.handler = (event, context) => { context.succeed({ style: 'succeed' }); };`, `{"style":"succeed"}`},
		{"context.done", `exports.handler = (event, context) => { context.done(null, 'done'); };`, `"done"`},
		{"first answer wins", `exports.handler = (event, context, callback) => {
  callback(null, 'first');
  callback(null, 'second');
  context.succeed('third');
};`, `"first"`},
		{"undefined result", `exports.handler = async () => undefined;`, `null`},
		// A handler that neither returns a promise nor calls back answers
		// null once the event loop is empty.
		{"no callback", `exports.handler = (event) => { setTimeout(() => {}, 20); return 'ignored'; };`, `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := startNode(t, "index.handler", map[string]string{"index.js": tc.code}, nil)
			require.NoError(t, h.waitInit())
			res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{"n":41}`)}, 5*time.Second)
			require.Empty(t, res.ErrorType, "%s", res.Payload)
			require.JSONEq(t, tc.want, string(res.Payload))
		})
	}
}

func TestNode_ModuleFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, handler string
		files         map[string]string
		want          string
	}{
		{"commonjs .js", "app.handler", map[string]string{
			"app.js": `exports.handler = async () => 'cjs ' + (typeof require);`,
		}, "cjs function"},
		{"es module .mjs", "app.handler", map[string]string{
			"app.mjs": `export const handler = async () => 'esm ' + (typeof require) + ' ' + import.meta.url.startsWith('file://');`,
		}, "esm undefined true"},
		{"type module .js", "app.handler", map[string]string{
			"package.json": `{"type": "module"}`,
			"app.js":       `import { join } from 'node:path'; export const handler = async () => join('type', 'module');`,
		}, "type/module"},
		{"type module in a parent directory", "src/fns/app.handler", map[string]string{
			"package.json":   `{"type": "module"}`,
			"src/fns/app.js": `export const handler = async () => 'parent package.json';`,
		}, "parent package.json"},
		{"type commonjs .js", "app.handler", map[string]string{
			"package.json": `{"type": "commonjs"}`,
			"app.js":       `module.exports = { handler: async () => 'type commonjs' };`,
		}, "type commonjs"},
		{".cjs", "app.handler", map[string]string{
			"package.json": `{"type": "module"}`,
			"app.cjs":      `exports.handler = async () => 'cjs extension';`,
		}, "cjs extension"},
		{"extensionless file", "plain.handler", map[string]string{
			"plain": `exports.handler = async () => 'no extension';`,
		}, "no extension"},
		{"top-level await", "app.handler", map[string]string{
			"app.mjs": `const v = await new Promise((r) => setTimeout(() => r('tla'), 10));
export const handler = async () => v;`,
		}, "tla"},
		{"esm importing commonjs", "app.handler", map[string]string{
			"app.mjs": `import lib from './lib.cjs'; export const handler = async () => lib.name;`,
			"lib.cjs": `module.exports = { name: 'from cjs' };`,
		}, "from cjs"},
		{"directory", "src/handlers/users.get", map[string]string{
			"src/handlers/users.js": `exports.get = async () => 'src/handlers/users';`,
		}, "src/handlers/users"},
		{"nested export", "app.api.v1.get", map[string]string{
			"app.js": `exports.api = { v1: { get: async () => 'nested' } };`,
		}, "nested"},
		{"default export", "app.default", map[string]string{
			"app.mjs": `export default async () => 'default';`,
		}, "default"},
		{"package in node_modules", "mypkg.handler", map[string]string{
			"node_modules/mypkg/package.json": `{"main": "lib/main.js"}`,
			"node_modules/mypkg/lib/main.js":  `exports.handler = async () => 'from node_modules';`,
		}, "from node_modules"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := startNode(t, tc.handler, tc.files, nil)
			require.NoError(t, h.waitInit())
			var got string
			h.invokeJSON(`{}`, &got)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestNode_Context(t *testing.T) {
	t.Parallel()
	h, _ := startNode(t, "index.handler", map[string]string{
		"index.mjs": `export const handler = async (event, context) => ({
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  invokedFunctionArn: context.invokedFunctionArn,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remaining: context.getRemainingTimeInMillis(),
  waits: context.callbackWaitsForEmptyEventLoop,
  clientContext: context.clientContext ?? 'absent',
  identity: context.identity ?? 'absent',
  trace: process.env._X_AMZN_TRACE_ID ?? 'absent',
  keys: Object.keys(context),
  json: JSON.parse(JSON.stringify(context)),
});
`,
	}, nil)
	require.NoError(t, h.waitInit())

	type ctxOut struct {
		AWSRequestID       string         `json:"awsRequestId"`
		FunctionName       string         `json:"functionName"`
		FunctionVersion    string         `json:"functionVersion"`
		MemoryLimitInMB    any            `json:"memoryLimitInMB"`
		InvokedFunctionARN string         `json:"invokedFunctionArn"`
		LogGroupName       string         `json:"logGroupName"`
		LogStreamName      string         `json:"logStreamName"`
		Remaining          int64          `json:"remaining"`
		Waits              bool           `json:"waits"`
		ClientContext      any            `json:"clientContext"`
		Identity           any            `json:"identity"`
		Trace              string         `json:"trace"`
		Keys               []string       `json:"keys"`
		JSON               map[string]any `json:"json"`
	}

	t.Run("all fields", func(t *testing.T) {
		res := h.invoke(fullInvocation(), 5*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		var got ctxOut
		require.NoError(t, json.Unmarshal(res.Payload, &got), "%s", res.Payload)
		assertFullContext(t, lambdaContext{got.AWSRequestID, got.FunctionName, got.FunctionVersion, got.MemoryLimitInMB,
			got.InvokedFunctionARN, got.LogGroupName, got.LogStreamName, got.Remaining})
		assert.True(t, got.Waits)
		// Node's client passes both documents through as parsed JSON.
		assert.Equal(t, map[string]any{
			"client": map[string]any{"installation_id": "inst-1", "app_title": "kumo-app"},
			"custom": map[string]any{"k": "v"},
			"env":    map[string]any{"platform": "linux"},
		}, got.ClientContext)
		assert.Equal(t, map[string]any{"cognitoIdentityId": "cog-1", "cognitoIdentityPoolId": "pool-1"}, got.Identity)
		assert.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", got.Trace)
		// The same members, in the same order, as AWS's context object.
		assert.Equal(t, []string{
			"callbackWaitsForEmptyEventLoop", "succeed", "fail", "done",
			"functionVersion", "functionName", "memoryLimitInMB", "logGroupName", "logStreamName",
			"clientContext", "identity", "invokedFunctionArn", "awsRequestId", "tenantId", "getRemainingTimeInMillis",
		}, got.Keys)
		assert.Equal(t, "11111111-2222-3333-4444-555555555555", got.JSON["awsRequestId"])
		assert.Equal(t, true, got.JSON["callbackWaitsForEmptyEventLoop"])
	})

	t.Run("absent client context and identity", func(t *testing.T) {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 2*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		var got ctxOut
		require.NoError(t, json.Unmarshal(res.Payload, &got), "%s", res.Payload)
		assert.Equal(t, "absent", got.ClientContext)
		assert.Equal(t, "absent", got.Identity)
		assert.NotContains(t, got.JSON, "clientContext")
		assert.Greater(t, got.Remaining, int64(0))
		assert.LessOrEqual(t, got.Remaining, int64(2000))
		// The trace id is the new invocation's, not the previous one's.
		assert.NotContains(t, got.Trace, "5759e988")
		assert.Contains(t, got.Trace, "Root=1-")
	})

	t.Run("bad client context", func(t *testing.T) {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`), ClientContext: `{not json`}, 2*time.Second)
		assert.Equal(t, "Error", res.ErrorType)
		e := decodeNodeError(t, res.Payload)
		assert.Contains(t, e.ErrorMessage, "Cannot parse ClientContext as json: SyntaxError")
	})
}

func TestNode_CallbackWaitsForEmptyEventLoop(t *testing.T) {
	t.Parallel()
	// The result is serialized when the invocation completes, so a timer
	// that runs before completion shows in the response.
	code := `exports.handler = (event, context, callback) => {
  if (event.wait !== undefined) {
    context.callbackWaitsForEmptyEventLoop = event.wait;
  }
  const result = { timerRan: false };
  setTimeout(() => { result.timerRan = true; }, 300);
  callback(null, result);
};
exports.async = async (event, context) => {
  setTimeout(() => {}, 3000);
  return 'not waiting';
};
`
	h, _ := startNode(t, "index.handler", map[string]string{"index.js": code}, nil)
	require.NoError(t, h.waitInit())
	for _, tc := range []struct {
		payload string
		want    string
	}{
		{`{}`, `{"timerRan":true}`},
		{`{"wait":true}`, `{"timerRan":true}`},
		{`{"wait":false}`, `{"timerRan":false}`},
	} {
		start := time.Now()
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(tc.payload)}, 5*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		require.JSONEq(t, tc.want, string(res.Payload), tc.payload)
		if tc.want == `{"timerRan":false}` {
			require.Less(t, time.Since(start), 250*time.Millisecond)
		}
	}

	// An async handler's result is sent when its promise settles, whatever
	// the event loop still holds.
	h2, _ := startNode(t, "index.async", map[string]string{"index.js": code}, nil)
	require.NoError(t, h2.waitInit())
	start := time.Now()
	var got string
	h2.invokeJSON(`{}`, &got)
	require.Equal(t, "not waiting", got)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestNode_HandlerErrors(t *testing.T) {
	t.Parallel()
	code := `class MyError extends Error {
  constructor(message) { super(message); this.name = 'MyError'; }
}
function helper(why) { throw new TypeError('it broke: ' + why); }
exports.handler = async (event, context) => {
  switch (event.kind) {
    case 'throw': helper(event.why);
    case 'custom': throw new MyError('custom ' + event.why);
    case 'string': return Promise.reject('just a string');
    case 'object': return Promise.reject({ a: 1 });
    case 'fail': context.fail(); return new Promise(() => {});
    case 'failMessage': context.fail('failed: ' + event.why); return new Promise(() => {});
    case 'badjson': { const a = {}; a.self = a; return a; }
    default: return 'ok';
  }
};
exports.sync = (event, context, callback) => {
  if (event.kind === 'callback') { callback(new Error('called back')); return; }
  throw new RangeError('sync throw');
};
`
	h, dir := startNode(t, "app.handler", map[string]string{"app.js": code}, nil)
	require.NoError(t, h.waitInit())
	app := filepath.Join(dir, "app.js")

	tests := []struct {
		kind, errorType, message string
		trace                    []string // leading lines
	}{
		{"throw", "TypeError", "it broke: testing", []string{"TypeError: it broke: testing", "    at helper (" + app + ":4:"}},
		{"custom", "MyError", "custom testing", []string{"MyError: custom testing", "    at exports.handler (" + app + ":8:"}},
		{"string", "string", "just a string", nil},
		{"object", "object", "[object Object]", nil},
		{"fail", "string", "handled", nil},
		{"failMessage", "string", "failed: testing", nil},
		{"badjson", "Error", "Unable to stringify response body", []string{"Error: Unable to stringify response body"}},
	}
	for _, tc := range tests {
		res := h.invoke(runtimeapi.Invocation{RequestID: "req-" + tc.kind, Payload: []byte(`{"kind":"` + tc.kind + `","why":"testing"}`)}, 5*time.Second)
		require.Equal(t, tc.errorType, res.ErrorType, "%s: %s", tc.kind, res.Payload)
		e := decodeNodeError(t, res.Payload)
		assert.Equal(t, tc.errorType, e.ErrorType, tc.kind)
		assert.Equal(t, tc.message, e.ErrorMessage, tc.kind)
		if tc.trace == nil {
			assert.Empty(t, e.Trace, tc.kind)
		}
		require.GreaterOrEqual(t, len(e.Trace), len(tc.trace), "%s: %q", tc.kind, e.Trace)
		for i, want := range tc.trace {
			assert.True(t, strings.HasPrefix(e.Trace[i], want), "%s: trace[%d] = %q, want prefix %q", tc.kind, i, e.Trace[i], want)
		}
	}

	// The error is logged as AWS's client logs it.
	want := "\treq-throw\tERROR\tInvoke Error \t{\"errorType\":\"TypeError\",\"errorMessage\":\"it broke: testing\",\"stack\":[\"TypeError: it broke: testing\","
	require.Eventually(t, func() bool { return strings.Contains(h.out.String(), want) }, 5*time.Second, 20*time.Millisecond, "output:\n%s", h.out.String())

	// A handler error does not end the process.
	var got string
	h.invokeJSON(`{}`, &got)
	require.Equal(t, "ok", got)

	// An ES module handler's frames read as on AWS: the handler is called
	// as a method of the client's Runtime.
	h3, dir3 := startNode(t, "index.handler", map[string]string{
		"index.mjs": "export const handler = async () => fail();\nfunction fail() { throw new Error('esm'); }\n",
	}, nil)
	require.NoError(t, h3.waitInit())
	res := h3.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 5*time.Second)
	e := decodeNodeError(t, res.Payload)
	require.GreaterOrEqual(t, len(e.Trace), 3, "%q", e.Trace)
	assert.Equal(t, "Error: esm", e.Trace[0])
	assert.Equal(t, "    at fail (file://"+dir3+"/index.mjs:2:25)", e.Trace[1])
	assert.Equal(t, "    at Runtime.handler (file://"+dir3+"/index.mjs:1:36)", e.Trace[2])

	h2, _ := startNode(t, "app.sync", map[string]string{"app.js": code}, nil)
	require.NoError(t, h2.waitInit())
	for kind, want := range map[string][2]string{
		"callback": {"Error", "called back"},
		"throw":    {"RangeError", "sync throw"},
	} {
		res := h2.invoke(runtimeapi.Invocation{Payload: []byte(`{"kind":"` + kind + `"}`)}, 5*time.Second)
		e := decodeNodeError(t, res.Payload)
		assert.Equal(t, want[0], res.ErrorType, kind)
		assert.Equal(t, want[1], e.ErrorMessage, kind)
	}
}

func TestNode_InitErrors(t *testing.T) {
	t.Parallel()
	index := nodeClient(t)
	files := map[string]string{
		"app.js":           `exports.handler = async () => 1; exports.value = 1;`,
		"broken.js":        "exports.handler = async () => {\n",
		"broken.mjs":       "export const handler = async () => {\n",
		"needsdep.js":      `const dep = require('not-installed-pkg'); exports.handler = async () => dep;`,
		"needsdep.mjs":     `import dep from 'not-installed-pkg'; export const handler = async () => dep;`,
		"raises.js":        `throw new Error('bad config');`,
		"rejects.mjs":      `await Promise.reject(new TypeError('bad async config')); export const handler = 1;`,
		"asyncthrow.js":    `process.nextTick(() => { throw new Error('later'); }); exports.handler = async () => 1;`,
		"sub/package.json": `{"type": "module"}`,
	}
	tests := []struct {
		name, handler, errorType, message string
		messagePrefix                     bool
	}{
		{name: "missing module", handler: "missing.handler", errorType: "Runtime.ImportModuleError",
			message: "Error: Cannot find module 'missing'\nRequire stack:\n- " + index},
		{name: "missing module in a directory", handler: "sub/missing.handler", errorType: "Runtime.ImportModuleError",
			message: "Error: Cannot find module 'missing'\nRequire stack:\n- " + index},
		{name: "missing package in commonjs", handler: "needsdep.handler", errorType: "Runtime.ImportModuleError",
			message: "Error: Cannot find module 'not-installed-pkg'\nRequire stack:\n- {dir}/needsdep.js\n- " + index},
		// ES modules fail with Node's own error, unwrapped, as on AWS.
		{name: "missing package in es module", handler: "needsdep.handler2", errorType: "Error",
			message: "Cannot find package 'not-installed-pkg' imported from {dir}/needsdep.mjs"},
		{name: "handler not exported", handler: "app.nothere", errorType: "Runtime.HandlerNotFound",
			message: "app.nothere is undefined or not exported"},
		{name: "handler not a function", handler: "app.value", errorType: "Runtime.HandlerNotFound",
			message: "app.value is not a function"},
		{name: "syntax error", handler: "broken.handler", errorType: "Runtime.UserCodeSyntaxError",
			message: "SyntaxError: Unexpected end of input"},
		{name: "syntax error in es module", handler: "broken.handler2", errorType: "Runtime.UserCodeSyntaxError",
			message: "SyntaxError: Unexpected end of input"},
		{name: "no dot", handler: "nodot", errorType: "Runtime.MalformedHandlerName", message: "Bad handler"},
		{name: "empty", handler: "", errorType: "Runtime.MalformedHandlerName", message: "Bad handler"},
		{name: "relative path", handler: "../app.handler", errorType: "Runtime.MalformedHandlerName",
			message: "'../app.handler' is not a valid handler name. Use absolute paths when specifying root directories in handler names."},
		{name: "exception at load", handler: "raises.handler", errorType: "Error", message: "bad config"},
		{name: "rejection at load", handler: "rejects.handler", errorType: "TypeError", message: "bad async config"},
		{name: "uncaught exception during init", handler: "asyncthrow.handler", errorType: "Error", message: "later"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := files
			// The .mjs twins share a module name with a .js file, which
			// would be found first; give them their own task root.
			if strings.HasSuffix(tc.handler, "2") {
				base := strings.TrimSuffix(tc.handler, ".handler2")
				fs = map[string]string{base + ".mjs": files[base+".mjs"]}
				tc.handler = base + ".handler"
			}
			h, dir := startNode(t, tc.handler, fs, nil)
			errorType, e := nodeInitError(t, h)
			assert.Equal(t, tc.errorType, errorType)
			assert.Equal(t, tc.errorType, e.ErrorType)
			assert.Equal(t, strings.ReplaceAll(tc.message, "{dir}", dir), e.ErrorMessage)
			require.NotEmpty(t, e.Trace)
			// Node prints a code after the name: "Error [ERR_X]: ...".
			assert.Regexp(t, `^`+regexp.QuoteMeta(tc.errorType)+`( \[\w+\])?: `, e.Trace[0])
			// Logged as AWS logs it, before any request id exists.
			assert.Regexp(t, `(?m)^\S+Z\tundefined\tERROR\tUncaught Exception \t\{"errorType":"`+regexp.QuoteMeta(tc.errorType)+`"`, h.out.String())
		})
	}
}

func TestNode_Output(t *testing.T) {
	t.Parallel()
	h, _ := startNode(t, "app.handler", map[string]string{
		"app.js": `console.log('init output');
exports.handler = async (event) => {
  console.log('log', event.m, { n: 1 });
  console.info('info %s', event.m);
  console.warn('warn ' + event.m);
  console.error('error ' + event.m);
  console.debug('debug ' + event.m);
  console.log('two\nlines ' + event.m);
  process.stdout.write('raw stdout ' + event.m + '\n');
  process.stderr.write('raw stderr ' + event.m + '\n');
  return 'ok';
};
`,
	}, nil)
	require.NoError(t, h.waitInit())
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\tundefined\tINFO\tinit output$`).MatchString(h.out.String())
	}, 2*time.Second, 10*time.Millisecond, "output:\n%s", h.out.String())
	for _, m := range []string{"one", "two"} {
		res := h.invoke(runtimeapi.Invocation{RequestID: "req-" + m, Payload: []byte(`{"m":"` + m + `"}`)}, 5*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		ts := `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`
		want := []*regexp.Regexp{
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tINFO\tlog ` + m + ` \{ n: 1 \}$`),
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tINFO\tinfo ` + m + `$`),
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tWARN\twarn ` + m + `$`),
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tERROR\terror ` + m + `$`),
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tDEBUG\tdebug ` + m + `$`),
			// One record per call: newlines become carriage returns.
			regexp.MustCompile(`(?m)^` + ts + `\treq-` + m + `\tINFO\ttwo\rlines ` + m + `$`),
			regexp.MustCompile(`(?m)^raw stdout ` + m + `$`),
			regexp.MustCompile(`(?m)^raw stderr ` + m + `$`),
		}
		// Output is flushed before the response is posted; the harness
		// copies it from a pipe, hence the short wait.
		require.Eventually(t, func() bool {
			out := h.out.String()
			for _, re := range want {
				if !re.MatchString(out) {
					return false
				}
			}
			return true
		}, 2*time.Second, 10*time.Millisecond, "output:\n%q", h.out.String())
	}
}

func TestNode_JSONLogFormat(t *testing.T) {
	t.Parallel()
	h, _ := startNode(t, "app.handler", map[string]string{
		"app.js": `exports.handler = async () => {
  console.debug('hidden');
  console.info('shown', 42);
  console.warn({ structured: true });
  return 'ok';
};
`,
	}, map[string]string{"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
	require.NoError(t, h.waitInit())
	res := h.invoke(runtimeapi.Invocation{RequestID: "req-json", Payload: []byte(`{}`)}, 5*time.Second)
	require.Empty(t, res.ErrorType)
	var info, warn map[string]any
	require.Eventually(t, func() bool {
		for _, line := range strings.Split(h.out.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			switch rec["level"] {
			case "INFO":
				info = rec
			case "WARN":
				warn = rec
			}
		}
		return info != nil && warn != nil
	}, 2*time.Second, 10*time.Millisecond, "output:\n%s", h.out.String())
	assert.Equal(t, "req-json", info["requestId"])
	assert.Equal(t, "shown 42", info["message"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, info["timestamp"])
	assert.Equal(t, map[string]any{"structured": true}, warn["message"])
	assert.NotContains(t, h.out.String(), "hidden")
}

// TestNode_OutputFlushedBeforeResponse holds the reader of the client's
// stdout pipe: Node writes to pipes asynchronously, and the response must
// not be posted before the output has left the process.
func TestNode_OutputFlushedBeforeResponse(t *testing.T) {
	t.Parallel()
	index := nodeClient(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"app.js": `exports.handler = async () => {
  process.stdout.write('BEGIN' + 'x'.repeat(2 << 20) + 'END\n');
  console.log('after the big write');
  return { pending: process.stdout.writableLength };
};
`,
	})
	fifo := filepath.Join(t.TempDir(), "stdout")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// The shell blocks opening the fifo until the reader below opens it,
	// then becomes node.
	h := startRIC(t, ricSpec{
		Argv:    []string{"/bin/sh", "-c", `exec "$0" "$1" >"$2"`, node, index, fifo},
		TaskDir: dir, Handler: "app.handler",
	})
	r, err := os.Open(fifo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	require.NoError(t, h.waitInit())

	type result struct {
		res runtimeapi.Result
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 10*time.Second)
		done <- result{res, time.Now()}
	}()
	select {
	case r := <-done:
		t.Fatalf("response posted while its output could not be written: %s", r.res.Payload)
	case <-time.After(500 * time.Millisecond):
	}

	out := &syncBuffer{}
	copied := make(chan error, 1)
	go func() {
		_, err := io.Copy(out, r)
		copied <- err
	}()
	var got result
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no response")
	}
	atResponse := out.String()
	require.Empty(t, got.res.ErrorType, "%s", got.res.Payload)
	var body struct{ Pending int }
	require.NoError(t, json.Unmarshal(got.res.Payload, &body))
	require.Positive(t, body.Pending, "the write was asynchronous, so there was something to flush")
	// By the time the response was posted, the reader had all of the
	// output but what the pipe and one read buffer hold.
	require.True(t, strings.HasPrefix(atResponse, "BEGIN"))
	require.Greater(t, len(atResponse), 2<<20-256<<10)
	require.NoError(t, h.cmd.Process.Kill())
	require.NoError(t, <-copied)
	require.Contains(t, out.String(), "END\n")
	require.Contains(t, out.String(), "\tINFO\tafter the big write\n")
}

func TestNode_StateAcrossInvocations(t *testing.T) {
	t.Parallel()
	h, _ := startNode(t, "app.handler", map[string]string{
		"app.mjs": `let count = 0;
export const handler = async () => ({ count: ++count, pid: process.pid });
`,
	}, nil)
	require.NoError(t, h.waitInit())
	for i := 1; i <= 5; i++ {
		var got map[string]float64
		h.invokeJSON(`{}`, &got)
		require.Equal(t, float64(i), got["count"])
		require.Equal(t, float64(h.cmd.Process.Pid), got["pid"], "one process serves every invocation")
	}
}

// TestNode_NodePath puts packages where layers put them: require() finds
// them through NODE_PATH, and ES module imports do too, as on AWS's
// Node.js 18+ runtimes.
func TestNode_NodePath(t *testing.T) {
	t.Parallel()
	opt := t.TempDir()
	writeFiles(t, opt, map[string]string{
		"nodejs/node_modules/greeter/package.json":        `{"name": "greeter", "main": "index.js"}`,
		"nodejs/node_modules/greeter/index.js":            `module.exports = (n) => 'hello ' + n;`,
		"nodejs/node_modules/@kumo/esm-only/package.json": `{"name": "@kumo/esm-only", "type": "module", "exports": {".": "./main.js", "./sub": "./sub.js"}}`,
		"nodejs/node_modules/@kumo/esm-only/main.js":      `export const who = 'esm layer';`,
		"nodejs/node_modules/@kumo/esm-only/sub.js":       `export const sub = 'subpath';`,
		"nodejs/node_modules/dup/index.js":                `module.exports = 'nodejs/node_modules';`,
		"nodejs/node20/node_modules/dup/index.js":         `module.exports = 'nodejs/node20/node_modules';`,
	})
	files := map[string]string{
		"cjs.js": `const greet = require('greeter');
exports.handler = async () => [greet('cjs'), require('dup')];
`,
		"esm.mjs": `import greet from 'greeter';
import { who } from '@kumo/esm-only';
import { sub } from '@kumo/esm-only/sub';
import dup from 'dup';
import local from './local.mjs';
export const handler = async () => [greet('esm'), who, sub, dup, local];
`,
		"local.mjs":   `export default 'relative imports unaffected';`,
		"missing.mjs": `import x from 'not-in-any-layer'; export const handler = async () => x;`,
	}
	tests := []struct {
		handler string
		want    []string
	}{
		{"cjs.handler", []string{"hello cjs", "nodejs/node20/node_modules"}},
		{"esm.handler", []string{"hello esm", "esm layer", "subpath", "nodejs/node20/node_modules", "relative imports unaffected"}},
	}
	for _, tc := range tests {
		t.Run(tc.handler, func(t *testing.T) {
			t.Parallel()
			// The image's NODE_PATH, with /opt here.
			h, _ := startNode(t, tc.handler, files, map[string]string{
				"NODE_PATH": strings.Join([]string{
					opt + "/nodejs/node20/node_modules", opt + "/nodejs/node_modules",
					"/var/runtime/node_modules", "/var/runtime", "/var/task",
				}, ":"),
			})
			require.NoError(t, h.waitInit())
			var got []string
			h.invokeJSON(`{}`, &got)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("not found", func(t *testing.T) {
		t.Parallel()
		h, dir := startNode(t, "missing.handler", files, map[string]string{"NODE_PATH": opt + "/nodejs/node_modules"})
		errorType, e := nodeInitError(t, h)
		assert.Equal(t, "Error", errorType)
		assert.Equal(t, "Cannot find package 'not-in-any-layer' imported from "+dir+"/missing.mjs", e.ErrorMessage)
	})
}

func TestNode_FatalErrors(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"app.js": `exports.uncaught = async () => {
  setTimeout(() => { throw new Error('async boom'); }, 10);
  return new Promise(() => {});
};
exports.rejection = async () => {
  Promise.reject(new Error('rejected boom'));
  return new Promise((resolve) => setTimeout(resolve, 1000));
};
exports.unsettled = async () => new Promise(() => {});
exports.ok = async () => 'still serving';
`,
	}
	tests := []struct {
		handler, errorType, message string
		exit                        int
	}{
		{"app.uncaught", "Error", "async boom", 129},
		{"app.rejection", "Runtime.UnhandledPromiseRejection", "Error: rejected boom", 128},
	}
	for _, tc := range tests {
		t.Run(tc.handler, func(t *testing.T) {
			t.Parallel()
			h, _ := startNode(t, tc.handler, files, nil)
			require.NoError(t, h.waitInit())
			res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 5*time.Second)
			require.Equal(t, tc.errorType, res.ErrorType, "%s", res.Payload)
			e := decodeNodeError(t, res.Payload)
			assert.Equal(t, tc.message, e.ErrorMessage)
			// The process exits after reporting, as AWS's does, so that
			// the host replaces the instance.
			assert.Equal(t, tc.exit, waitExit(t, h))
		})
	}

	t.Run("promise never settled", func(t *testing.T) {
		t.Parallel()
		h, _ := startNode(t, "app.unsettled", files, nil)
		require.NoError(t, h.waitInit())
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 5*time.Second)
		require.Equal(t, "Runtime.NodeJsExit", res.ErrorType, "%s", res.Payload)
		e := decodeNodeError(t, res.Payload)
		assert.Contains(t, e.ErrorMessage, "Promise that was never settled")
		// Not fatal: the next invocation is served by the same process.
		res = h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 5*time.Second)
		require.Equal(t, "Runtime.NodeJsExit", res.ErrorType, "%s", res.Payload)
	})
}

func TestNode_ResponseStreaming(t *testing.T) {
	t.Parallel()
	h, _ := startNode(t, "app.handler", map[string]string{
		"app.mjs": `import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.fail) {
    responseStream.write('partial');
    throw new Error('stream broke');
  }
  if (event.http) {
    responseStream = awslambda.HttpResponseStream.from(responseStream, { statusCode: 201 });
  }
  responseStream.setContentType('text/plain');
  await pipeline(Readable.from(['hello ', context.awsRequestId]), responseStream);
});
`,
	}, nil)
	require.NoError(t, h.waitInit())

	res := h.invoke(runtimeapi.Invocation{RequestID: "req-s1", Payload: []byte(`{}`)}, 5*time.Second)
	require.Empty(t, res.ErrorType, "%s", res.Payload)
	require.Equal(t, "hello req-s1", string(res.Payload))

	res = h.invoke(runtimeapi.Invocation{RequestID: "req-s2", Payload: []byte(`{"http":true}`)}, 5*time.Second)
	require.Empty(t, res.ErrorType, "%s", res.Payload)
	require.Equal(t, `{"statusCode":201}`+"\x00\x00\x00\x00\x00\x00\x00\x00"+"hello req-s2", string(res.Payload))

	res = h.invoke(runtimeapi.Invocation{Payload: []byte(`{"fail":true}`)}, 5*time.Second)
	require.Equal(t, "Error", res.ErrorType, "%s", res.Payload)
	e := decodeNodeError(t, res.Payload)
	assert.Equal(t, "stream broke", e.ErrorMessage)

	res = h.invoke(runtimeapi.Invocation{RequestID: "req-s3", Payload: []byte(`{}`)}, 5*time.Second)
	require.Equal(t, "hello req-s3", string(res.Payload))
}
