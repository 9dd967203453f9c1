package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// tokenVerifier accepts requests carrying Authorization: ok, standing in
// for a valid SigV4 signature with the host's key.
type tokenVerifier struct{}

func (tokenVerifier) Verify(r *http.Request, _ []byte) error {
	if r.Header.Get("Authorization") == "ok" {
		return nil
	}
	return &kumo.Error{Kind: kumo.ErrAccessDenied, Code: "MissingAuthenticationTokenException", Message: "Missing Authentication Token"}
}

var signed = map[string]string{"Authorization": "ok"}

func TestFunctionURLs_Wire(t *testing.T) {
	t.Parallel()
	ts, inv := newServer(t, tokenVerifier{})
	u := ts.URL
	resp, _ := do(t, "POST", u+"/2015-03-31/functions", createBody(t, "web"), signed)
	require.Equal(t, 201, resp.StatusCode)

	// The control calls are signed like the rest of the API.
	resp, _ = do(t, "POST", u+"/2021-10-31/functions/web/url", []byte(`{"AuthType":"NONE"}`), nil)
	require.Equal(t, 403, resp.StatusCode)

	resp, cfg := do(t, "POST", u+"/2021-10-31/functions/web/url", []byte(`{"AuthType":"NONE","Cors":{"AllowOrigins":["https://app.example"],"AllowMethods":["POST"],"MaxAge":10}}`), signed)
	require.Equal(t, 201, resp.StatusCode, "%v", cfg)
	furl := cfg["FunctionUrl"].(string)
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/lambda-url/[a-z0-9]{32}/$`, furl)
	assert.GreaterOrEqual(t, len(furl), 40)
	assert.LessOrEqual(t, len(furl), 100)
	assert.Equal(t, "arn:aws:lambda:local:000000000000:function:web", cfg["FunctionArn"])
	assert.Equal(t, "NONE", cfg["AuthType"])
	assert.Equal(t, "BUFFERED", cfg["InvokeMode"])
	assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`, cfg["CreationTime"])
	assert.Equal(t, map[string]any{"AllowCredentials": false, "AllowOrigins": []any{"https://app.example"}, "AllowMethods": []any{"POST"}, "MaxAge": float64(10)}, cfg["Cors"])

	resp, got := do(t, "GET", u+"/2021-10-31/functions/web/url", nil, signed)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, furl, got["FunctionUrl"])
	assert.NotEmpty(t, got["LastModifiedTime"])
	resp, list := do(t, "GET", u+"/2021-10-31/functions/web/urls", nil, signed)
	require.Equal(t, 200, resp.StatusCode)
	assert.Len(t, list["FunctionUrlConfigs"], 1)

	// NONE without the permission: 403 Forbidden, and the function never runs.
	inv.last = invoke.Request{}
	r := rawDo(t, "GET", furl+"x?a=1", nil, nil)
	assert.Equal(t, 403, r.status)
	assert.JSONEq(t, `{"Message":"Forbidden"}`, r.body)
	assert.Empty(t, inv.last.FunctionName)

	resp, perm := do(t, "POST", u+"/2015-03-31/functions/web/policy", []byte(`{"StatementId":"url","Action":"lambda:InvokeFunctionUrl","Principal":"*","FunctionUrlAuthType":"NONE"}`), signed)
	require.Equal(t, 201, resp.StatusCode, "%v", perm)
	var st map[string]any
	require.NoError(t, json.Unmarshal([]byte(perm["Statement"].(string)), &st))
	assert.Equal(t, "*", st["Principal"])
	resp, pol := do(t, "GET", u+"/2015-03-31/functions/web/policy", nil, signed)
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, pol["Policy"], `"Version":"2012-10-17"`)
	assert.NotEmpty(t, pol["RevisionId"])

	inv.resp = invoke.Response{RequestID: "rid-1", Payload: []byte(`{"statusCode":201,"headers":{"X-From":"fn"},"cookies":["k=v"],"body":"made"}`)}
	r = rawDo(t, "POST", furl+"items/1?a=1&a=2", []byte(`{"n":1}`), map[string]string{"Content-Type": "application/json", "Origin": "https://app.example", "Cookie": "s=1"})
	assert.Equal(t, 201, r.status)
	assert.Equal(t, "made", r.body)
	assert.Equal(t, "fn", r.header.Get("X-From"))
	assert.Equal(t, "k=v", r.header.Get("Set-Cookie"))
	assert.Equal(t, "rid-1", r.header.Get("X-Amzn-Requestid"))
	assert.Equal(t, "https://app.example", r.header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "web", inv.last.FunctionName)
	assert.Empty(t, inv.last.Qualifier)
	var ev events.LambdaFunctionURLRequest
	require.NoError(t, json.Unmarshal(inv.last.Payload, &ev))
	assert.Equal(t, "/items/1", ev.RawPath)
	assert.Equal(t, "1,2", ev.QueryStringParameters["a"])
	assert.Equal(t, `{"n":1}`, ev.Body)
	assert.Equal(t, []string{"s=1"}, ev.Cookies)

	// Host-name form reaches the same URL.
	id := strings.TrimSuffix(strings.TrimPrefix(furl, u+"/lambda-url/"), "/")
	r = rawDo(t, "GET", u+"/some/where", nil, map[string]string{"Host": id + ".lambda-url.local.on.aws"})
	assert.Equal(t, 201, r.status)
	require.NoError(t, json.Unmarshal(inv.last.Payload, &ev))
	assert.Equal(t, "/some/where", ev.RawPath)

	// Preflight is answered by the host.
	inv.last = invoke.Request{}
	r = rawDo(t, "OPTIONS", furl, nil, map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "POST", r.header.Get("Access-Control-Allow-Methods"))
	assert.Equal(t, "10", r.header.Get("Access-Control-Max-Age"))
	assert.Empty(t, inv.last.FunctionName)

	// Failures.
	inv.resp = invoke.Response{Payload: []byte(`{"errorMessage":"boom"}`), FunctionError: "Unhandled"}
	r = rawDo(t, "GET", furl, nil, nil)
	assert.Equal(t, 502, r.status)
	assert.JSONEq(t, `{"Message":"Internal Server Error"}`, r.body)
	inv.resp = invoke.Response{Payload: []byte(`{"statusCode":"x"}`)}
	r = rawDo(t, "GET", furl, nil, nil)
	assert.Equal(t, 502, r.status)
	inv.resp, inv.err = invoke.Response{}, &kumo.Error{Kind: kumo.ErrTooManyRequests, Message: "Rate Exceeded.", Reason: "ConcurrentInvocationLimitExceeded"}
	r = rawDo(t, "GET", furl, nil, nil)
	assert.Equal(t, 429, r.status)
	inv.err = errors.New("sandbox exploded")
	r = rawDo(t, "GET", furl, nil, nil)
	assert.Equal(t, 502, r.status)
	assert.NotContains(t, r.body, "exploded", "internal errors stay internal")
	inv.err = nil
	r = rawDo(t, "POST", furl, bytes.Repeat([]byte("a"), kumo.MaxSyncPayloadBytes+1), nil)
	assert.Equal(t, 413, r.status)
	// Just under the raw limit, but the base64 event is over it.
	r = rawDo(t, "POST", furl, bytes.Repeat([]byte{0xff}, kumo.MaxSyncPayloadBytes-100), map[string]string{"Content-Type": "application/octet-stream"})
	assert.Equal(t, 413, r.status)
	r = rawDo(t, "GET", u+"/lambda-url/"+strings.Repeat("z", 32)+"/", nil, nil)
	assert.Equal(t, 404, r.status)
	r = rawDo(t, "GET", u+"/lambda-url/../2015-03-31/functions", nil, nil)
	assert.NotEqual(t, 200, r.status)

	// AWS_IAM: only signed requests.
	resp, _ = do(t, "PUT", u+"/2021-10-31/functions/web/url", []byte(`{"AuthType":"AWS_IAM"}`), signed)
	require.Equal(t, 200, resp.StatusCode)
	inv.resp = invoke.Response{Payload: []byte(`{"ok":true}`)}
	r = rawDo(t, "GET", furl, nil, nil)
	assert.Equal(t, 403, r.status)
	r = rawDo(t, "GET", furl, nil, signed)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, `{"ok":true}`, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))

	// Deleting the function removes its URL and policy.
	resp, _ = do(t, "DELETE", u+"/2015-03-31/functions/web", nil, signed)
	require.Equal(t, 204, resp.StatusCode)
	r = rawDo(t, "GET", furl, nil, signed)
	assert.Equal(t, 404, r.status)
}

func TestFunctionURLs_ErrorProtocol(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t, allow{})
	u := ts.URL
	_, _ = do(t, "POST", u+"/2015-03-31/functions", createBody(t, "e"), nil)
	tests := []struct {
		name, method, path string
		body               string
		status             int
		code               string
	}{
		{"version qualifier", "POST", "/2021-10-31/functions/e/url?Qualifier=1", `{"AuthType":"NONE"}`, 400, "InvalidParameterValueException"},
		{"unknown member", "POST", "/2021-10-31/functions/e/url", `{"AuthType":"NONE","Bogus":1}`, 400, "InvalidRequestContentException"},
		{"no auth type", "POST", "/2021-10-31/functions/e/url", `{}`, 400, "InvalidParameterValueException"},
		{"get missing", "GET", "/2021-10-31/functions/e/url", ``, 404, "ResourceNotFoundException"},
		{"list bad max", "GET", "/2021-10-31/functions/e/urls?MaxItems=x", ``, 400, "InvalidParameterValueException"},
		{"list max too big", "GET", "/2021-10-31/functions/e/urls?MaxItems=51", ``, 400, "InvalidParameterValueException"},
		{"policy missing", "GET", "/2015-03-31/functions/e/policy", ``, 404, "ResourceNotFoundException"},
		{"bad principal", "POST", "/2015-03-31/functions/e/policy", `{"StatementId":"a","Action":"lambda:InvokeFunction","Principal":"bob"}`, 400, "InvalidParameterValueException"},
		{"remove missing", "DELETE", "/2015-03-31/functions/e/policy/a", ``, 404, "ResourceNotFoundException"},
		{"permission on missing function", "POST", "/2015-03-31/functions/nope/policy", `{"StatementId":"a","Action":"lambda:InvokeFunction","Principal":"*"}`, 404, "ResourceNotFoundException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			resp, _ := do(t, tc.method, u+tc.path, body, nil)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.code, resp.Header.Get("X-Amzn-ErrorType"))
		})
	}
	// Duplicate statement; policy too long.
	add := func(sid, src string) *http.Response {
		b, _ := json.Marshal(map[string]string{"StatementId": sid, "Action": "lambda:InvokeFunction", "Principal": "s3.amazonaws.com", "SourceArn": src})
		resp, _ := do(t, "POST", u+"/2015-03-31/functions/e/policy", b, nil)
		return resp
	}
	require.Equal(t, 201, add("a", "arn:aws:s3:::b").StatusCode)
	resp := add("a", "arn:aws:s3:::b")
	assert.Equal(t, 409, resp.StatusCode)
	assert.Equal(t, "ResourceConflictException", resp.Header.Get("X-Amzn-ErrorType"))
	for i := range 60 {
		resp = add("big"+string(rune('a'+i%26))+string(rune('a'+i/26)), "arn:aws:s3:::"+strings.Repeat("x", 500))
		if resp.StatusCode != 201 {
			break
		}
	}
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "PolicyLengthExceededException", resp.Header.Get("X-Amzn-ErrorType"))
}

type rawResult struct {
	status int
	header http.Header
	body   string
}

func rawDo(t *testing.T, method, url string, body []byte, hdr map[string]string) rawResult {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return rawResult{status: resp.StatusCode, header: resp.Header, body: buf.String()}
}
