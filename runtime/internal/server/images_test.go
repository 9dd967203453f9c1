package server_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// selfRegistry is the name the test server's own registry answers to; its
// images come from the store, so no registry listens there.
const selfRegistry = "127.0.0.1:1"

// imageServer serves the API over a control plane whose own registry holds
// app:v1, an image with an ENTRYPOINT.
func imageServer(t *testing.T) (*httptest.Server, v1.Hash) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: 1, Typeflag: tar.TypeReg}))
	_, _ = tw.Write([]byte("x"))
	require.NoError(t, tw.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	require.NoError(t, err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	require.NoError(t, err)
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/app"}})
	require.NoError(t, err)
	digest, err := imgs.Write(t.Context(), img)
	require.NoError(t, err)
	raw, err := img.RawManifest()
	require.NoError(t, err)
	mt, err := img.MediaType()
	require.NoError(t, err)
	require.NoError(t, imgs.Tag(t.Context(), "app", "v1", v1.Descriptor{MediaType: mt, Digest: digest, Size: int64(len(raw))}))

	ctl := control.New(st, imgs, kumo.Scope{Region: "local", Account: "000000000000"},
		control.WithLocalImages(func(r string) bool { return r == selfRegistry }, imgs))
	ts := httptest.NewServer(server.New(ctl, &recordingInvoker{resp: invoke.Response{StatusCode: 200}}, noLogs{}, allow{}))
	t.Cleanup(ts.Close)
	return ts, digest
}

func imageCreateBody(t *testing.T, name string, extra map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"FunctionName": name, "Role": "arn:aws:iam::000000000000:role/x", "PackageType": "Image",
		"Code": map[string]any{"ImageUri": selfRegistry + "/app:v1"},
	}
	for k, v := range extra {
		m[k] = v
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestImageFunctionWire(t *testing.T) {
	t.Parallel()
	ts, digest := imageServer(t)
	fns := ts.URL + "/2015-03-31/functions"
	ic := map[string]any{"EntryPoint": []string{"/app", "run"}, "Command": []string{"h.handler"}, "WorkingDirectory": "/srv"}

	resp, out := do(t, "POST", fns, imageCreateBody(t, "img", map[string]any{"ImageConfig": ic}), nil)
	require.Equal(t, 201, resp.StatusCode, "%v", out)
	assert.Equal(t, "Image", out["PackageType"])
	assert.NotContains(t, out, "Runtime")
	assert.NotContains(t, out, "Handler")
	assert.Equal(t, digest.Hex, out["CodeSha256"])
	assert.EqualValues(t, 0, out["CodeSize"])
	assert.Equal(t, map[string]any{"ImageConfig": map[string]any{
		"EntryPoint": []any{"/app", "run"}, "Command": []any{"h.handler"}, "WorkingDirectory": "/srv",
	}}, out["ImageConfigResponse"])

	resp, out = do(t, "GET", fns+"/img", nil, nil)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, map[string]any{
		"RepositoryType":   "ECR",
		"ImageUri":         selfRegistry + "/app:v1",
		"ResolvedImageUri": selfRegistry + "/app@" + digest.String(),
	}, out["Code"])

	// Replacing the ImageConfig with one that sets nothing removes it.
	resp, out = do(t, "PUT", fns+"/img/configuration", []byte(`{"ImageConfig":{}}`), nil)
	require.Equal(t, 200, resp.StatusCode, "%v", out)
	assert.NotContains(t, out, "ImageConfigResponse")

	// A zip function has neither.
	resp, out = do(t, "POST", fns, createBody(t, "zipfn"), nil)
	require.Equal(t, 201, resp.StatusCode, "%v", out)
	assert.NotContains(t, out, "ImageConfigResponse")
	_, out = do(t, "GET", fns+"/zipfn", nil, nil)
	assert.Equal(t, map[string]any{"RepositoryType": "S3"}, out["Code"])

	tests := []struct {
		name string
		body []byte
		code string
		msg  string
	}{
		{"unknown member", imageCreateBody(t, "x", map[string]any{"ImageConfig": map[string]any{"Shell": []string{"/bin/sh"}}}), "InvalidRequestContentException", "Unrecognized field"},
		{"wrong type", imageCreateBody(t, "x", map[string]any{"ImageConfig": map[string]any{"Command": "a b"}}), "InvalidRequestContentException", "Command"},
		{"runtime", imageCreateBody(t, "x", map[string]any{"Runtime": "provided.al2023"}), "InvalidParameterValueException", "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."},
		{"missing image", imageCreateBody(t, "x", map[string]any{"Code": map[string]any{"ImageUri": selfRegistry + "/app:v2"}}), "InvalidParameterValueException", "Source image " + selfRegistry + "/app:v2 does not exist. Provide a valid source image."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := do(t, "POST", fns, tc.body, nil)
			require.Equal(t, 400, resp.StatusCode, "%v", out)
			assert.Equal(t, tc.code, resp.Header.Get("x-amzn-ErrorType"))
			assert.Contains(t, out["message"], tc.msg)
		})
	}
}
