package control_test

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// testRegistry is ggcr's in-memory registry on a loopback port; ggcr
// speaks plain HTTP to loopback registries. With user set it wants HTTP
// Basic credentials, as a private registry does.
type testRegistry struct {
	host string // 127.0.0.1:PORT
}

func newTestRegistry(t *testing.T, user, pass string) *testRegistry {
	t.Helper()
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testRegistry{host: strings.TrimPrefix(srv.URL, "http://")}
}

func (r *testRegistry) ref(t *testing.T, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.host + "/" + s)
	require.NoError(t, err)
	return ref
}

func (r *testRegistry) push(t *testing.T, repoTag string, img v1.Image, opts ...remote.Option) v1.Hash {
	t.Helper()
	require.NoError(t, remote.Write(r.ref(t, repoTag), img, append(opts, remote.WithContext(t.Context()))...))
	d, err := img.Digest()
	require.NoError(t, err)
	return d
}

// imageService is a Service pulling from registries, over a real engine
// and image store.
func imageService(t *testing.T, opts ...control.Option) (*control.Service, *image.Store) {
	t.Helper()
	return imageServiceFor(t, func(*image.Store) []control.Option { return opts })
}

// imageServiceFor is imageService with options that need the image store.
func imageServiceFor(t *testing.T, opts func(*image.Store) []control.Option) (*control.Service, *image.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(filepath.Join(dir, "images"))
	require.NoError(t, err)
	rem, err := image.NewRemote()
	require.NoError(t, err)
	return control.New(st, imgs, scope, append([]control.Option{control.WithImageSource(rem)}, opts(imgs)...)...), imgs
}

func imageInput(name, uri string) control.CreateInput {
	return control.CreateInput{FunctionName: name, Role: role, PackageType: kumo.PackageImage, ImageURI: uri}
}

// layerOf is a gzip layer holding files (name → body, mode 0755).
func layerOf(t *testing.T, files map[string][]byte) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, b := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(b)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	require.NoError(t, err)
	return l
}

func platformImage(t *testing.T, arch string, files map[string][]byte) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layerOf(t, files))
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Config.Entrypoint = []string{"/app"}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

func requireInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	require.Contains(t, err.Error(), msg)
}

func TestCreateImageFunction_PullsAndPins(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	img, err := random.Image(2048, 2)
	require.NoError(t, err)
	digest := reg.push(t, "team/app:v1", img)
	svc, imgs := imageService(t)

	uri := reg.host + "/team/app:v1"
	f, err := svc.CreateFunction(t.Context(), imageInput("img", uri))
	require.NoError(t, err)
	assert.Equal(t, kumo.PackageImage, f.PackageType)
	assert.Equal(t, uri, f.ImageURI)
	assert.Equal(t, reg.host+"/team/app@"+digest.String(), f.ResolvedImageURI)
	assert.Equal(t, digest.String(), f.ImageDigest, "the image is stored as it is, digest unchanged")
	assert.Equal(t, digest.Hex, f.CodeSha256)
	assert.Zero(t, f.CodeSize)
	assert.Empty(t, f.Runtime)
	assert.Empty(t, f.Handler)

	stored, err := imgs.Image(t.Context(), digest)
	require.NoError(t, err)
	got, err := stored.Digest()
	require.NoError(t, err)
	assert.Equal(t, digest, got)
	dirs, err := imgs.Unpack(t.Context(), digest)
	require.NoError(t, err)
	assert.Len(t, dirs, 2)

	// The tag moves; UpdateFunctionCode pulls it again and re-pins.
	img2, err := random.Image(1024, 1)
	require.NoError(t, err)
	digest2 := reg.push(t, "team/app:v1", img2)
	f2, err := svc.UpdateFunctionCode(t.Context(), "img", control.UpdateCodeInput{ImageURI: uri, Publish: true})
	require.NoError(t, err)
	assert.Equal(t, "1", f2.Version)
	assert.Equal(t, digest2.String(), f2.ImageDigest)
	assert.Equal(t, reg.host+"/team/app@"+digest2.String(), f2.ResolvedImageURI)
	assert.Equal(t, uri, f2.ImageURI)

	// A published version keeps what it was published with.
	v, err := svc.GetFunction(t.Context(), "img", "1")
	require.NoError(t, err)
	assert.Equal(t, f2.ResolvedImageURI, v.ResolvedImageURI)
	assert.Equal(t, kumo.PackageImage, v.PackageType)
}

func TestCreateImageFunction_IndexResolvesToPlatform(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	amd := platformImage(t, "amd64", map[string][]byte{"app": []byte("amd64")})
	arm := platformImage(t, "arm64", map[string][]byte{"app": []byte("arm64")})
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	require.NoError(t, remote.WriteIndex(reg.ref(t, "multi:1"), idx, remote.WithContext(t.Context())))
	armOnly := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	require.NoError(t, remote.WriteIndex(reg.ref(t, "armonly:1"), armOnly, remote.WithContext(t.Context())))
	svc, _ := imageService(t)

	f, err := svc.CreateFunction(t.Context(), imageInput("multi", reg.host+"/multi:1"))
	require.NoError(t, err)
	want, err := amd.Digest()
	require.NoError(t, err)
	assert.Equal(t, want.String(), f.ImageDigest)
	assert.Equal(t, reg.host+"/multi@"+want.String(), f.ResolvedImageURI)

	_, err = svc.CreateFunction(t.Context(), imageInput("armonly", reg.host+"/armonly:1"))
	requireInvalid(t, err, "is not supported")
	require.Contains(t, err.Error(), "linux/amd64")

	// An arm64 image named directly is refused too.
	reg.push(t, "armimage:1", arm)
	_, err = svc.CreateFunction(t.Context(), imageInput("armimage", reg.host+"/armimage:1"))
	requireInvalid(t, err, `architecture "arm64"`)
}

func TestCreateImageFunction_BadSources(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	img, err := random.Image(512, 1)
	require.NoError(t, err)
	reg.push(t, "exists:1", img)
	svc, _ := imageService(t)
	tests := []struct {
		name, uri, msg string
	}{
		{"missing tag", reg.host + "/exists:2", "does not exist. Provide a valid source image."},
		{"missing repo", reg.host + "/nothing:1", "does not exist. Provide a valid source image."},
		{"missing digest", reg.host + "/exists@sha256:" + strings.Repeat("a", 64), "does not exist. Provide a valid source image."},
		{"no registry", "exists:1", "is not valid. Provide a valid source image."},
		{"no tag", reg.host + "/exists", "is not valid. Provide a valid source image."},
		{"garbage", "http://" + reg.host + "/exists:1", "is not valid. Provide a valid source image."},
		{"bad digest", reg.host + "/exists@sha256:xyz", "is not valid. Provide a valid source image."},
		{"unreachable", "127.0.0.1:1/exists:1", "could not be pulled"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateFunction(t.Context(), imageInput("bad"+string(rune('a'+i)), tc.uri))
			requireInvalid(t, err, tc.msg)
		})
	}
}

func TestCreateImageFunction_SizeLimit(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	big, err := random.Image(2<<20, 1) // random bytes: compressed ≈ uncompressed
	require.NoError(t, err)
	reg.push(t, "big:1", big)
	// Zeros compress 1000-fold: the manifest looks small, the contents are not.
	bomb := platformImage(t, "amd64", map[string][]byte{"zeros": make([]byte, 4<<20)})
	reg.push(t, "bomb:1", bomb)
	small := platformImage(t, "amd64", map[string][]byte{"app": []byte("ok")})
	reg.push(t, "small:1", small)
	svc, imgs := imageService(t, control.WithMaxImageBytes(1<<20))

	_, err = svc.CreateFunction(t.Context(), imageInput("big", reg.host+"/big:1"))
	requireInvalid(t, err, "is too large: its compressed layers as its manifest declares them exceed the maximum image size of 1048576 bytes")

	_, err = svc.CreateFunction(t.Context(), imageInput("bomb", reg.host+"/bomb:1"))
	requireInvalid(t, err, "is too large: its uncompressed layers exceed the maximum image size of 1048576 bytes")
	bombDigest, err := bomb.Digest()
	require.NoError(t, err)
	_, err = imgs.Image(t.Context(), bombDigest)
	require.ErrorIs(t, err, kumo.ErrNotFound, "a refused image must not be recorded")

	_, err = svc.CreateFunction(t.Context(), imageInput("small", reg.host+"/small:1"))
	require.NoError(t, err)
}

func TestCreateImageFunction_Validation(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	img := platformImage(t, "amd64", map[string][]byte{"app": []byte("x")})
	reg.push(t, "app:1", img)
	uri := reg.host + "/app:1"
	svc, _ := imageService(t)
	zip := testZip(t, map[string]string{"bootstrap": "x"})
	tests := []struct {
		name string
		in   control.CreateInput
		msg  string
	}{
		{"image with runtime", control.CreateInput{Runtime: "provided.al2023", PackageType: "Image", ImageURI: uri}, "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."},
		{"image with handler", control.CreateInput{Handler: "x", PackageType: "Image", ImageURI: uri}, "Please don't provide Handler or Runtime or Layer"},
		{"image with layers", control.CreateInput{Layers: []string{"arn:aws:lambda:local:000000000000:layer:l:1"}, PackageType: "Image", ImageURI: uri}, "Please don't provide Handler or Runtime or Layer"},
		{"image without uri", control.CreateInput{PackageType: "Image"}, "Please provide ImageUri when the intended function PackageType is Image."},
		{"image with zip", control.CreateInput{PackageType: "Image", ImageURI: uri, ZipFile: zip}, "Please provide ImageUri"},
		{"zip with uri", control.CreateInput{Runtime: "provided.al2023", Handler: "bootstrap", ZipFile: zip, ImageURI: uri}, "Please don't provide ImageUri when the intended function PackageType is Zip."},
		{"zip with image config", control.CreateInput{Runtime: "provided.al2023", Handler: "bootstrap", ZipFile: zip, ImageConfig: &kumo.ImageConfig{Command: []string{"x"}}}, "Please don't provide ImageConfig"},
		{"relative working dir", control.CreateInput{PackageType: "Image", ImageURI: uri, ImageConfig: &kumo.ImageConfig{WorkingDirectory: "task"}}, "must be an absolute path"},
		{"working dir in proc", control.CreateInput{PackageType: "Image", ImageURI: uri, ImageConfig: &kumo.ImageConfig{WorkingDirectory: "/proc/self"}}, "must not be inside /proc"},
		{"long working dir", control.CreateInput{PackageType: "Image", ImageURI: uri, ImageConfig: &kumo.ImageConfig{WorkingDirectory: "/" + strings.Repeat("a", 1000)}}, "Member must have length less than or equal to 1000"},
		{"too many args", control.CreateInput{PackageType: "Image", ImageURI: uri, ImageConfig: &kumo.ImageConfig{Command: make([]string, 1501)}}, "Member must have length less than or equal to 1500"},
		{"nul in entrypoint", control.CreateInput{PackageType: "Image", ImageURI: uri, ImageConfig: &kumo.ImageConfig{EntryPoint: []string{"/a\x00b"}}}, "NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.FunctionName = "v"
			tc.in.Role = role
			_, err := svc.CreateFunction(t.Context(), tc.in)
			requireInvalid(t, err, tc.msg)
		})
	}
	_, err := svc.GetFunction(t.Context(), "v", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestImageFunction_ImageConfigAndUpdates(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	img := platformImage(t, "amd64", map[string][]byte{"app": []byte("x")})
	reg.push(t, "app:1", img)
	uri := reg.host + "/app:1"
	svc, _ := imageService(t)
	ctx := t.Context()

	in := imageInput("cfg", uri)
	in.ImageConfig = &kumo.ImageConfig{EntryPoint: []string{"/app", "-v"}, Command: []string{"h.handler"}, WorkingDirectory: "/srv"}
	f, err := svc.CreateFunction(ctx, in)
	require.NoError(t, err)
	require.Equal(t, in.ImageConfig, f.ImageConfig)

	// ImageConfig is replaced whole; an empty one clears it.
	f, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{ImageConfig: &kumo.ImageConfig{Command: []string{"other"}}, MemorySize: ptr(256)})
	require.NoError(t, err)
	assert.Equal(t, &kumo.ImageConfig{Command: []string{"other"}}, f.ImageConfig)
	assert.Equal(t, 256, f.MemorySize)
	f, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{Description: ptr("kept")})
	require.NoError(t, err)
	assert.Equal(t, &kumo.ImageConfig{Command: []string{"other"}}, f.ImageConfig, "no ImageConfig leaves it")
	f, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{ImageConfig: &kumo.ImageConfig{}})
	require.NoError(t, err)
	assert.Nil(t, f.ImageConfig)

	_, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{Handler: ptr("x")})
	requireInvalid(t, err, "Please don't provide Handler or Runtime or Layer")
	_, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{Runtime: ptr("provided.al2023")})
	requireInvalid(t, err, "Please don't provide Handler or Runtime or Layer")
	_, err = svc.UpdateFunctionConfiguration(ctx, "cfg", control.ConfigInput{ImageConfig: &kumo.ImageConfig{WorkingDirectory: "rel"}})
	requireInvalid(t, err, "absolute path")

	zip := testZip(t, map[string]string{"bootstrap": "x"})
	_, err = svc.UpdateFunctionCode(ctx, "cfg", control.UpdateCodeInput{ZipFile: zip})
	requireInvalid(t, err, "Please provide ImageUri when updating a function with packageType Image.")

	// And the other way round.
	_, err = svc.CreateFunction(ctx, createInput("zipfn", zip))
	require.NoError(t, err)
	_, err = svc.UpdateFunctionCode(ctx, "zipfn", control.UpdateCodeInput{ImageURI: uri})
	requireInvalid(t, err, "Please don't provide ImageUri when updating a function with packageType Zip.")
	_, err = svc.UpdateFunctionConfiguration(ctx, "zipfn", control.ConfigInput{ImageConfig: &kumo.ImageConfig{Command: []string{"x"}}})
	requireInvalid(t, err, "Please don't provide ImageConfig")
}

// The Docker config file supplies credentials for a private registry, as
// it does for docker and crane.
func TestCreateImageFunction_DockerConfigCredentials(t *testing.T) {
	reg := newTestRegistry(t, "alice", "s3cret")
	img := platformImage(t, "amd64", map[string][]byte{"app": []byte("private")})
	reg.push(t, "private/app:1", img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"}))
	svc, _ := imageService(t) // its keychain is authn.DefaultKeychain

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := svc.CreateFunction(t.Context(), imageInput("noauth", reg.host+"/private/app:1"))
	requireInvalid(t, err, "does not have permission to access the source image")

	writeDockerConfig(t, os.Getenv("DOCKER_CONFIG"), reg.host, "alice", "s3cret")
	f, err := svc.CreateFunction(t.Context(), imageInput("auth", reg.host+"/private/app:1"))
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, want.String(), f.ImageDigest)
}

func writeDockerConfig(t *testing.T, dir, host, user, pass string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
}

// An ImageUri naming the host's own registry resolves from its store: no
// registry answers at that address.
func TestCreateImageFunction_LocalRegistry(t *testing.T) {
	t.Parallel()
	const self = "127.0.0.1:1"
	svc, imgs := imageServiceFor(t, func(imgs *image.Store) []control.Option {
		return []control.Option{control.WithLocalImages(func(r string) bool { return r == self }, imgs)}
	})
	img := platformImage(t, "amd64", map[string][]byte{"app": []byte("local")})
	digest, err := imgs.Write(t.Context(), img)
	require.NoError(t, err)
	raw, err := img.RawManifest()
	require.NoError(t, err)
	require.NoError(t, imgs.Tag(t.Context(), "mine/app", "v1", v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: digest, Size: int64(len(raw))}))

	f, err := svc.CreateFunction(t.Context(), imageInput("local", self+"/mine/app:v1"))
	require.NoError(t, err)
	assert.Equal(t, digest.String(), f.ImageDigest)
	assert.Equal(t, self+"/mine/app@"+digest.String(), f.ResolvedImageURI)

	f, err = svc.CreateFunction(t.Context(), imageInput("bydigest", self+"/mine/app@"+digest.String()))
	require.NoError(t, err)
	assert.Equal(t, digest.String(), f.ImageDigest)

	_, err = svc.CreateFunction(t.Context(), imageInput("nope", self+"/mine/app:v2"))
	requireInvalid(t, err, "does not exist")
}

// With --registry every function image the host writes is pushed, tagged
// latest for $LATEST and with the number of each published version.
func TestMirror_PushesFunctionImages(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, "", "")
	src := platformImage(t, "amd64", map[string][]byte{"app": []byte("x")})
	reg.push(t, "src:1", src)
	svc, _ := imageServiceFor(t, func(imgs *image.Store) []control.Option {
		rem, err := image.NewRemote()
		require.NoError(t, err)
		m, err := image.NewMirror(reg.host, imgs, rem)
		require.NoError(t, err)
		return []control.Option{control.WithMirror(m)}
	})
	ctx := t.Context()
	tagged := func(repoTag string) string {
		d, err := remote.Head(reg.ref(t, repoTag), remote.WithContext(ctx))
		require.NoError(t, err, repoTag)
		return d.Digest.String()
	}

	zf, err := svc.CreateFunction(ctx, createInput("zipfn", testZip(t, map[string]string{"bootstrap": "v1"})))
	require.NoError(t, err)
	assert.Equal(t, zf.ImageDigest, tagged("kumo/functions/zipfn:latest"))
	v1f, err := svc.PublishVersion(ctx, "zipfn", "", "", "")
	require.NoError(t, err)
	zf2, err := svc.UpdateFunctionCode(ctx, "zipfn", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": "v2"})})
	require.NoError(t, err)
	require.NotEqual(t, zf.ImageDigest, zf2.ImageDigest)
	assert.Equal(t, zf2.ImageDigest, tagged("kumo/functions/zipfn:latest"))
	assert.Equal(t, v1f.ImageDigest, tagged("kumo/functions/zipfn:1"))

	// Pulled images too; a name a repository cannot hold is hashed.
	imf, err := svc.CreateFunction(ctx, imageInput("Image_Fn", reg.host+"/src:1"))
	require.NoError(t, err)
	found := false
	cat, err := remote.Catalog(ctx, mustRegistry(t, reg.host))
	require.NoError(t, err)
	for _, r := range cat {
		if strings.HasPrefix(r, "kumo/functions/fn-") {
			found = true
			assert.Equal(t, imf.ImageDigest, tagged(r+":latest"))
		}
	}
	assert.True(t, found, "no hashed repository for Image_Fn in %v", cat)
}

func mustRegistry(t *testing.T, host string) name.Registry {
	t.Helper()
	r, err := name.NewRegistry(host)
	require.NoError(t, err)
	return r
}
