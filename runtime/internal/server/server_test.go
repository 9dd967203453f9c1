package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// allow lets every request through: signatures are tested in package auth
// and end to end; here the subject is what happens after authentication.
type allow struct{}

func (allow) Verify(*http.Request, []byte) error { return nil }

type deny struct{}

func (deny) Verify(*http.Request, []byte) error {
	return &kumo.Error{Kind: kumo.ErrAccessDenied, Code: "InvalidSignatureException", Message: "bad signature"}
}

// recordingInvoker answers every invocation with a canned response and
// remembers the request.
type recordingInvoker struct {
	last invoke.Request
	resp invoke.Response
	err  error
}

func (r *recordingInvoker) Invoke(_ context.Context, req invoke.Request) (invoke.Response, error) {
	r.last = req
	return r.resp, r.err
}

type noLogs struct{}

func (noLogs) ReadLogs(context.Context, string, uint64, int) ([]server.LogRecord, error) {
	return nil, nil
}

func (noLogs) FollowLogs(context.Context, string, uint64) (<-chan server.LogRecord, error) {
	ch := make(chan server.LogRecord)
	close(ch)
	return ch, nil
}

func newServer(t *testing.T, v server.Verifier) (*httptest.Server, *recordingInvoker) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"})
	inv := &recordingInvoker{resp: invoke.Response{RequestID: "req-1", Payload: []byte(`{"ok":true}`), ExecutedVersion: "$LATEST", StatusCode: 200}}
	ts := httptest.NewServer(server.New(ctl, inv, noLogs{}, v))
	t.Cleanup(ts.Close)
	return ts, inv
}

func do(t *testing.T, method, url string, body []byte, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(raw, &out)
	}
	return resp, out
}

func zipBytes(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("bootstrap")
	require.NoError(t, err)
	_, _ = w.Write([]byte("#!/bin/sh\n"))
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func createBody(t *testing.T, name string) []byte {
	b, err := json.Marshal(map[string]any{
		"FunctionName": name, "Runtime": "provided.al2023", "Role": "arn:aws:iam::000000000000:role/x",
		"Handler": "bootstrap", "Code": map[string]any{"ZipFile": base64.StdEncoding.EncodeToString(zipBytes(t))},
	})
	require.NoError(t, err)
	return b
}

func TestErrorProtocol(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t, allow{})
	u := ts.URL
	_, _ = do(t, "POST", u+"/2015-03-31/functions", createBody(t, "dup"), nil)
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		code, msgKey, msg  string
	}{
		{"not found", "GET", "/2015-03-31/functions/nope", nil, 404, "ResourceNotFoundException", "Message", "Function not found: arn:aws:lambda:local:000000000000:function:nope"},
		{"encoded arn not found", "GET", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Alocal%3A000000000000%3Afunction%3Anope%3A%24LATEST", nil, 404, "ResourceNotFoundException", "Message", "function:nope:$LATEST"},
		{"bad name", "GET", "/2015-03-31/functions/bad%20name", nil, 400, "InvalidParameterValueException", "message", "functionName"},
		{"malformed json", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":`), 400, "InvalidRequestContentException", "message", "Could not parse request body"},
		{"unknown field", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":"x","Bogus":1}`), 400, "InvalidRequestContentException", "message", "Unrecognized field"},
		{"unknown nested field", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":"x","Code":{"Zip":"x"}}`), 400, "InvalidRequestContentException", "message", "Unrecognized field"},
		{"wrong type", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":"x","MemorySize":"big"}`), 400, "InvalidRequestContentException", "message", "MemorySize"},
		{"bad base64", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":"x","Code":{"ZipFile":"!!!"}}`), 400, "InvalidRequestContentException", "message", "parse"},
		{"trailing data", "POST", "/2015-03-31/functions", []byte(`{} {}`), 400, "InvalidRequestContentException", "message", "after the JSON"},
		{"array body", "POST", "/2015-03-31/functions", []byte(`[1,2]`), 400, "InvalidRequestContentException", "message", "parse"},
		{"no code", "POST", "/2015-03-31/functions", []byte(`{"FunctionName":"x"}`), 400, "InvalidParameterValueException", "message", "code"},
		{"duplicate", "POST", "/2015-03-31/functions", createBody(t, "dup"), 409, "ResourceConflictException", "message", "already exist"},
		{"unknown route", "GET", "/2099-01-01/nothing", nil, 404, "ResourceNotFoundException", "Message", "Unknown operation"},
		{"bad max items", "GET", "/2015-03-31/functions?MaxItems=abc", nil, 400, "InvalidParameterValueException", "message", "maxItems"},
		{"stale revision", "PUT", "/2015-03-31/functions/dup/configuration", []byte(`{"Timeout":5,"RevisionId":"x"}`), 412, "PreconditionFailedException", "message", "Revision Id"},
		{"tag without arn", "POST", "/2017-03-31/tags/dup", []byte(`{"Tags":{"a":"b"}}`), 400, "InvalidParameterValueException", "message", "resource"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, u+tc.path, tc.body, nil)
			require.Equal(t, tc.status, resp.StatusCode, "body: %v", body)
			assert.Equal(t, tc.code, resp.Header.Get("x-amzn-ErrorType"))
			assert.NotEmpty(t, resp.Header.Get("x-amzn-RequestId"))
			assert.Equal(t, "User", body["Type"])
			assert.Equal(t, tc.code, body["__type"])
			msg, _ := body[tc.msgKey].(string)
			assert.Contains(t, msg, tc.msg)
		})
	}
}

func TestAuthIsCheckedEverywhere(t *testing.T) {
	t.Parallel()
	ts, inv := newServer(t, deny{})
	for _, p := range []string{"/2015-03-31/functions", "/2015-03-31/functions/x", "/kumo/v1/functions/x/logs", "/2099/unknown"} {
		resp, body := do(t, "GET", ts.URL+p, nil, nil)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, p)
		assert.Equal(t, "InvalidSignatureException", resp.Header.Get("x-amzn-ErrorType"), p)
		assert.Equal(t, "bad signature", body["Message"], p)
	}
	resp, _ := do(t, "POST", ts.URL+"/2015-03-31/functions/x/invocations", []byte(`{}`), nil)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Empty(t, inv.last.FunctionName, "nothing runs without authentication")
	resp, _ = do(t, "GET", ts.URL+"/kumo/v1/health", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestInvokeWire(t *testing.T) {
	t.Parallel()
	ts, inv := newServer(t, allow{})
	url := ts.URL + "/2015-03-31/functions/fn/invocations"
	cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"k":"v"}}`))

	inv.resp = invoke.Response{RequestID: "req-9", Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`), FunctionError: "Unhandled", ExecutedVersion: "$LATEST", LogTail: []byte("START\nEND\n"), StatusCode: 200}
	resp, body := do(t, "POST", url+"?Qualifier=%24LATEST", []byte(`{"a":1}`), map[string]string{"X-Amz-Log-Type": "Tail", "X-Amz-Client-Context": cc})
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "Unhandled", resp.Header.Get("X-Amz-Function-Error"))
	assert.Equal(t, "$LATEST", resp.Header.Get("X-Amz-Executed-Version"))
	assert.Equal(t, "req-9", resp.Header.Get("x-amzn-RequestId"))
	assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("START\nEND\n")), resp.Header.Get("X-Amz-Log-Result"))
	assert.Equal(t, "boom", body["errorMessage"])
	assert.Equal(t, `{"custom":{"k":"v"}}`, inv.last.ClientContext)
	assert.Equal(t, "$LATEST", inv.last.Qualifier)
	assert.True(t, inv.last.Tail)

	inv.resp = invoke.Response{StatusCode: 204, ExecutedVersion: "$LATEST"}
	resp, _ = do(t, "POST", url, nil, map[string]string{"X-Amz-Invocation-Type": "DryRun"})
	assert.Equal(t, 204, resp.StatusCode)

	bad := []struct {
		name   string
		body   []byte
		hdr    map[string]string
		status int
		code   string
	}{
		{"invocation type", []byte(`{}`), map[string]string{"X-Amz-Invocation-Type": "Sometimes"}, 400, "InvalidParameterValueException"},
		{"log type", []byte(`{}`), map[string]string{"X-Amz-Log-Type": "Everything"}, 400, "InvalidParameterValueException"},
		{"client context not base64", []byte(`{}`), map[string]string{"X-Amz-Client-Context": "%%%"}, 400, "InvalidRequestContentException"},
		{"client context not json", []byte(`{}`), map[string]string{"X-Amz-Client-Context": base64.StdEncoding.EncodeToString([]byte("nope"))}, 400, "InvalidRequestContentException"},
		{"client context too big", []byte(`{}`), map[string]string{"X-Amz-Client-Context": strings.Repeat("A", 3584)}, 400, "InvalidParameterValueException"},
		{"payload not json", []byte(`not json`), nil, 400, "InvalidRequestContentException"},
		{"payload too large", bytes.Repeat([]byte(" "), kumo.MaxSyncPayloadBytes+1), nil, 413, "RequestTooLargeException"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			inv.last = invoke.Request{}
			resp, _ := do(t, "POST", url, tc.body, tc.hdr)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.code, resp.Header.Get("x-amzn-ErrorType"))
			assert.Empty(t, inv.last.FunctionName, "a rejected invocation never reaches the invoker")
		})
	}
	// Exactly at the limit is accepted (a JSON string padded with spaces).
	atLimit := bytes.Repeat([]byte(" "), kumo.MaxSyncPayloadBytes-2)
	atLimit = append(append([]byte(`"`), atLimit[:]...), '"')
	inv.resp = invoke.Response{StatusCode: 200, Payload: []byte(`1`)}
	resp, _ = do(t, "POST", url, atLimit, nil)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Len(t, inv.last.Payload, kumo.MaxSyncPayloadBytes)
}
