package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const functionsPath = "/2015-03-31/functions"

func invokePath(name string) string {
	return functionsPath + "/" + url.PathEscape(name) + "/invocations"
}

func TestRootBadInput_CreateBodies(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	existing := h.createFn(t, "bad-exist", a.fnZip)

	bigEnv := map[string]string{}
	for i := range 10 {
		bigEnv[fmt.Sprintf("VAR_%d", i)] = strings.Repeat("v", 500)
	}
	cases := []struct {
		name    string
		body    []byte
		status  int
		errType string
	}{
		{"malformed JSON", []byte(`{"FunctionName": "x",`), 400, "InvalidRequestContentException"},
		{"not an object", []byte(`[1,2,3]`), 400, "InvalidRequestContentException"},
		{"unknown top-level field", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Bogus"] = 1 }), 400, "InvalidRequestContentException"},
		{"wrong field type", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Timeout"] = "ten" }), 400, "InvalidRequestContentException"},
		{"ZipFile not base64", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Code"] = map[string]any{"ZipFile": "!!!"} }), 400, ""},
		{"ZipFile not a zip", createBody(t, uniqueName("bad"), []byte("hello"), nil), 400, "InvalidParameterValueException"},
		{"no bootstrap in zip", createBody(t, uniqueName("bad"), mustZip(t, zipEntry{name: "README", data: []byte("hi")}), nil), 201, ""},
		{"missing Code", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { delete(m, "Code") }), 400, ""},
		{"missing Role", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { delete(m, "Role") }), 400, ""},
		{"bad Role", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Role"] = "admin" }), 400, "InvalidParameterValueException"},
		{"unknown runtime", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Runtime"] = "cobol9" }), 400, "InvalidParameterValueException"},
		{"MemorySize 64", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["MemorySize"] = 64 }), 400, "InvalidParameterValueException"},
		{"MemorySize 20000", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["MemorySize"] = 20000 }), 400, "InvalidParameterValueException"},
		{"Timeout 0", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Timeout"] = 0 }), 400, "InvalidParameterValueException"},
		{"Timeout 901", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Timeout"] = 901 }), 400, "InvalidParameterValueException"},
		{"EphemeralStorage 100", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["EphemeralStorage"] = map[string]any{"Size": 100} }), 400, "InvalidParameterValueException"},
		{"EphemeralStorage 20000", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["EphemeralStorage"] = map[string]any{"Size": 20000} }), 400, "InvalidParameterValueException"},
		{"environment over 4 KB", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Environment"] = map[string]any{"Variables": bigEnv} }), 400, "InvalidParameterValueException"},
		{"reserved environment key", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) {
			m["Environment"] = map[string]any{"Variables": map[string]string{"AWS_LAMBDA_RUNTIME_API": "evil:1"}}
		}), 400, "InvalidParameterValueException"},
		{"environment key with =", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) {
			m["Environment"] = map[string]any{"Variables": map[string]string{"A=B": "x"}}
		}), 400, "InvalidParameterValueException"},
		{"description over 256", createBody(t, uniqueName("bad"), a.fnZip, func(m map[string]any) { m["Description"] = strings.Repeat("d", 257) }), 400, "InvalidParameterValueException"},
		{"name 65 chars", createBody(t, strings.Repeat("a", 65), a.fnZip, nil), 400, "InvalidParameterValueException"},
		{"name with space", createBody(t, "bad name", a.fnZip, nil), 400, "InvalidParameterValueException"},
		{"name fn:1:extra", createBody(t, "fn:1:extra", a.fnZip, nil), 400, "InvalidParameterValueException"},
		{"name empty", createBody(t, "", a.fnZip, nil), 400, ""},
		{"name foreign-account ARN", createBody(t, "arn:aws:lambda:local:111111111111:function:"+uniqueName("bad"), a.fnZip, nil), 400, ""},
		{"duplicate", createBody(t, existing, a.fnZip, nil), 409, "ResourceConflictException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw(t, http.MethodPost, functionsPath, tc.body, nil, true)
			if tc.status == 201 {
				// Accepted: kumo does not look inside the code at create.
				require.Contains(t, []int{201, 400}, r.status, "got %s", r)
				if r.status == 201 {
					name := strings.Split(string(tc.body), `"FunctionName":"`)[1]
					h.deleteAtCleanup(t, strings.Split(name, `"`)[0])
				}
				return
			}
			requireAPIError(t, r, tc.status, tc.errType)
			require.NotEmpty(t, r.errorType(), "errors carry x-amzn-ErrorType")
		})
	}
	h.canary(t)
}

func mustZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	z, err := makeZip(entries...)
	require.NoError(t, err)
	return z
}

func TestRootBadInput_Names(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	existing := h.createFn(t, "bad-names", a.fnZip)
	foreign := "arn:aws:lambda:local:111111111111:function:" + existing
	otherRegion := "arn:aws:lambda:us-east-1:000000000000:function:" + existing
	names := []string{
		strings.Repeat("a", 65),
		"bad name",
		"fn:1:extra",
		existing + ":1:extra",
		foreign,
		otherRegion,
		"arn:aws:lambda:local:000000000000:layer:" + existing,
		"..",
		"a/b",
		"%2e%2e",
		strings.Repeat("x", 300),
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			for _, req := range []struct{ method, path string }{
				{http.MethodGet, functionsPath + "/" + url.PathEscape(n)},
				{http.MethodGet, functionsPath + "/" + url.PathEscape(n) + "/configuration"},
				{http.MethodPost, invokePath(n)},
				{http.MethodDelete, functionsPath + "/" + url.PathEscape(n)},
			} {
				var body []byte
				if req.method == http.MethodPost {
					body = []byte(`{}`)
				}
				r := h.raw(t, req.method, req.path, body, nil, true)
				require.Less(t, r.status, 500, "%s %s: %s", req.method, req.path, r)
				require.GreaterOrEqual(t, r.status, 400, "%s %s resolved: %s", req.method, req.path, r)
				if n == foreign || n == otherRegion {
					require.NotEqual(t, 200, r.status, "a foreign ARN resolved to our function")
				}
			}
		})
	}
	// The function the foreign ARNs named is untouched.
	out, _ := h.invoke(t, existing, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)
	h.canary(t)
}

func TestRootBadInput_InvokePayloads(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "bad-payload", artifacts(t).fnZip, withTimeout(60), withMemory(512)) // room for a 6 MB event on a busy machine

	t.Run("exactly 6291456 bytes", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), jsonString(maxPayload), nil, true)
		require.Equal(t, 200, r.status, "%s", r)
		require.Empty(t, r.header.Get("X-Amz-Function-Error"), "%s", r)
		require.Contains(t, string(r.body), fmt.Sprintf(`"len":%d`, maxPayload))
	})
	t.Run("6291457 bytes", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), jsonString(maxPayload+1), nil, true)
		requireAPIError(t, r, 413, "RequestTooLargeException")
	})
	t.Run("64 MB", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), jsonString(64<<20), nil, true)
		requireAPIError(t, r, 413, "RequestTooLargeException")
	})
	for _, p := range []string{"not json", `{"a":`, "\xff\xfe\x00"} {
		t.Run(fmt.Sprintf("non-JSON %q", p), func(t *testing.T) {
			r := h.raw(t, http.MethodPost, invokePath(name), []byte(p), nil, true)
			require.Equal(t, 400, r.status, "%s", r)
			t.Logf("non-JSON payload → %s", r)
		})
	}
	t.Run("bad invocation type", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), []byte(`{}`), http.Header{"X-Amz-Invocation-Type": {"Sometimes"}}, true)
		require.Equal(t, 400, r.status, "%s", r)
	})
	t.Run("Event is accepted", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), []byte(`{}`), http.Header{"X-Amz-Invocation-Type": {"Event"}}, true)
		require.Equal(t, 202, r.status, "%s", r)
	})
	t.Run("bad client context", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath(name), []byte(`{}`), http.Header{"X-Amz-Client-Context": {"%%%not-base64"}}, true)
		require.Equal(t, 400, r.status, "%s", r)
	})
	h.canary(t)
}

func TestRootBadInput_Auth(t *testing.T) {
	h := sharedHost(t)
	r := h.raw(t, http.MethodGet, functionsPath, nil, nil, false)
	requireAPIError(t, r, 403, "MissingAuthenticationTokenException")
	r = h.raw(t, http.MethodGet, functionsPath, nil, http.Header{"Authorization": {"AWS4-HMAC-SHA256 garbage"}}, false)
	require.Equal(t, 403, r.status, "%s", r)
	r = h.raw(t, http.MethodPost, invokePath("x"), []byte(`{}`), nil, false)
	require.Equal(t, 403, r.status, "unsigned invoke: %s", r)
}

// zipCanaryName is an entry name no file anywhere should ever have.
func zipCanaryName() string { return "kumo-e2e-evil-" + uniqueName("z") }

func TestRootBadInput_HostileZips(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	boot := zipEntry{name: "bootstrap", data: []byte("#!/bin/sh\n"), mode: 0o755}
	canaryDir, err := os.MkdirTemp(a.dir, "canary-")
	require.NoError(t, err)

	type zcase struct {
		name    string
		entries []zipEntry
		marker  string // a file name that must not appear anywhere
	}
	var cases []zcase
	add := func(name string, mk func(m string) []zipEntry) {
		m := zipCanaryName()
		cases = append(cases, zcase{name, mk(m), m})
	}
	add("dot-dot", func(m string) []zipEntry { return []zipEntry{boot, {name: "../" + m, data: []byte("x")}} })
	add("deep dot-dot", func(m string) []zipEntry {
		return []zipEntry{boot, {name: "a/../../../../../../../../tmp/" + m, data: []byte("x")}}
	})
	add("absolute", func(m string) []zipEntry { return []zipEntry{boot, {name: "/tmp/" + m, data: []byte("x")}} })
	add("backslash dot-dot", func(m string) []zipEntry { return []zipEntry{boot, {name: `..\` + m, data: []byte("x")}} })
	add("symlink to /etc/passwd", func(m string) []zipEntry {
		return []zipEntry{boot, {name: m, symlink: "/etc/passwd"}}
	})
	add("symlink escaping upward", func(m string) []zipEntry {
		return []zipEntry{boot, {name: m, symlink: "../../../../../../etc/passwd"}}
	})
	add("write through symlinked dir", func(m string) []zipEntry {
		return []zipEntry{boot, {name: "d", symlink: canaryDir}, {name: "d/" + m, data: []byte("x")}}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			z := mustZip(t, tc.entries...)
			fn := uniqueName("zip")
			r := h.raw(t, http.MethodPost, functionsPath, createBody(t, fn, z, nil), nil, true)
			if r.status == 201 {
				h.deleteAtCleanup(t, fn)
			}
			requireAPIError(t, r, 400, "InvalidParameterValueException")
			requireNowhere(t, tc.marker, h.dataDir, canaryDir)

			// The same zip through UpdateFunctionCode.
			target := h.createFn(t, "zipu", a.fnZip)
			body := fmt.Appendf(nil, `{"ZipFile":%q}`, base64.StdEncoding.EncodeToString(z))
			r = h.raw(t, http.MethodPut, functionsPath+"/"+target+"/code", body, nil, true)
			requireAPIError(t, r, 400, "InvalidParameterValueException")
			requireNowhere(t, tc.marker, h.dataDir, canaryDir)
			out, _ := h.invoke(t, target, map[string]any{"mode": "echo"})
			require.Nil(t, out.FunctionError, "a rejected update must leave the old code running")
		})
	}
	entries, err := os.ReadDir(canaryDir)
	require.NoError(t, err)
	require.Empty(t, entries, "something was written into the canary dir")

	t.Run("symlink inside the package is fine", func(t *testing.T) {
		z := mustZip(t, zipEntry{name: "bootstrap", data: a.fnBinary(t), mode: 0o755},
			zipEntry{name: "lib/real.txt", data: []byte("x")}, zipEntry{name: "lib/link.txt", symlink: "real.txt"})
		fn := uniqueName("zip-ok")
		r := h.raw(t, http.MethodPost, functionsPath, createBody(t, fn, z, nil), nil, true)
		require.Equal(t, 201, r.status, "%s", r)
		h.deleteAtCleanup(t, fn)
		out, _ := h.invoke(t, fn, map[string]any{"mode": "echo"})
		require.Nil(t, out.FunctionError)
	})
	h.canary(t)
}

// fnBinary is the test function's bootstrap executable.
func (a *artifactSet) fnBinary(t *testing.T) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(a.fnZip), int64(len(a.fnZip)))
	require.NoError(t, err)
	f, err := zr.Open("bootstrap")
	require.NoError(t, err)
	defer f.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	require.NoError(t, err)
	return buf.Bytes()
}

// requireNowhere wants no file named marker in /, /tmp, the data dir's
// parent, the data dir (recursively) or extra dirs.
func requireNowhere(t *testing.T, marker, dataDir string, extra ...string) {
	t.Helper()
	for _, d := range append([]string{"/", "/tmp", "/etc", filepath.Dir(dataDir), filepath.Dir(filepath.Dir(dataDir))}, extra...) {
		_, err := os.Lstat(filepath.Join(d, marker))
		require.ErrorIs(t, err, fs.ErrNotExist, "%s was written into %s", marker, d)
	}
	_ = filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == marker {
			t.Errorf("%s left in the data dir at %s", marker, p)
		}
		return nil
	})
}

// bombZip is bootstrap plus one entry of size zero bytes, deflated.
func bombZip(t *testing.T, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	require.NoError(t, err)
	_, err = w.Write([]byte("#!/bin/sh\n"))
	require.NoError(t, err)
	w, err = zw.Create("zeros.bin")
	require.NoError(t, err)
	block := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(block)) {
		_, err = w.Write(block)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func TestRootBadInput_ZipBomb(t *testing.T) {
	h := sharedHost(t)
	z := bombZip(t, 300<<20)
	t.Logf("bomb: %d bytes zipped, 300 MiB unzipped", len(z))
	require.Less(t, len(z), 2<<20)

	before := dirSize(h.dataDir)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if s := dirSize(h.dataDir); s > peak.Load() {
				peak.Store(s)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	fn := uniqueName("bomb")
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r, err := h.rawErr(ctx, http.MethodPost, functionsPath, createBody(t, fn, z, nil), nil, true)
	close(stop)
	wg.Wait()
	require.NoError(t, err)
	if r.status == 201 {
		h.deleteAtCleanup(t, fn)
	}
	requireAPIError(t, r, 400, "InvalidParameterValueException")
	grown := peak.Load() - before
	t.Logf("data dir grew by at most %d MiB during the request", grown>>20)
	require.Less(t, grown, int64(260<<20), "the data dir grew past the unzipped cap")
	require.Less(t, dirSize(h.dataDir)-before, int64(10<<20), "a rejected bomb leaves nothing behind")
	h.canary(t)
}

func TestRootBadInput_Fuzz(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "fuzz", artifacts(t).fnZip)
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, 200)
	for i := range bodies {
		b := make([]byte, rng.IntN(512))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if i%4 == 0 { // JSON-ish prefixes reach deeper
			b = append([]byte(`{"FunctionName":"`), b...)
		}
		bodies[i] = b
	}
	targets := []struct{ method, path string }{
		{http.MethodPost, functionsPath},
		{http.MethodPut, functionsPath + "/" + name + "/configuration"},
		{http.MethodPut, functionsPath + "/" + name + "/code"},
		{http.MethodPost, invokePath(name)},
		{http.MethodPost, "/2017-03-31/tags/" + url.PathEscape("arn:aws:lambda:local:000000000000:function:"+name)},
	}
	statuses := map[int]int{}
	for _, tg := range targets {
		for _, b := range bodies {
			r := h.raw(t, tg.method, tg.path, b, nil, true)
			statuses[r.status]++
			require.Less(t, r.status, 500, "%s %s with %q: %s", tg.method, tg.path, tail(string(b), 80), r)
		}
	}
	t.Logf("statuses: %v", statuses)
	h.canary(t)
	cfg := h.raw(t, http.MethodGet, functionsPath+"/"+name+"/configuration", nil, nil, true)
	require.Equal(t, 200, cfg.status, "the fuzzed function still reads back: %s", cfg)
}
