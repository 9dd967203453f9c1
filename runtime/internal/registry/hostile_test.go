package registry_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/registry"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func appendLayer(img v1.Image, l v1.Layer) (v1.Image, error) { return mutate.AppendLayers(img, l) }

const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// manifestFor builds an OCI manifest naming config and layers by content.
func manifestFor(t *testing.T, config []byte, layers ...[]byte) []byte {
	t.Helper()
	m := map[string]any{
		"schemaVersion": 2, "mediaType": ociManifest,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(config), "size": len(config)},
	}
	var ls []map[string]any
	for _, l := range layers {
		ls = append(ls, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digestOf(l), "size": len(l)})
	}
	m["layers"] = ls
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// TestHostileRequests: every malformed or hostile request gets the spec's
// error, and none crashes the server or fails it internally (do checks
// for 5xx).
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "", registry.WithMaxBlobSize(1024))
	good := []byte("a good blob")
	resp := r.do(http.MethodPost, "/v2/h/blobs/uploads/?digest="+digestOf(good), bytes.NewReader(good), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	config := []byte("{}")
	resp = r.do(http.MethodPost, "/v2/h/blobs/uploads/?digest="+digestOf(config), bytes.NewReader(config), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	okManifest := manifestFor(t, config, good)
	session := func() string {
		resp := r.do(http.MethodPost, "/v2/h/blobs/uploads/", nil, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		return resp.Header.Get("Location")
	}
	zeros := "sha256:" + strings.Repeat("0", 64)
	big := bytes.Repeat([]byte("x"), 2048)

	for _, tc := range []struct {
		name   string
		method string
		path   string // or a func of a fresh session's location
		upload func(loc string) string
		body   []byte
		stream bool // send body without Content-Length
		hdr    map[string]string
		status int
		code   string
	}{
		// Digests.
		{name: "short digest", method: http.MethodGet, path: "/v2/h/blobs/sha256:abc", status: 400, code: "DIGEST_INVALID"},
		{name: "upper-case hex", method: http.MethodGet, path: "/v2/h/blobs/sha256:" + strings.Repeat("A", 64), status: 400, code: "DIGEST_INVALID"},
		{name: "no algorithm", method: http.MethodGet, path: "/v2/h/blobs/" + strings.Repeat("0", 64), status: 400, code: "DIGEST_INVALID"},
		{name: "sha512", method: http.MethodHead, path: "/v2/h/blobs/sha512:" + strings.Repeat("0", 128), status: 400},
		{name: "md5 digest", method: http.MethodGet, path: "/v2/h/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: "UNSUPPORTED"},
		{name: "traversal in digest", method: http.MethodGet, path: "/v2/h/blobs/sha256:..%2F..%2Fetc", status: 400, code: "DIGEST_INVALID"},
		{name: "bad mount digest", method: http.MethodPost, path: "/v2/h/blobs/uploads/?mount=sha256:zz&from=h", status: 400, code: "DIGEST_INVALID"},
		{name: "bad monolithic digest", method: http.MethodPost, path: "/v2/h/blobs/uploads/?digest=nope", body: good, status: 400, code: "DIGEST_INVALID"},
		{name: "monolithic digest mismatch", method: http.MethodPost, path: "/v2/h/blobs/uploads/?digest=" + zeros, body: good, status: 400, code: "DIGEST_INVALID"},
		{name: "PUT without digest", method: http.MethodPut, upload: func(loc string) string { return loc }, status: 400, code: "DIGEST_INVALID"},
		{name: "PUT digest mismatch", method: http.MethodPut, upload: func(loc string) string { return loc + "?digest=" + zeros }, body: good, status: 400, code: "DIGEST_INVALID"},
		// Uploads.
		{name: "unknown upload", method: http.MethodPatch, path: "/v2/h/blobs/uploads/deadbeef", body: good, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "unknown upload status", method: http.MethodGet, path: "/v2/h/blobs/uploads/deadbeef", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "unknown upload delete", method: http.MethodDelete, path: "/v2/h/blobs/uploads/deadbeef", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "upload of another repository", method: http.MethodPatch, upload: func(loc string) string { return strings.Replace(loc, "/v2/h/", "/v2/other/", 1) }, body: good, status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "chunk out of order", method: http.MethodPatch, upload: func(loc string) string { return loc }, body: good, hdr: map[string]string{"Content-Range": "5-15"}, status: 416, code: "BLOB_UPLOAD_INVALID"},
		{name: "garbage Content-Range", method: http.MethodPatch, upload: func(loc string) string { return loc }, body: good, hdr: map[string]string{"Content-Range": "bytes=x"}, status: 416, code: "BLOB_UPLOAD_INVALID"},
		{name: "Content-Range and length disagree", method: http.MethodPatch, upload: func(loc string) string { return loc }, body: good, hdr: map[string]string{"Content-Range": "0-1"}, status: 400, code: "SIZE_INVALID"},
		{name: "oversize monolithic", method: http.MethodPost, path: "/v2/h/blobs/uploads/?digest=" + digestOf(big), body: big, status: 413, code: "SIZE_INVALID"},
		{name: "oversize monolithic, no length", method: http.MethodPost, path: "/v2/h/blobs/uploads/?digest=" + digestOf(big), body: big, stream: true, status: 413, code: "SIZE_INVALID"},
		{name: "oversize chunk", method: http.MethodPatch, upload: func(loc string) string { return loc }, body: big, status: 413, code: "SIZE_INVALID"},
		{name: "oversize chunk, no length", method: http.MethodPatch, upload: func(loc string) string { return loc }, body: big, stream: true, status: 413, code: "SIZE_INVALID"},
		{name: "oversize final PUT", method: http.MethodPut, upload: func(loc string) string { return loc + "?digest=" + digestOf(big) }, body: big, status: 413, code: "SIZE_INVALID"},
		{name: "delete a blob", method: http.MethodDelete, path: "/v2/h/blobs/" + digestOf(good), status: 405, code: "UNSUPPORTED"},
		// Manifests.
		{name: "malformed manifest JSON", method: http.MethodPut, path: "/v2/h/manifests/v1", body: []byte("{not json"), hdr: map[string]string{"Content-Type": ociManifest}, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest of JSON null", method: http.MethodPut, path: "/v2/h/manifests/v1", body: []byte("null"), hdr: map[string]string{"Content-Type": ociManifest}, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest without media type", method: http.MethodPut, path: "/v2/h/manifests/v1", body: []byte(`{"schemaVersion":2}`), status: 400, code: "MANIFEST_INVALID"},
		{name: "unsupported media type", method: http.MethodPut, path: "/v2/h/manifests/v1", body: okManifest, hdr: map[string]string{"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest naming missing blobs", method: http.MethodPut, path: "/v2/h/manifests/v1", body: manifestFor(t, config, good, []byte("never pushed")), hdr: map[string]string{"Content-Type": ociManifest}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index naming a missing manifest", method: http.MethodPut, path: "/v2/h/manifests/v1", body: []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"` + ociManifest + `","digest":"` + zeros + `","size":2}]}`), hdr: map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest digest mismatch", method: http.MethodPut, path: "/v2/h/manifests/" + zeros, body: okManifest, hdr: map[string]string{"Content-Type": ociManifest}, status: 400, code: "DIGEST_INVALID"},
		{name: "manifest too large", method: http.MethodPut, path: "/v2/h/manifests/v1", body: bytes.Repeat([]byte(" "), 4<<20+1), hdr: map[string]string{"Content-Type": ociManifest}, status: 413, code: "SIZE_INVALID"},
		{name: "manifest too large, no length", method: http.MethodPut, path: "/v2/h/manifests/v1", body: bytes.Repeat([]byte(" "), 4<<20+1), stream: true, hdr: map[string]string{"Content-Type": ociManifest}, status: 413, code: "SIZE_INVALID"},
		{name: "bad tag", method: http.MethodPut, path: "/v2/h/manifests/-v1", body: okManifest, hdr: map[string]string{"Content-Type": ociManifest}, status: 400, code: "MANIFEST_INVALID"},
		{name: "tag too long", method: http.MethodGet, path: "/v2/h/manifests/" + strings.Repeat("t", 129), status: 400, code: "MANIFEST_INVALID"},
		{name: "missing manifest", method: http.MethodGet, path: "/v2/h/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "HEAD missing manifest", method: http.MethodHead, path: "/v2/h/manifests/nope", status: 404},
		{name: "HEAD missing blob", method: http.MethodHead, path: "/v2/h/blobs/" + zeros, status: 404},
		{name: "GET missing blob", method: http.MethodGet, path: "/v2/h/blobs/" + zeros, status: 404, code: "BLOB_UNKNOWN"},
		{name: "blob digest as manifest", method: http.MethodGet, path: "/v2/h/manifests/" + digestOf(good), status: 404, code: "MANIFEST_UNKNOWN"},
		// Names.
		{name: "dot-dot name", method: http.MethodGet, path: "/v2/../x/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "upper-case name", method: http.MethodGet, path: "/v2/Team/app/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "empty name", method: http.MethodGet, path: "/v2//tags/list", status: 400, code: "NAME_INVALID"},
		{name: "empty component", method: http.MethodGet, path: "/v2/a//b/manifests/v1", status: 400, code: "NAME_INVALID"},
		{name: "leading separator", method: http.MethodGet, path: "/v2/-a/manifests/v1", status: 400, code: "NAME_INVALID"},
		{name: "name too long", method: http.MethodGet, path: "/v2/" + strings.Repeat("a", 256) + "/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "NUL in name", method: http.MethodGet, path: "/v2/a%00b/tags/list", status: 400, code: "NAME_INVALID"},
		{name: "unknown repository", method: http.MethodGet, path: "/v2/nobody/tags/list", status: 404, code: "NAME_UNKNOWN"},
		{name: "unknown endpoint", method: http.MethodGet, path: "/v2/h/elsewhere", status: 404},
		{name: "bad page size", method: http.MethodGet, path: "/v2/_catalog?n=-1", status: 400, code: "PAGINATION_NUMBER_INVALID"},
		{name: "non-numeric page size", method: http.MethodGet, path: "/v2/_catalog?n=ten", status: 400, code: "PAGINATION_NUMBER_INVALID"},
		{name: "POST to base", method: http.MethodPost, path: "/v2/", status: 405, code: "UNSUPPORTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if tc.upload != nil {
				path = tc.upload(session())
			}
			var body io.Reader
			if tc.body != nil {
				body = bytes.NewReader(tc.body)
				if tc.stream {
					body = io.MultiReader(body)
				}
			}
			resp := r.do(tc.method, path, body, tc.hdr)
			require.Equal(t, tc.status, resp.StatusCode)
			if tc.code != "" {
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				require.Equal(t, tc.code, errorCode(t, resp))
			}
		})
	}

	// After all that: the good content is intact and nothing else was stored.
	resp = r.do(http.MethodPut, "/v2/h/manifests/v1", bytes.NewReader(okManifest), map[string]string{"Content-Type": ociManifest})
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	for _, d := range []string{zeros, digestOf(big)} {
		resp := r.do(http.MethodHead, "/v2/h/blobs/"+d, nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, d)
	}
}

// TestUploadAfterMismatchIsGone: a failed commit ends the session, as the
// spec says.
func TestUploadAfterMismatchIsGone(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	resp := r.do(http.MethodPost, "/v2/m/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	resp = r.do(http.MethodPut, loc+"?digest="+digestOf([]byte("x")), strings.NewReader("y"), nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestChunkedUploadLimit: the limit is on the whole blob, not each chunk.
func TestChunkedUploadLimit(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "", registry.WithMaxBlobSize(1000))
	resp := r.do(http.MethodPost, "/v2/lim/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	resp = r.do(http.MethodPatch, loc, bytes.NewReader(make([]byte, 600)), map[string]string{"Content-Range": "0-599"})
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = r.do(http.MethodPatch, loc, bytes.NewReader(make([]byte, 600)), map[string]string{"Content-Range": "600-1199"})
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Equal(t, "SIZE_INVALID", errorCode(t, resp))
	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "an upload over the limit can never finish, so it ends")

	// Without a declared length, the limit cuts the body off as it streams.
	resp = r.do(http.MethodPost, "/v2/lim/blobs/uploads/", nil, nil)
	loc = resp.Header.Get("Location")
	resp = r.do(http.MethodPatch, loc, bytes.NewReader(make([]byte, 600)), nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = r.do(http.MethodPatch, loc, io.MultiReader(bytes.NewReader(make([]byte, 600))), nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestUploadSessionLimits(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "", registry.WithUploadLimits(300*time.Millisecond, 2))
	var locs []string
	for range 2 {
		resp := r.do(http.MethodPost, "/v2/s/blobs/uploads/", nil, nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		locs = append(locs, resp.Header.Get("Location"))
	}
	resp := r.do(http.MethodPost, "/v2/s/blobs/uploads/", nil, nil)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Equal(t, "TOOMANYREQUESTS", errorCode(t, resp))

	resp = r.do(http.MethodDelete, locs[0], nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	resp = r.do(http.MethodPost, "/v2/s/blobs/uploads/", nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "a cancelled upload frees its slot")

	// Idle sessions expire when a new one starts.
	time.Sleep(400 * time.Millisecond)
	resp = r.do(http.MethodPost, "/v2/s/blobs/uploads/", nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = r.do(http.MethodGet, locs[1], nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestSlowBodyIsCut: a client that stops sending mid-body loses its
// connection after the idle timeout instead of holding it forever.
func TestSlowBodyIsCut(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "", registry.WithIdleTimeout(200*time.Millisecond))
	resp := r.do(http.MethodPost, "/v2/slow/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")

	conn, err := net.Dial("tcp", r.host)
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Length: 1000\r\n\r\n0123456789",
		loc, r.host, b64(testCreds.AccessKeyID+":"+testCreds.SecretAccessKey))
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	began := time.Now()
	got, _ := io.ReadAll(bufio.NewReader(conn)) // ends when the server closes
	require.Less(t, time.Since(began), 5*time.Second)
	require.False(t, bytes.Contains(got, []byte(" 202 ")), "the stalled chunk was not accepted: %q", got)

	// The 10 bytes that did arrive are there to resume from.
	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "0-9", resp.Header.Get("Range"))
}

// TestPushOverLimitFails: a client pushing an image with a layer over the
// limit gets a clear error, not a hang.
func TestPushOverLimitFails(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "", registry.WithMaxBlobSize(4096))
	img, err := random.Image(64<<10, 1)
	require.NoError(t, err)
	err = remote.Write(r.ref("toolarge/x:v1"), img, basic())
	require.ErrorContains(t, err, "SIZE_INVALID")
}

// TestCorruptedBlobIsNeverServedWhole: a blob damaged on disk (same size,
// so only its digest tells) reaches the client cut short, never as
// complete content of the right length.
func TestCorruptedBlobIsNeverServedWhole(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	for _, size := range []int{100, 600 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			blob := bytes.Repeat([]byte{byte(size)}, size)
			d := digestOf(blob)
			resp := r.do(http.MethodPost, "/v2/c/blobs/uploads/?digest="+d, bytes.NewReader(blob), nil)
			require.Equal(t, http.StatusCreated, resp.StatusCode)
			blob[size-1]++
			require.NoError(t, os.WriteFile(filepath.Join(r.dir, "oci", "blobs", "sha256", strings.TrimPrefix(d, "sha256:")), blob, 0o644))

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, r.srv.URL+"/v2/c/blobs/"+d, nil)
			require.NoError(t, err)
			req.SetBasicAuth(testCreds.AccessKeyID, testCreds.SecretAccessKey)
			resp, err = r.srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusOK {
				require.Error(t, err, "the body is cut short")
				require.Less(t, len(got), size)
				return
			}
			require.Equal(t, http.StatusInternalServerError, resp.StatusCode, "caught before the first byte")
			require.Contains(t, string(got), "INTERNAL_ERROR")
		})
	}
}
