package runtimeapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

const base = "/2018-06-01/runtime"

// fakeRuntime drives a Server the way a runtime client does.
type fakeRuntime struct {
	t    *testing.T
	addr string
	c    *http.Client
}

func newServer(t *testing.T, opts ...runtimeapi.Option) (*runtimeapi.Server, *fakeRuntime) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := runtimeapi.New(ln, opts...)
	t.Cleanup(func() { _ = s.Close() })
	return s, &fakeRuntime{t: t, addr: ln.Addr().String(), c: &http.Client{}}
}

func (f *fakeRuntime) url(path string) string { return "http://" + f.addr + path }

func (f *fakeRuntime) next() *http.Response {
	f.t.Helper()
	resp, err := f.c.Get(f.url(base + "/invocation/next"))
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func (f *fakeRuntime) post(path string, body []byte, header http.Header) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url(path), bytes.NewReader(body))
	require.NoError(f.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := f.c.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// invokeAsync runs Invoke in the background.
func invokeAsync(ctx context.Context, s *runtimeapi.Server, inv runtimeapi.Invocation) <-chan invokeResult {
	ch := make(chan invokeResult, 1)
	go func() {
		res, err := s.Invoke(ctx, inv)
		ch <- invokeResult{res, err}
	}()
	return ch
}

type invokeResult struct {
	res runtimeapi.Result
	err error
}

func await(t *testing.T, ch <-chan invokeResult) invokeResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("invoke did not return")
		return invokeResult{}
	}
}

func TestServer_HappyPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		inv  runtimeapi.Invocation
	}{
		{"minimal", runtimeapi.Invocation{Payload: []byte(`{"a":1}`)}},
		{"all headers", runtimeapi.Invocation{
			RequestID: "req-1", Payload: []byte(`"x"`), Deadline: time.UnixMilli(4102444800123),
			InvokedFunctionARN: "arn:aws:lambda:us-east-1:000000000000:function:f",
			TraceID:            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
			ClientContext:      `{"custom":{"k":"v"}}`, CognitoIdentity: `{"cognitoIdentityId":"id"}`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rt := newServer(t)
			initCh := make(chan error, 1)
			go func() { initCh <- s.WaitInit(t.Context()) }()
			ch := invokeAsync(t.Context(), s, tc.inv)

			resp := rt.next()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NoError(t, <-initCh)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tc.inv.Payload, body)
			h := resp.Header
			assert.Equal(t, "application/json", h.Get("Content-Type"))
			id := h.Get("Lambda-Runtime-Aws-Request-Id")
			require.NotEmpty(t, id)
			ms, err := strconv.ParseInt(h.Get("Lambda-Runtime-Deadline-Ms"), 10, 64)
			require.NoError(t, err)
			assert.Positive(t, ms)
			if tc.inv.RequestID != "" {
				assert.Equal(t, tc.inv.RequestID, id)
				assert.Equal(t, tc.inv.Deadline.UnixMilli(), ms)
				assert.Equal(t, tc.inv.TraceID, h.Get("Lambda-Runtime-Trace-Id"))
			} else {
				assert.True(t, strings.HasPrefix(h.Get("Lambda-Runtime-Trace-Id"), "Root=1-"), "trace id generated")
			}
			for hdr, want := range map[string]string{
				"Lambda-Runtime-Invoked-Function-Arn": tc.inv.InvokedFunctionARN,
				"Lambda-Runtime-Client-Context":       tc.inv.ClientContext,
				"Lambda-Runtime-Cognito-Identity":     tc.inv.CognitoIdentity,
			} {
				_, present := h[hdr]
				assert.Equal(t, want != "", present, "%s sent only when set", hdr)
				assert.Equal(t, want, h.Get(hdr))
			}

			code, reply := rt.post(base+"/invocation/"+id+"/response", []byte(`{"ok":true}`), nil)
			assert.Equal(t, http.StatusAccepted, code)
			assert.JSONEq(t, `{"status":"OK"}`, reply)
			r := await(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, runtimeapi.Result{Payload: []byte(`{"ok":true}`)}, r.res)
		})
	}
}

func TestServer_FunctionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		header   http.Header
		wantType string
		wantBody string
	}{
		{"type from body", `{"errorMessage":"boom","errorType":"MyErr"}`, nil, "MyErr", `{"errorMessage":"boom","errorType":"MyErr"}`},
		{"type from header wins", `{"errorMessage":"boom","errorType":"MyErr"}`,
			http.Header{"Lambda-Runtime-Function-Error-Type": {"Unhandled"}}, "Unhandled", `{"errorMessage":"boom","errorType":"MyErr"}`},
		{"no type anywhere", `{"errorMessage":"boom"}`, nil, "Unhandled", `{"errorMessage":"boom"}`},
		{"body not json is wrapped", `segfault`, nil, "Unhandled", `{"errorMessage":"segfault","errorType":"Unhandled"}`},
		{"empty body", ``, http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.Crash"}}, "Runtime.Crash", `{"errorMessage":"","errorType":"Runtime.Crash"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rt := newServer(t)
			ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1", Payload: []byte(`{}`)})
			rt.next()
			code, _ := rt.post(base+"/invocation/r1/error", []byte(tc.body), tc.header)
			require.Equal(t, http.StatusAccepted, code)
			r := await(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, tc.wantType, r.res.ErrorType)
			assert.JSONEq(t, tc.wantBody, string(r.res.Payload))
		})
	}
}

// postStreamed sends a chunked body and sets the trailers after it, like
// aws-lambda-go does when a streamed response fails.
func postStreamed(t *testing.T, rt *fakeRuntime, path string, chunks []string, trailer map[string]string) int {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, rt.url(path), pr)
	require.NoError(t, err)
	req.ContentLength = -1
	req.Trailer = http.Header{}
	for k := range trailer {
		req.Trailer[http.CanonicalHeaderKey(k)] = nil
	}
	go func() {
		for _, c := range chunks {
			_, _ = pw.Write([]byte(c))
		}
		for k, v := range trailer {
			req.Trailer.Set(k, v)
		}
		_ = pw.Close()
	}()
	resp, err := rt.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	return resp.StatusCode
}

func TestServer_StreamedResponse(t *testing.T) {
	t.Parallel()
	errDoc := `{"errorMessage":"stream broke","errorType":"errorString"}`
	tests := []struct {
		name     string
		trailer  map[string]string
		want     runtimeapi.Result
		wantJSON string
	}{
		{"clean stream with empty trailers", map[string]string{"Lambda-Runtime-Function-Error-Type": "", "Lambda-Runtime-Function-Error-Body": ""},
			runtimeapi.Result{Payload: []byte("part1part2")}, ""},
		{"failed mid-way", map[string]string{
			"Lambda-Runtime-Function-Error-Type": "errorString",
			"Lambda-Runtime-Function-Error-Body": base64.StdEncoding.EncodeToString([]byte(errDoc)),
		}, runtimeapi.Result{ErrorType: "errorString"}, errDoc},
		{"failed with garbage error body", map[string]string{
			"Lambda-Runtime-Function-Error-Type": "errorString",
			"Lambda-Runtime-Function-Error-Body": "!!not base64",
		}, runtimeapi.Result{ErrorType: "errorString"}, `{"errorMessage":"response stream failed","errorType":"errorString"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rt := newServer(t)
			ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
			rt.next()
			code := postStreamed(t, rt, base+"/invocation/r1/response", []string{"part1", "part2"}, tc.trailer)
			require.Equal(t, http.StatusAccepted, code)
			r := await(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, tc.want.ErrorType, r.res.ErrorType)
			if tc.wantJSON != "" {
				assert.JSONEq(t, tc.wantJSON, string(r.res.Payload))
			} else {
				assert.Equal(t, tc.want.Payload, r.res.Payload)
			}
		})
	}
}

func TestServer_ResponseSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1024
	tests := []struct {
		name     string
		path     string
		size     int
		streamed bool
		wantCode int
		wantType string
	}{
		{"at limit", "response", limit, false, http.StatusAccepted, ""},
		{"one over", "response", limit + 1, false, http.StatusRequestEntityTooLarge, runtimeapi.ErrorTypeResponseTooLarge},
		{"far over, chunked", "response", 64 * limit, true, http.StatusRequestEntityTooLarge, runtimeapi.ErrorTypeResponseTooLarge},
		{"error body over", "error", limit + 1, false, http.StatusRequestEntityTooLarge, runtimeapi.ErrorTypeResponseTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rt := newServer(t, runtimeapi.WithMaxResponseBytes(limit))
			ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
			rt.next()
			body := bytes.Repeat([]byte("y"), tc.size)
			var code int
			if tc.streamed {
				var chunks []string
				for range 64 {
					chunks = append(chunks, string(body[:limit]))
				}
				code = postStreamed(t, rt, base+"/invocation/r1/"+tc.path, chunks, nil)
			} else {
				code, _ = rt.post(base+"/invocation/r1/"+tc.path, body, nil)
			}
			assert.Equal(t, tc.wantCode, code)
			r := await(t, ch)
			require.NoError(t, r.err)
			assert.Equal(t, tc.wantType, r.res.ErrorType)
			if tc.wantType == "" {
				assert.Equal(t, body, r.res.Payload)
				return
			}
			var doc map[string]string
			require.NoError(t, json.Unmarshal(r.res.Payload, &doc), "never a truncated payload")
			assert.Equal(t, runtimeapi.ErrorTypeResponseTooLarge, doc["errorType"])
			assert.Contains(t, doc["errorMessage"], strconv.Itoa(limit))
		})
	}
}

func TestServer_StateErrors(t *testing.T) {
	t.Parallel()
	t.Run("response before next", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		_ = invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
		code, body := rt.post(base+"/invocation/r1/response", []byte("x"), nil)
		assert.Equal(t, http.StatusForbidden, code)
		assert.Contains(t, body, "InvalidStateTransition")
	})
	t.Run("response with nothing invoked", func(t *testing.T) {
		t.Parallel()
		_, rt := newServer(t)
		code, body := rt.post(base+"/invocation/whatever/response", []byte("x"), nil)
		assert.Equal(t, http.StatusForbidden, code)
		assert.Contains(t, body, "InvalidStateTransition")
	})
	t.Run("wrong id then right id", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
		rt.next()
		for _, id := range []string{"r2", "r1%2F..%2F..", "R1"} {
			code, body := rt.post(base+"/invocation/"+id+"/response", []byte("x"), nil)
			assert.Equal(t, http.StatusBadRequest, code, id)
			assert.Contains(t, body, "InvalidRequestID")
		}
		code, _ := rt.post(base+"/invocation/r1/response", []byte("ok"), nil)
		require.Equal(t, http.StatusAccepted, code)
		assert.Equal(t, []byte("ok"), await(t, ch).res.Payload)

		for _, path := range []string{"response", "error"} {
			code, body := rt.post(base+"/invocation/r1/"+path, []byte("again"), nil)
			assert.Equal(t, http.StatusBadRequest, code, "already answered")
			assert.Contains(t, body, "InvalidRequestID")
		}
	})
	t.Run("next without answering fails the invocation", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
		rt.next()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rt.url(base+"/invocation/next"), nil)
			if resp, err := rt.c.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}()
		r := await(t, ch)
		require.NoError(t, r.err)
		assert.Equal(t, "Runtime.InvalidStateTransition", r.res.ErrorType)
	})
	t.Run("concurrent invoke", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
		rt.next() // the first invoke is now surely in flight
		_, err := s.Invoke(t.Context(), runtimeapi.Invocation{RequestID: "r2"})
		require.ErrorIs(t, err, runtimeapi.ErrBusy)
		require.ErrorIs(t, err, kumo.ErrConflict)
		rt.post(base+"/invocation/r1/response", nil, nil)
		require.NoError(t, await(t, ch).err)
	})
	t.Run("unknown path and method", func(t *testing.T) {
		t.Parallel()
		_, rt := newServer(t)
		code, _ := rt.post("/2018-06-01/runtime/invocation/next", nil, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, code)
		code, _ = rt.post("/../../etc/passwd", nil, nil)
		assert.Equal(t, http.StatusNotFound, code)
	})
}

func TestServer_InitError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		header   http.Header
		wantType string
	}{
		{"type in header", `{"errorMessage":"no handler","errorType":"X"}`, http.Header{"Lambda-Runtime-Function-Error-Type": {"Runtime.NoHandler"}}, "Runtime.NoHandler"},
		{"type in body", `{"errorMessage":"no handler","errorType":"Runtime.ImportModuleError"}`, nil, "Runtime.ImportModuleError"},
		{"neither", `not json`, nil, "Runtime.Unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, rt := newServer(t)
			code, body := rt.post(base+"/init/error", []byte(tc.body), tc.header)
			require.Equal(t, http.StatusAccepted, code)
			assert.JSONEq(t, `{"status":"OK"}`, body)
			err := s.WaitInit(t.Context())
			var initErr *runtimeapi.InitError
			require.ErrorAs(t, err, &initErr)
			assert.Equal(t, tc.wantType, initErr.ErrorType)
			assert.True(t, json.Valid(initErr.Payload))
		})
	}
	t.Run("after init completed", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		go func() {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, rt.url(base+"/invocation/next"), nil)
			if resp, err := rt.c.Do(req); err == nil {
				_ = resp.Body.Close()
			}
		}()
		require.NoError(t, s.WaitInit(t.Context()))
		code, _ := rt.post(base+"/init/error", []byte(`{}`), nil)
		assert.Equal(t, http.StatusForbidden, code)
	})
	t.Run("oversized body", func(t *testing.T) {
		t.Parallel()
		_, rt := newServer(t)
		code, _ := rt.post(base+"/init/error", bytes.Repeat([]byte("z"), 2<<20), nil)
		assert.Equal(t, http.StatusRequestEntityTooLarge, code)
	})
}

func TestServer_ContextEnds(t *testing.T) {
	t.Parallel()
	t.Run("deadline while the function runs", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		ch := invokeAsync(ctx, s, runtimeapi.Invocation{RequestID: "r1"})
		resp := rt.next()
		dl, ok := ctx.Deadline()
		require.True(t, ok)
		assert.Equal(t, strconv.FormatInt(dl.UnixMilli(), 10), resp.Header.Get("Lambda-Runtime-Deadline-Ms"), "context deadline used")
		r := await(t, ch)
		require.ErrorIs(t, r.err, context.DeadlineExceeded)
		code, _ := rt.post(base+"/invocation/r1/response", []byte("late"), nil)
		assert.Equal(t, http.StatusBadRequest, code, "late answer refused")
	})
	t.Run("cancel before the runtime asked", func(t *testing.T) {
		t.Parallel()
		s, rt := newServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		ch := invokeAsync(ctx, s, runtimeapi.Invocation{RequestID: "stale"})
		cancel()
		require.ErrorIs(t, await(t, ch).err, context.Canceled)
		// The withdrawn event must not reach the runtime; the next one must.
		ch = invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "fresh"})
		resp := rt.next()
		assert.Equal(t, "fresh", resp.Header.Get("Lambda-Runtime-Aws-Request-Id"))
		rt.post(base+"/invocation/fresh/response", nil, nil)
		require.NoError(t, await(t, ch).err)
	})
	t.Run("close fails pending calls", func(t *testing.T) {
		t.Parallel()
		s, _ := newServer(t)
		ch := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1"})
		initCh := make(chan error, 1)
		go func() { initCh <- s.WaitInit(t.Context()) }()
		require.NoError(t, s.Close())
		require.ErrorIs(t, await(t, ch).err, runtimeapi.ErrClosed)
		require.ErrorIs(t, <-initCh, runtimeapi.ErrClosed)
		_, err := s.Invoke(t.Context(), runtimeapi.Invocation{})
		require.ErrorIs(t, err, runtimeapi.ErrClosed)
		require.NoError(t, s.Close(), "idempotent")
	})
}

func TestServer_Extensions(t *testing.T) {
	t.Parallel()
	s, rt := newServer(t, runtimeapi.WithFunctionInfo("fn", "$LATEST", "bootstrap"))
	req, err := http.NewRequest(http.MethodPost, rt.url("/2020-01-01/extension/register"), strings.NewReader(`{"events":null}`))
	require.NoError(t, err)
	req.Header.Set("Lambda-Extension-Name", "GoLangEnableSIGTERM")
	resp, err := rt.c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	id := resp.Header.Get("Lambda-Extension-Identifier")
	require.NotEmpty(t, id)
	var info map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	assert.Equal(t, map[string]string{"functionName": "fn", "functionVersion": "$LATEST", "handler": "bootstrap"}, info)

	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, rt.url("/2020-01-01/extension/event/next"), nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := rt.c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("event/next must block while the sandbox lives")
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, s.Close())
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("event/next still blocked after Close")
	}
}

func ExampleServer() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := runtimeapi.New(ln)
	defer s.Close()
	// A runtime would now be started with AWS_LAMBDA_RUNTIME_API=ln.Addr().
	go func() {
		resp, _ := http.Get("http://" + ln.Addr().String() + "/2018-06-01/runtime/invocation/next")
		id := resp.Header.Get("Lambda-Runtime-Aws-Request-Id")
		_ = resp.Body.Close()
		resp, _ = http.Post("http://"+ln.Addr().String()+"/2018-06-01/runtime/invocation/"+id+"/response", "application/json", strings.NewReader(`"pong"`))
		_ = resp.Body.Close()
	}()
	res, err := s.Invoke(context.Background(), runtimeapi.Invocation{Payload: []byte(`"ping"`)})
	fmt.Println(string(res.Payload), res.ErrorType == "", err)
	// Output: "pong" true <nil>
}

func TestServer_WaitReady(t *testing.T) {
	t.Parallel()
	s, rt := newServer(t)

	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.WaitReady(short), context.DeadlineExceeded, "not ready before the runtime asks for work")

	// The runtime parks in /next: ready.
	got := make(chan *http.Response, 1)
	go func() { got <- rt.next() }()
	require.NoError(t, s.WaitReady(t.Context()))

	// It takes an event and answers it; until it asks again it is not ready.
	res := invokeAsync(t.Context(), s, runtimeapi.Invocation{RequestID: "r1", Payload: []byte(`{}`)})
	resp := <-got
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_ = resp.Body.Close()
	status, _ := rt.post("/2018-06-01/runtime/invocation/r1/response", []byte(`1`), nil)
	require.Equal(t, http.StatusAccepted, status)
	require.NoError(t, await(t, res).err)
	short2, cancel2 := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel2()
	require.ErrorIs(t, s.WaitReady(short2), context.DeadlineExceeded, "an answered runtime is not ready until it polls again")

	// The last poll stays parked until the server closes at cleanup, so it
	// must not assert from its goroutine.
	go func() {
		if resp, err := http.Get(rt.url(base + "/invocation/next")); err == nil {
			_ = resp.Body.Close()
		}
	}()
	require.NoError(t, s.WaitReady(t.Context()))
}
