package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestBuildURLEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 12, 19, 3, 58, 390e6, time.UTC)
	tests := []struct {
		name  string
		req   func() *http.Request
		body  []byte
		iam   bool
		check func(t *testing.T, ev events.LambdaFunctionURLRequest, raw map[string]any)
	}{
		{
			name: "json body, query, cookies, repeated headers",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "http://127.0.0.1:9001/lambda-url/x/a/b%20c?x=1&x=2&y=%26", nil)
				r.Header.Set("Content-Type", "application/json")
				r.Header.Add("X-Multi", "one")
				r.Header.Add("X-Multi", "two")
				r.Header.Set("Cookie", "a=1; b=2")
				r.Header.Set("User-Agent", "curl/8")
				r.RemoteAddr = "10.1.2.3:5555"
				return r
			},
			body: []byte(`{"hello":"world"}`),
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, raw map[string]any) {
				assert.Equal(t, "2.0", ev.Version)
				assert.Equal(t, "/a/b%20c", ev.RawPath)
				assert.Equal(t, "x=1&x=2&y=%26", ev.RawQueryString)
				assert.Equal(t, map[string]string{"x": "1,2", "y": "&"}, ev.QueryStringParameters)
				assert.Equal(t, []string{"a=1", "b=2"}, ev.Cookies)
				assert.Equal(t, "one,two", ev.Headers["x-multi"])
				assert.NotContains(t, ev.Headers, "cookie")
				assert.Equal(t, "127.0.0.1:9001", ev.Headers["host"])
				assert.Equal(t, "10.1.2.3", ev.Headers["x-forwarded-for"])
				assert.Equal(t, `{"hello":"world"}`, ev.Body)
				assert.False(t, ev.IsBase64Encoded)
				rc := ev.RequestContext
				assert.Equal(t, "000000000000", rc.AccountID)
				assert.Equal(t, "abcdefghijklmnopqrstuvwxyz234567", rc.APIID)
				assert.Equal(t, rc.APIID, rc.DomainPrefix)
				assert.Equal(t, "127.0.0.1:9001", rc.DomainName)
				assert.Equal(t, "POST", rc.HTTP.Method)
				assert.Equal(t, "/a/b%20c", rc.HTTP.Path)
				assert.Equal(t, "HTTP/1.1", rc.HTTP.Protocol)
				assert.Equal(t, "10.1.2.3", rc.HTTP.SourceIP)
				assert.Equal(t, "curl/8", rc.HTTP.UserAgent)
				assert.Equal(t, "req-1", rc.RequestID)
				assert.Equal(t, "12/Mar/2026:19:03:58 +0000", rc.Time)
				assert.Equal(t, now.UnixMilli(), rc.TimeEpoch)
				assert.Nil(t, rc.Authorizer)
				assert.Equal(t, "$default", raw["routeKey"])
				ctx := raw["requestContext"].(map[string]any)
				assert.Equal(t, "$default", ctx["routeKey"])
				assert.Equal(t, "$default", ctx["stage"])
			},
		},
		{
			name: "binary body is base64",
			req: func() *http.Request {
				r := httptest.NewRequest("PUT", "http://h/lambda-url/x/", nil)
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			body: []byte{0, 1, 2, 0xff},
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, _ map[string]any) {
				assert.True(t, ev.IsBase64Encoded)
				assert.Equal(t, base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 0xff}), ev.Body)
				assert.Nil(t, ev.QueryStringParameters)
				assert.Empty(t, ev.Cookies)
			},
		},
		{
			name: "text type with invalid utf-8 is base64",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "http://h/", nil)
				r.Header.Set("Content-Type", "text/plain; charset=utf-8")
				return r
			},
			body: []byte{'a', 0xc3},
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, _ map[string]any) {
				assert.True(t, ev.IsBase64Encoded)
			},
		},
		{
			name: "no content type is base64",
			req:  func() *http.Request { return httptest.NewRequest("POST", "http://h/", nil) },
			body: []byte("plain"),
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, _ map[string]any) {
				assert.True(t, ev.IsBase64Encoded)
				assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("plain")), ev.Body)
			},
		},
		{
			name: "empty body, malformed query kept raw",
			req:  func() *http.Request { return httptest.NewRequest("GET", "http://h/?a=%zz&b=1", nil) },
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, raw map[string]any) {
				assert.Equal(t, "a=%zz&b=1", ev.RawQueryString)
				assert.Equal(t, map[string]string{"b": "1"}, ev.QueryStringParameters)
				assert.Empty(t, ev.Body)
				assert.NotContains(t, raw, "body")
			},
		},
		{
			name: "iam authorizer",
			req:  func() *http.Request { return httptest.NewRequest("GET", "http://h/", nil) },
			iam:  true,
			check: func(t *testing.T, ev events.LambdaFunctionURLRequest, _ map[string]any) {
				require.NotNil(t, ev.RequestContext.Authorizer)
				require.NotNil(t, ev.RequestContext.Authorizer.IAM)
				assert.Equal(t, "AKID", ev.RequestContext.Authorizer.IAM.AccessKey)
				assert.Equal(t, "arn:aws:iam::000000000000:root", ev.RequestContext.Authorizer.IAM.UserARN)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			call := urlCall{ID: "abcdefghijklmnopqrstuvwxyz234567", Account: "000000000000", RequestID: "req-1", RawPath: "/a/b%20c", Now: now}
			if tc.iam {
				call.IAM = &urlIAM{AccessKey: "AKID", AccountID: "000000000000", UserARN: "arn:aws:iam::000000000000:root"}
			}
			b, err := buildURLEvent(tc.req(), tc.body, call)
			require.NoError(t, err)
			var ev events.LambdaFunctionURLRequest
			require.NoError(t, json.Unmarshal(b, &ev))
			var raw map[string]any
			require.NoError(t, json.Unmarshal(b, &raw))
			tc.check(t, ev, raw)
		})
	}
}

func TestTranslateURLResponse(t *testing.T) {
	t.Parallel()
	stream := func(prelude string, body string) []byte {
		return append(append([]byte(prelude), 0, 0, 0, 0, 0, 0, 0, 0), body...)
	}
	tests := []struct {
		name    string
		payload []byte
		status  int
		header  map[string][]string
		body    string
		bad     bool
	}{
		{"structured", []byte(`{"statusCode":201,"headers":{"X-A":"1","content-type":"text/plain"},"cookies":["c=1","d=2"],"body":"hi"}`),
			201, map[string][]string{"X-A": {"1"}, "Content-Type": {"text/plain"}, "Set-Cookie": {"c=1", "d=2"}}, "hi", false},
		{"structured base64", []byte(`{"statusCode":200,"body":"AAH/","isBase64Encoded":true}`),
			200, map[string][]string{"Content-Type": {"application/json"}}, "\x00\x01\xff", false},
		{"structured no body", []byte(`{"statusCode":204}`), 204, nil, "", false},
		{"events.LambdaFunctionURLResponse zero values", []byte(`{"statusCode":302,"headers":{"Location":"/x"},"body":"","isBase64Encoded":false,"cookies":null}`),
			302, map[string][]string{"Location": {"/x"}}, "", false},
		{"other object", []byte(`{"message":"hello"}`), 200, map[string][]string{"Content-Type": {"application/json"}}, `{"message":"hello"}`, false},
		{"json string", []byte(`"hello"`), 200, map[string][]string{"Content-Type": {"application/json"}}, `"hello"`, false},
		{"not json", []byte(`plain text`), 200, nil, `plain text`, false},
		{"null", []byte(`null`), 200, nil, `null`, false},
		{"streaming framing", stream(`{"statusCode":202,"headers":{"X-S":"y"},"cookies":["s=1"]}`, "raw\x00body"),
			202, map[string][]string{"X-S": {"y"}, "Set-Cookie": {"s=1"}, "Content-Type": {"application/octet-stream"}}, "raw\x00body", false},
		{"streaming default status", stream(`{}`, "b"), 200, nil, "b", false},
		{"hop-by-hop and bad headers dropped", []byte(`{"statusCode":200,"headers":{"Content-Length":"99","Transfer-Encoding":"chunked","Bad Name":"x","X-Inj":"a\r\nSet-Cookie: evil=1","X-Ok":"ok"}}`),
			200, map[string][]string{"X-Ok": {"ok"}}, "", false},
		{"status out of range", []byte(`{"statusCode":1000}`), 0, nil, "", true},
		{"status not a number", []byte(`{"statusCode":"abc"}`), 0, nil, "", true},
		{"status fraction", []byte(`{"statusCode":200.5}`), 0, nil, "", true},
		{"bad base64", []byte(`{"statusCode":200,"body":"!!","isBase64Encoded":true}`), 0, nil, "", true},
		{"headers wrong type", []byte(`{"statusCode":200,"headers":["x"]}`), 0, nil, "", true},
		{"streaming bad prelude", stream(`{"statusCode":`, "x"), 0, nil, "", true},
		{"streaming status out of range", stream(`{"statusCode":42}`, "x"), 0, nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := translateURLResponse(tc.payload)
			if tc.bad {
				require.ErrorIs(t, err, errBadFunctionResponse)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.status, out.Status)
			assert.Equal(t, tc.body, string(out.Body))
			for k, v := range tc.header {
				assert.Equal(t, v, out.Header.Values(k), "header %s", k)
			}
			for k := range out.Header {
				assert.NotContains(t, []string{"Content-Length", "Transfer-Encoding", "X-Inj"}, k)
			}
		})
	}
}

func TestCorsPreflight(t *testing.T) {
	t.Parallel()
	base := &kumo.Cors{AllowOrigins: []string{"https://app.example"}, AllowMethods: []string{"GET", "POST"}, AllowHeaders: []string{"x-custom"}, MaxAge: 300}
	creds := &kumo.Cors{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}, AllowHeaders: []string{"*"}, AllowCredentials: true}
	star := &kumo.Cors{AllowOrigins: []string{"*"}, AllowMethods: []string{"*"}}
	tests := []struct {
		name           string
		cors           *kumo.Cors
		origin, method string
		reqHeaders     string
		want           map[string]string // "" value: header must be absent
	}{
		{"allowed", base, "https://app.example", "POST", "", map[string]string{
			"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET,POST",
			"Access-Control-Allow-Headers": "x-custom", "Access-Control-Max-Age": "300", "Access-Control-Allow-Credentials": ""}},
		{"origin case-insensitive", base, "HTTPS://APP.EXAMPLE", "GET", "", map[string]string{"Access-Control-Allow-Origin": "HTTPS://APP.EXAMPLE"}},
		{"other origin", base, "https://evil.example", "GET", "", map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Allow-Methods": ""}},
		{"origin prefix is not a match", base, "https://app.example.evil", "GET", "", map[string]string{"Access-Control-Allow-Origin": ""}},
		{"method not allowed", base, "https://app.example", "DELETE", "", map[string]string{"Access-Control-Allow-Origin": ""}},
		{"star without credentials", star, "https://a", "PATCH", "", map[string]string{"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "PATCH"}},
		{"star with credentials echoes", creds, "https://a", "PUT", "x-a, x-b", map[string]string{
			"Access-Control-Allow-Origin": "https://a", "Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Headers": "x-a, x-b"}},
		{"header injection in request headers ignored", creds, "https://a", "PUT", "x\r\ny", map[string]string{"Access-Control-Allow-Headers": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("OPTIONS", "http://h/", nil)
			r.Header.Set("Origin", tc.origin)
			r.Header.Set("Access-Control-Request-Method", tc.method)
			if tc.reqHeaders != "" {
				r.Header["Access-Control-Request-Headers"] = []string{tc.reqHeaders}
			}
			require.True(t, isPreflight(r))
			h := corsPreflight(tc.cors, r)
			for k, v := range tc.want {
				if v == "" {
					assert.Empty(t, h.Values(k), k)
					continue
				}
				assert.Equal(t, v, h.Get(k), k)
			}
			assert.Equal(t, "Origin", h.Get("Vary"))
		})
	}
	// Not preflight: no Access-Control-Request-Method, or not OPTIONS.
	r := httptest.NewRequest("OPTIONS", "http://h/", nil)
	r.Header.Set("Origin", "https://a")
	assert.False(t, isPreflight(r))
	r = httptest.NewRequest("GET", "http://h/", nil)
	r.Header.Set("Origin", "https://a")
	r.Header.Set("Access-Control-Request-Method", "GET")
	assert.False(t, isPreflight(r))
}

func TestApplyCors(t *testing.T) {
	t.Parallel()
	c := &kumo.Cors{AllowOrigins: []string{"https://app.example"}, ExposeHeaders: []string{"x-id", "x-n"}, AllowCredentials: true}
	tests := []struct {
		name, origin string
		cors         *kumo.Cors
		allow        string
	}{
		{"allowed origin", "https://app.example", c, "https://app.example"},
		{"other origin gets none, function's removed", "https://evil", c, ""},
		{"no origin", "", c, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{"Access-Control-Allow-Origin": {"*"}, "X-Keep": {"1"}}
			applyCors(tc.cors, tc.origin, h)
			assert.Equal(t, tc.allow, h.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "1", h.Get("X-Keep"))
			if tc.allow != "" {
				assert.Equal(t, "x-id,x-n", h.Get("Access-Control-Expose-Headers"))
				assert.Equal(t, "true", h.Get("Access-Control-Allow-Credentials"))
			} else {
				assert.Empty(t, h.Get("Access-Control-Expose-Headers"))
			}
		})
	}
	// Without a Cors config the function's own headers pass through.
	h := http.Header{"Access-Control-Allow-Origin": {"*"}}
	applyCors(nil, "https://x", h)
	assert.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
}

func TestMatchFunctionURL(t *testing.T) {
	t.Parallel()
	s := &Server{scope: kumo.Scope{Region: "local", Account: "000000000000"}}
	id := strings.Repeat("a", 31) + "7"
	tests := []struct {
		name, target, host string
		ok                 bool
		id, path           string
	}{
		{"path form", "/lambda-url/" + id + "/x/y?q=1", "127.0.0.1:9001", true, id, "/x/y"},
		{"path form root", "/lambda-url/" + id, "127.0.0.1:9001", true, id, "/"},
		{"path form trailing slash", "/lambda-url/" + id + "/", "h", true, id, "/"},
		{"path form bad id still ours", "/lambda-url/NOPE/x", "h", true, "NOPE", "/x"},
		{"host form", "/a/b", id + ".lambda-url.local.on.aws", true, id, "/a/b"},
		{"host form with port and case", "/", strings.ToUpper(id) + ".LAMBDA-URL.local.on.aws:9001", true, id, "/"},
		{"host form other region", "/", id + ".lambda-url.us-east-1.on.aws", false, "", ""},
		{"host form short id", "/", "abc.lambda-url.local.on.aws", false, "", ""},
		{"api request", "/2015-03-31/functions", "127.0.0.1:9001", false, "", ""},
		{"lookalike path", "/lambda-urlx/" + id, "h", false, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "http://placeholder"+tc.target, nil)
			r.Host = tc.host
			gotID, path, ok := s.matchFunctionURL(r)
			require.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.id, gotID)
			assert.Equal(t, tc.path, path)
		})
	}
}
