package registry_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/auth"
	"github.com/kumo-dev/kumo/runtime/internal/registry"
)

var testCreds = auth.Credentials{AccessKeyID: "AKIAREGISTRYTEST0001", SecretAccessKey: "registry-test-secret-0123456789abcdef"}

type testRegistry struct {
	t     *testing.T
	dir   string
	store *image.Store
	srv   *httptest.Server
	host  string
}

// startRegistry serves a registry over a fresh (or the given) store
// directory with a real HTTP server.
func startRegistry(t *testing.T, dir string, opts ...registry.Option) *testRegistry {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "images")
	}
	s, err := image.Open(dir)
	require.NoError(t, err)
	reg, err := registry.New(s, testCreds, opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	return &testRegistry{t: t, dir: dir, store: s, srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
}

func (r *testRegistry) ref(s string) name.Reference {
	r.t.Helper()
	ref, err := name.ParseReference(r.host+"/"+s, name.Insecure)
	require.NoError(r.t, err)
	return ref
}

func basic() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: testCreds.AccessKeyID, Password: testCreds.SecretAccessKey})
}

// do sends a raw request with the right credentials unless the caller
// set Authorization itself, and checks that the registry never fails
// internally.
func (r *testRegistry) do(method, path string, body io.Reader, hdr map[string]string) *http.Response {
	r.t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = r.srv.URL + path
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(r.t, err)
	req.SetBasicAuth(testCreds.AccessKeyID, testCreds.SecretAccessKey)
	for k, v := range hdr {
		switch {
		case k == "Content-Length":
			_, err := fmt.Sscan(v, &req.ContentLength)
			require.NoError(r.t, err)
		case k == "Authorization" && v == "":
			req.Header.Del(k)
		default:
			req.Header.Set(k, v)
		}
	}
	resp, err := r.srv.Client().Do(req)
	require.NoError(r.t, err)
	r.t.Cleanup(func() { resp.Body.Close() })
	require.Less(r.t, resp.StatusCode, 500, "%s %s", method, path)
	return resp
}

// errorCode reads the code of a distribution-spec error body.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Len(t, body.Errors, 1)
	require.NotEmpty(t, body.Errors[0].Message)
	return body.Errors[0].Code
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func TestPushPullImage(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	img, err := random.Image(2048, 3)
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)

	ref := r.ref("team/app:v1")
	require.NoError(t, remote.Write(ref, img, basic()))
	for _, s := range []string{"team/app:v1", "team/app@" + want.String()} {
		got, err := remote.Image(r.ref(s), basic())
		require.NoError(t, err, s)
		d, err := got.Digest()
		require.NoError(t, err)
		require.Equal(t, want, d, s)
		require.NoError(t, validate.Image(got), s)
	}
	desc, err := remote.Head(ref, basic())
	require.NoError(t, err)
	require.Equal(t, want, desc.Digest)

	// Pushing again is a no-op for the blobs, and to another repository
	// every layer is found present.
	require.NoError(t, remote.Write(ref, img, basic()))
	require.NoError(t, remote.Write(r.ref("other/app:v1"), img, basic()))
	tags, err := remote.List(r.ref("team/app:v1").Context(), basic())
	require.NoError(t, err)
	require.Equal(t, []string{"v1"}, tags)
	repos, err := remote.Catalog(t.Context(), r.ref("x:y").Context().Registry, basic())
	require.NoError(t, err)
	require.Equal(t, []string{"other/app", "team/app"}, repos)
}

func TestPushPullIndex(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	idx, err := random.Index(1024, 2, 3)
	require.NoError(t, err)
	want, err := idx.Digest()
	require.NoError(t, err)
	ref := r.ref("multi/arch:latest")
	require.NoError(t, remote.WriteIndex(ref, idx, basic()))

	got, err := remote.Index(ref, basic())
	require.NoError(t, err)
	d, err := got.Digest()
	require.NoError(t, err)
	require.Equal(t, want, d)
	require.NoError(t, validate.Index(got))
	desc, err := remote.Get(ref, basic())
	require.NoError(t, err)
	require.True(t, desc.MediaType.IsIndex(), desc.MediaType)

	// Each child was pushed by digest: retrievable, but no tag.
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	for _, m := range im.Manifests {
		_, err := remote.Image(r.ref("multi/arch@"+m.Digest.String()), basic())
		require.NoError(t, err)
	}
	tags, err := remote.List(ref.Context(), basic())
	require.NoError(t, err)
	require.Equal(t, []string{"latest"}, tags)
}

func TestPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "images")
	r1 := startRegistry(t, dir)
	img, err := random.Image(1024, 2)
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)
	require.NoError(t, remote.Write(r1.ref("keep/me:v1"), img, basic()))
	r1.srv.Close()

	r2 := startRegistry(t, dir)
	got, err := remote.Image(r2.ref("keep/me:v1"), basic())
	require.NoError(t, err)
	d, err := got.Digest()
	require.NoError(t, err)
	require.Equal(t, want, d)
	require.NoError(t, validate.Image(got))
}

func TestConcurrentPushes(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	shared, err := random.Layer(4096, "application/vnd.docker.image.rootfs.diff.tar.gzip")
	require.NoError(t, err)
	const n = 6
	var wg sync.WaitGroup
	digests := make([]v1.Hash, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			img, err := random.Image(1024, 2)
			if err == nil {
				img, err = appendLayer(img, shared)
			}
			if err == nil {
				digests[i], err = img.Digest()
			}
			if err == nil {
				err = remote.Write(r.ref(fmt.Sprintf("con/img%d:v1", i)), img, basic(), remote.WithJobs(4))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		got, err := remote.Image(r.ref(fmt.Sprintf("con/img%d:v1", i)), basic())
		require.NoError(t, err)
		d, err := got.Digest()
		require.NoError(t, err)
		require.Equal(t, digests[i], d)
		require.NoError(t, validate.Image(got))
	}
}

func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	blob := bytes.Repeat([]byte("0123456789"), 100)
	d := digestOf(blob)

	resp := r.do(http.MethodPost, "/v2/chunk/blobs/uploads/", nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	loc := resp.Header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/v2/chunk/blobs/uploads/"), loc)
	require.NotEmpty(t, resp.Header.Get("Docker-Upload-UUID"))
	require.Equal(t, "0-0", resp.Header.Get("Range"))

	resp = r.do(http.MethodPatch, loc, bytes.NewReader(blob[:400]), map[string]string{"Content-Range": "0-399", "Content-Type": "application/octet-stream"})
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, "0-399", resp.Header.Get("Range"))
	loc = resp.Header.Get("Location")

	// No Content-Range: a streamed chunk, appended as well.
	resp = r.do(http.MethodPatch, loc, bytes.NewReader(blob[400:]), nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.Equal(t, "0-999", resp.Header.Get("Range"))

	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "0-999", resp.Header.Get("Range"))

	resp = r.do(http.MethodHead, "/v2/chunk/blobs/"+d, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "not there before the PUT")

	resp = r.do(http.MethodPut, loc+"?digest="+d, nil, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, d, resp.Header.Get("Docker-Content-Digest"))
	require.Equal(t, "/v2/chunk/blobs/"+d, resp.Header.Get("Location"))

	resp = r.do(http.MethodGet, "/v2/chunk/blobs/"+d, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, blob, got)
	require.Equal(t, d, resp.Header.Get("Docker-Content-Digest"))
	require.EqualValues(t, len(blob), resp.ContentLength)

	resp = r.do(http.MethodGet, loc, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "a finished upload is gone")
	require.Equal(t, "BLOB_UPLOAD_UNKNOWN", errorCode(t, resp))
}

func TestMonolithicUploads(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	for _, tc := range []struct {
		name    string
		chunked bool // no Content-Length
		viaPut  bool // POST for a session, then PUT with the whole body
	}{
		{"POST with digest", false, false},
		{"POST with digest, chunked encoding", true, false},
		{"session then PUT with body", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob := []byte("monolithic " + tc.name)
			d := digestOf(blob)
			var body io.Reader = bytes.NewReader(blob)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length from net/http
			}
			var resp *http.Response
			if tc.viaPut {
				resp = r.do(http.MethodPost, "/v2/mono/blobs/uploads/", nil, nil)
				require.Equal(t, http.StatusAccepted, resp.StatusCode)
				resp = r.do(http.MethodPut, resp.Header.Get("Location")+"?digest="+d, body, nil)
			} else {
				resp = r.do(http.MethodPost, "/v2/mono/blobs/uploads/?digest="+d, body, nil)
			}
			require.Equal(t, http.StatusCreated, resp.StatusCode)
			require.Equal(t, d, resp.Header.Get("Docker-Content-Digest"))

			resp = r.do(http.MethodHead, "/v2/mono/blobs/"+d, nil, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.EqualValues(t, len(blob), resp.ContentLength)
			require.Equal(t, d, resp.Header.Get("Docker-Content-Digest"))
		})
	}
}

func TestMount(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	blob := []byte("mount me")
	d := digestOf(blob)
	resp := r.do(http.MethodPost, "/v2/from/repo/blobs/uploads/?digest="+d, bytes.NewReader(blob), nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)

	resp = r.do(http.MethodPost, "/v2/to/repo/blobs/uploads/?mount="+d+"&from=from/repo", nil, nil)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Equal(t, "/v2/to/repo/blobs/"+d, resp.Header.Get("Location"))
	require.Equal(t, d, resp.Header.Get("Docker-Content-Digest"))

	// A blob that is not there: the spec falls back to a new session.
	resp = r.do(http.MethodPost, "/v2/to/repo/blobs/uploads/?mount="+digestOf([]byte("absent"))+"&from=from/repo", nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Location"))
}

// pushTagged pushes a small image under each tag of repo.
func pushTagged(t *testing.T, r *testRegistry, repo string, tags ...string) {
	t.Helper()
	img, err := random.Image(64, 1)
	require.NoError(t, err)
	for _, tag := range tags {
		require.NoError(t, remote.Write(r.ref(repo+":"+tag), img, basic()))
	}
}

func TestTagsPagination(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	pushTagged(t, r, "paged", "e", "a", "d", "c", "b")

	type page struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	list := func(path string) (page, string) {
		resp := r.do(http.MethodGet, path, nil, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		var p page
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		return p, resp.Header.Get("Link")
	}
	for _, tc := range []struct {
		query string
		want  []string
		link  bool
	}{
		{"", []string{"a", "b", "c", "d", "e"}, false},
		{"?n=2", []string{"a", "b"}, true},
		{"?n=2&last=b", []string{"c", "d"}, true},
		{"?n=2&last=d", []string{"e"}, false},
		{"?last=bb", []string{"c", "d", "e"}, false},
		{"?last=e", []string{}, false},
		{"?n=0", []string{}, false},
		{"?n=5", []string{"a", "b", "c", "d", "e"}, false},
	} {
		t.Run(tc.query, func(t *testing.T) {
			p, link := list("/v2/paged/tags/list" + tc.query)
			require.Equal(t, "paged", p.Name)
			require.Equal(t, tc.want, p.Tags)
			require.Equal(t, tc.link, link != "", link)
		})
	}

	// Following Link headers visits every tag once.
	var all []string
	next := "/v2/paged/tags/list?n=2"
	for next != "" {
		p, link := list(next)
		all = append(all, p.Tags...)
		next = ""
		if link != "" {
			next = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, all)

	tags, err := remote.List(r.ref("paged:a").Context(), basic(), remote.WithPageSize(2))
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, tags)
}

func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	pushTagged(t, r, "del", "v1", "v2")
	resp := r.do(http.MethodHead, "/v2/del/manifests/v1", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	d := resp.Header.Get("Docker-Content-Digest")

	resp = r.do(http.MethodDelete, "/v2/del/manifests/v1", nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	resp = r.do(http.MethodGet, "/v2/del/manifests/v1", nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "MANIFEST_UNKNOWN", errorCode(t, resp))
	resp = r.do(http.MethodGet, "/v2/del/manifests/"+d, nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "v2 still names it")

	resp = r.do(http.MethodDelete, "/v2/del/manifests/"+d, nil, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	for _, ref := range []string{"v2", d} {
		resp = r.do(http.MethodHead, "/v2/del/manifests/"+ref, nil, nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, ref)
	}
	resp = r.do(http.MethodDelete, "/v2/del/manifests/"+d, nil, nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestBaseEndpointAndAuth(t *testing.T) {
	t.Parallel()
	r := startRegistry(t, "")
	resp := r.do(http.MethodGet, "/v2/", nil, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "registry/2.0", resp.Header.Get("Docker-Distribution-API-Version"))

	wrongPass := "Basic " + b64(testCreds.AccessKeyID+":"+testCreds.SecretAccessKey+"x")
	wrongUser := "Basic " + b64("AKIAOTHER:"+testCreds.SecretAccessKey)
	for _, tc := range []struct {
		name, method, path, authz string
	}{
		{"no credentials", http.MethodGet, "/v2/", ""},
		{"wrong password", http.MethodGet, "/v2/", wrongPass},
		{"wrong user", http.MethodGet, "/v2/", wrongUser},
		{"not basic", http.MethodGet, "/v2/", "Bearer abc"},
		{"malformed basic", http.MethodGet, "/v2/", "Basic !!!"},
		{"no credentials, a blob", http.MethodGet, "/v2/a/blobs/" + digestOf(nil), ""},
		{"no credentials, a push", http.MethodPost, "/v2/a/blobs/uploads/", ""},
		{"no credentials, a bad name", http.MethodGet, "/v2/A/tags/list", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.do(tc.method, tc.path, nil, map[string]string{"Authorization": tc.authz})
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			require.Equal(t, `Basic realm="kumo"`, resp.Header.Get("WWW-Authenticate"))
			require.Equal(t, "UNAUTHORIZED", errorCode(t, resp))
		})
	}

	// Without credentials, ggcr gets the challenge and gives up.
	img, err := random.Image(64, 1)
	require.NoError(t, err)
	require.Error(t, remote.Write(r.ref("anon/x:v1"), img))
	require.Error(t, remote.Write(r.ref("anon/x:v1"), img, remote.WithAuth(&authn.Basic{Username: testCreds.AccessKeyID, Password: "wrong"})))
}
