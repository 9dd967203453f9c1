package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Container images built in the test with go-containerregistry.

var (
	imagefnOnce sync.Once
	imagefnBin  []byte
	imagefnErr  error
)

// imagefn builds testdata/imagefn once: a function binary that, like the
// entrypoint of AWS's base images, runs the runtime client only under
// AWS_LAMBDA_RUNTIME_API.
func imagefn(t *testing.T) []byte {
	t.Helper()
	a := artifacts(t)
	imagefnOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			imagefnErr = err
			return
		}
		out := filepath.Join(a.dir, "bin", "imagefn")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./e2e/testdata/imagefn")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			imagefnErr = fmt.Errorf("build imagefn: %w\n%s", err, b)
			return
		}
		imagefnBin, imagefnErr = os.ReadFile(out)
	})
	require.NoError(t, imagefnErr)
	return imagefnBin
}

// tarEntry is one member of a test layer.
type tarEntry struct {
	name string
	typ  byte
	mode int64
	body []byte
	link string
}

func layerOf(t *testing.T, entries ...tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mode := e.mode
		if mode == 0 {
			mode = 0o644
			if typ == tar.TypeDir {
				mode = 0o755
			}
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if typ == tar.TypeChar {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		require.NoError(t, tw.WriteHeader(hdr))
		if typ == tar.TypeReg {
			_, err := tw.Write(e.body)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	raw := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	require.NoError(t, err)
	return l
}

// entrypointLayer holds the function binary as /lambda-entrypoint, a hard
// link to it as /bin/alt-entry, and a /srv directory.
func entrypointLayer(t *testing.T) v1.Layer {
	return layerOf(t,
		tarEntry{name: "lambda-entrypoint", mode: 0o755, body: imagefn(t)},
		tarEntry{name: "bin/", typ: tar.TypeDir},
		tarEntry{name: "bin/alt-entry", typ: tar.TypeLink, link: "lambda-entrypoint"},
		tarEntry{name: "srv/", typ: tar.TypeDir},
		tarEntry{name: "var/task/hello.txt", body: []byte("hello from the image")},
	)
}

// baseStyleConfig is what an image built on one of AWS's base images looks
// like: an entrypoint that starts the runtime client, the handler as CMD.
func baseStyleConfig(cmd ...string) v1.Config {
	return v1.Config{
		Entrypoint: []string{"/lambda-entrypoint"},
		Cmd:        cmd,
		Env:        []string{"IMAGE_VAR=from-image", "PATH=/usr/local/bin:/usr/bin:/bin"},
		WorkingDir: "/var/task",
	}
}

func buildImage(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// extRegistry is an OCI registry outside kumo: go-containerregistry's,
// served by the test, with HTTP Basic authentication when user is set.
type extRegistry struct {
	host       string
	user, pass string
}

func newExtRegistry(t *testing.T, user, pass string) *extRegistry {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="e2e"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &extRegistry{host: strings.TrimPrefix(srv.URL, "http://"), user: user, pass: pass}
}

// push writes img as repoTag and returns its ImageUri and digest.
func (r *extRegistry) push(t *testing.T, repoTag string, img v1.Image) (string, v1.Hash) {
	t.Helper()
	uri := r.host + "/" + repoTag
	ref, err := name.ParseReference(uri)
	require.NoError(t, err)
	opts := []remote.Option{remote.WithContext(t.Context())}
	if r.user != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.user, Password: r.pass}))
	}
	require.NoError(t, remote.Write(ref, img, opts...))
	d, err := img.Digest()
	require.NoError(t, err)
	return uri, d
}

// dockerConfig writes a Docker config file holding credentials for host
// and returns its directory (what DOCKER_CONFIG names).
func dockerConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600))
	return dir
}

// imageFnConfig is the part of the CLI's FunctionConfiguration output
// these tests read.
type imageFnConfig struct {
	FunctionName, PackageType, CodeSha256, Version string
	Runtime, Handler                               *string
	CodeSize                                       int64
	ImageConfigResponse                            *struct {
		ImageConfig struct {
			EntryPoint, Command []string
			WorkingDirectory    string
		}
	}
}

// createImageFn creates an Image function with the aws CLI and deletes it
// at cleanup.
func (h *host) createImageFn(t *testing.T, prefix, uri string, args ...string) (string, imageFnConfig) {
	t.Helper()
	fn := uniqueName(prefix)
	var out imageFnConfig
	h.awsJSON(t, &out, append([]string{"create-function", "--function-name", fn, "--package-type", "Image",
		"--code", "ImageUri=" + uri, "--role", testRole}, args...)...)
	h.deleteAtCleanup(t, fn)
	return fn, out
}

// echo invokes imagefn's echo mode.
func (h *host) imageEcho(t *testing.T, fn string) imageEcho {
	t.Helper()
	out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"mode":"echo"}`)})
	require.NoError(t, err)
	require.Nil(t, out.FunctionError, "%s", out.Payload)
	var e imageEcho
	require.NoError(t, json.Unmarshal(out.Payload, &e), "%s", out.Payload)
	return e
}

type imageEcho struct {
	Args []string          `json:"args"`
	Cwd  string            `json:"cwd"`
	Env  map[string]string `json:"env"`
	UID  int               `json:"uid"`
}

func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// ---------------------------------------------------------------------------

// An image from a private registry outside kumo, with the credentials in
// the Docker config file of the server, created with the aws CLI.
func TestRootImage_ExternalRegistryWithAuth(t *testing.T) {
	reg := newExtRegistry(t, "kumo-e2e", randomSecret(t))
	img := buildImage(t, baseStyleConfig("handler.name"), entrypointLayer(t))
	uri, digest := reg.push(t, "team/imagefn:v1", img)

	// A host without the credentials is refused by the registry.
	shared := sharedHost(t)
	r := shared.aws(t, "create-function", "--function-name", uniqueName("img-noauth"), "--package-type", "Image",
		"--code", "ImageUri="+uri, "--role", testRole)
	requireCLIError(t, r, "InvalidParameterValueException")
	require.Contains(t, r.stderr, "does not have permission to access the source image "+uri)

	h := newHostEnv(t, newDataDir(t), []string{"DOCKER_CONFIG=" + dockerConfig(t, reg.host, reg.user, reg.pass)})
	fn, created := h.createImageFn(t, "img-auth", uri)
	assert.Equal(t, "Image", created.PackageType)
	assert.Nil(t, created.Runtime)
	assert.Nil(t, created.Handler)
	assert.Equal(t, digest.Hex, created.CodeSha256)
	assert.Zero(t, created.CodeSize)
	assert.Nil(t, created.ImageConfigResponse)

	e := h.imageEcho(t, fn)
	assert.Equal(t, []string{"/lambda-entrypoint", "handler.name"}, e.Args)
	assert.Equal(t, "handler.name", e.Env["_HANDLER"])
	assert.Equal(t, "/var/task", e.Cwd)
	assert.Equal(t, "from-image", e.Env["IMAGE_VAR"])
	assert.Equal(t, "/usr/local/bin:/usr/bin:/bin", e.Env["PATH"], "the image's own ENV")
	assert.NotContains(t, e.Env, "AWS_EXECUTION_ENV", "an image names no runtime")
	assert.Equal(t, 993, e.UID)
	assert.Equal(t, fn, e.Env["AWS_LAMBDA_FUNCTION_NAME"])

	var got struct {
		Code          map[string]string
		Configuration map[string]any
	}
	h.awsJSON(t, &got, "get-function", "--function-name", fn)
	assert.Equal(t, map[string]string{
		"RepositoryType":   "ECR",
		"ImageUri":         uri,
		"ResolvedImageUri": reg.host + "/team/imagefn@" + digest.String(),
	}, got.Code)
	assert.Equal(t, "Image", got.Configuration["PackageType"])
	assert.NotContains(t, got.Configuration, "Runtime")
	assert.NotContains(t, got.Configuration, "Handler")

	// The pin holds: moving the tag changes nothing until the code is
	// updated, and then the new image runs.
	img2 := buildImage(t, baseStyleConfig("second.handler"), entrypointLayer(t))
	_, digest2 := reg.push(t, "team/imagefn:v1", img2)
	assert.Equal(t, "handler.name", h.imageEcho(t, fn).Env["_HANDLER"])
	var updated imageFnConfig
	h.awsJSON(t, &updated, "update-function-code", "--function-name", fn, "--image-uri", uri, "--publish")
	assert.Equal(t, digest2.Hex, updated.CodeSha256)
	assert.Equal(t, "1", updated.Version)
	assert.Equal(t, "second.handler", h.imageEcho(t, fn).Env["_HANDLER"])
	assert.Equal(t, "second.handler", h.imageEcho(t, fn+":1").Env["_HANDLER"])
}

// An image built the way AWS's base images are: an entrypoint that starts
// the runtime client only inside Lambda, and the handler as CMD. Created
// and updated with aws-sdk-go-v2.
func TestRootImage_BaseImageStyleEntrypoint(t *testing.T) {
	h := sharedHost(t)
	reg := newExtRegistry(t, "", "")
	img := buildImage(t, baseStyleConfig("--extra", "app.handler"), entrypointLayer(t))
	uri, digest := reg.push(t, "base-style:1", img)

	// Outside Lambda the entrypoint refuses to start the runtime client.
	bin := filepath.Join(t.TempDir(), "lambda-entrypoint")
	require.NoError(t, os.WriteFile(bin, imagefn(t), 0o755))
	outside := exec.Command(bin)
	outside.Env = []string{"PATH=/usr/bin:/bin"}
	msg, err := outside.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, string(msg), "AWS_LAMBDA_RUNTIME_API is not set")

	fn := uniqueName("img-base")
	created, err := h.lambda.CreateFunction(t.Context(), &lambda.CreateFunctionInput{
		FunctionName: aws.String(fn),
		Role:         aws.String(testRole),
		PackageType:  types.PackageTypeImage,
		Code:         &types.FunctionCode{ImageUri: aws.String(uri)},
		Environment:  &types.Environment{Variables: map[string]string{"FN_VAR": "from-function", "IMAGE_VAR": "overridden"}},
	})
	require.NoError(t, err)
	h.deleteAtCleanup(t, fn)
	assert.Equal(t, types.PackageTypeImage, created.PackageType)
	assert.Empty(t, created.Runtime)

	e := h.imageEcho(t, fn)
	assert.Equal(t, []string{"/lambda-entrypoint", "--extra", "app.handler"}, e.Args)
	assert.Equal(t, "app.handler", e.Env["_HANDLER"], "CMD's last word is the handler")
	assert.Equal(t, "from-function", e.Env["FN_VAR"])
	assert.Equal(t, "overridden", e.Env["IMAGE_VAR"], "the function's variables win over the image's")
	assert.Equal(t, "/var/task", e.Env["LAMBDA_TASK_ROOT"])

	out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: []byte(`{"mode":"readfile","path":"/var/task/hello.txt"}`)})
	require.NoError(t, err)
	assert.JSONEq(t, `{"content":"hello from the image","error":"ok"}`, string(out.Payload))

	got, err := h.lambda.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(fn)})
	require.NoError(t, err)
	assert.Equal(t, "ECR", aws.ToString(got.Code.RepositoryType))
	assert.Equal(t, uri, aws.ToString(got.Code.ImageUri))
	assert.Equal(t, reg.host+"/base-style@"+digest.String(), aws.ToString(got.Code.ResolvedImageUri))

	// A zip cannot replace an image.
	_, err = h.lambda.UpdateFunctionCode(t.Context(), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(fn), ZipFile: artifacts(t).fnZip})
	require.ErrorContains(t, err, "Please provide ImageUri when updating a function with packageType Image.")
}

// ImageConfig replaces ENTRYPOINT, CMD and WORKDIR; set at create and
// changed with update-function-configuration.
func TestRootImage_ImageConfigOverrides(t *testing.T) {
	h := sharedHost(t)
	reg := newExtRegistry(t, "", "")
	uri, _ := reg.push(t, "overrides:1", buildImage(t, baseStyleConfig("image.handler"), entrypointLayer(t)))

	fn, created := h.createImageFn(t, "img-cfg", uri, "--image-config", `{"Command":["created.handler"]}`)
	require.NotNil(t, created.ImageConfigResponse)
	assert.Equal(t, []string{"created.handler"}, created.ImageConfigResponse.ImageConfig.Command)
	e := h.imageEcho(t, fn)
	assert.Equal(t, []string{"/lambda-entrypoint", "created.handler"}, e.Args)

	var updated imageFnConfig
	h.awsJSON(t, &updated, "update-function-configuration", "--function-name", fn, "--image-config",
		`{"EntryPoint":["/bin/alt-entry","--flag"],"Command":["extra","other.handler"],"WorkingDirectory":"/srv"}`)
	require.NotNil(t, updated.ImageConfigResponse)
	assert.Equal(t, []string{"/bin/alt-entry", "--flag"}, updated.ImageConfigResponse.ImageConfig.EntryPoint)
	assert.Equal(t, "/srv", updated.ImageConfigResponse.ImageConfig.WorkingDirectory)
	e = h.imageEcho(t, fn)
	assert.Equal(t, []string{"/bin/alt-entry", "--flag", "extra", "other.handler"}, e.Args)
	assert.Equal(t, "/srv", e.Cwd)
	assert.Equal(t, "other.handler", e.Env["_HANDLER"])

	var cfg imageFnConfig
	h.awsJSON(t, &cfg, "get-function-configuration", "--function-name", fn)
	require.NotNil(t, cfg.ImageConfigResponse)
	assert.Equal(t, []string{"extra", "other.handler"}, cfg.ImageConfigResponse.ImageConfig.Command)

	// Overrides the image cannot honour fail the way Lambda fails them.
	for _, bad := range []struct{ config, msg string }{
		{`{"EntryPoint":["/no/such/entrypoint"]}`, "fork/exec /no/such/entrypoint: no such file or directory"},
		{`{"WorkingDirectory":"/no/such/dir"}`, "chdir /no/such/dir: no such file or directory"},
		{`{"EntryPoint":["/var/task/hello.txt"]}`, "permission denied"},
	} {
		h.awsJSON(t, nil, "update-function-configuration", "--function-name", fn, "--image-config", bad.config)
		out, body := h.invoke(t, fn, map[string]any{"mode": "echo"})
		require.Equal(t, "Unhandled", aws.ToString(out.FunctionError), "%s: %v", bad.config, body)
		assert.Equal(t, "Runtime.InvalidEntrypoint", body["errorType"], bad.config)
		assert.Contains(t, body["errorMessage"], bad.msg, bad.config)
	}

	// An empty ImageConfig goes back to the image's own settings.
	var cleared imageFnConfig
	h.awsJSON(t, &cleared, "update-function-configuration", "--function-name", fn, "--image-config", `{}`)
	assert.Nil(t, cleared.ImageConfigResponse)
	e = h.imageEcho(t, fn)
	assert.Equal(t, []string{"/lambda-entrypoint", "image.handler"}, e.Args)
	assert.Equal(t, "/var/task", e.Cwd)

	// Runtime settings belong to zip functions.
	r := h.aws(t, "update-function-configuration", "--function-name", fn, "--handler", "x")
	requireCLIError(t, r, "InvalidParameterValueException")
	require.Contains(t, r.stderr, "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.")
	r = h.aws(t, "create-function", "--function-name", uniqueName("img-rt"), "--package-type", "Image",
		"--code", "ImageUri="+uri, "--role", testRole, "--runtime", "provided.al2023")
	requireCLIError(t, r, "InvalidParameterValueException")
	require.Contains(t, r.stderr, "Please don't provide Handler or Runtime or Layer")
	r = h.aws(t, "create-function", "--function-name", uniqueName("img-bad"), "--package-type", "Image",
		"--code", "ImageUri="+reg.host+"/overrides:nope", "--role", testRole)
	requireCLIError(t, r, "InvalidParameterValueException")
	require.Contains(t, r.stderr, "Source image "+reg.host+"/overrides:nope does not exist. Provide a valid source image.")
}

// Hostile layers: what unpacking would refuse is refused when the function
// is created; what it neutralises is harmless inside the function.
func TestRootImage_HostileLayers(t *testing.T) {
	h := sharedHost(t)
	reg := newExtRegistry(t, "", "")
	cfg := baseStyleConfig("h.handler")
	marker := "kumo-e2e-escape-" + randomSecret(t)

	for _, tc := range []struct {
		name  string
		layer v1.Layer
		msg   string
	}{
		{"traversal", layerOf(t, tarEntry{name: "var/task/../../../../tmp/" + marker, body: []byte("x")}), "name contains \"..\""},
		{"hard link out", layerOf(t, tarEntry{name: "var/task/passwd", typ: tar.TypeLink, link: "../../../../etc/passwd"}), "hard link target"},
		{"hard link to host file", layerOf(t, tarEntry{name: "var/task/shadow", typ: tar.TypeLink, link: "/etc/shadow"}), "not a regular file earlier in the layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			uri, _ := reg.push(t, "hostile:"+strings.ReplaceAll(tc.name, " ", "-"), buildImage(t, cfg, entrypointLayer(t), tc.layer))
			r := h.aws(t, "create-function", "--function-name", uniqueName("img-evil"), "--package-type", "Image",
				"--code", "ImageUri="+uri, "--role", testRole)
			requireCLIError(t, r, "InvalidParameterValueException")
			require.Contains(t, r.stderr, "The image manifest, config or layer media type for the source image "+uri+" is not supported.")
			require.Contains(t, r.stderr, tc.msg)
		})
	}
	requireNowhere(t, marker, h.dataDir, "/tmp")

	neutralised := layerOf(t,
		tarEntry{name: "var/task/shadow", typ: tar.TypeSymlink, link: "/etc/shadow"},
		tarEntry{name: "var/task/suid", mode: 0o4755, body: []byte("#!/bin/sh\n")},
		tarEntry{name: "var/task/sgid", mode: 0o2755, body: []byte("#!/bin/sh\n")},
		tarEntry{name: "var/task/suid-link", typ: tar.TypeLink, link: "var/task/suid"},
		tarEntry{name: "var/task/null", typ: tar.TypeChar, mode: 0o666},
		tarEntry{name: "/abs/name.txt", body: []byte("absolute names land inside the image")},
	)
	uri, _ := reg.push(t, "hostile:neutralised", buildImage(t, cfg, entrypointLayer(t), neutralised))
	fn, _ := h.createImageFn(t, "img-neutral", uri)
	call := func(mode, path string) map[string]any {
		out, body := h.invoke(t, fn, map[string]any{"mode": mode, "path": path})
		require.Nil(t, out.FunctionError, "%v", body)
		return body
	}
	shadow := call("readfile", "/var/task/shadow")
	assert.Contains(t, shadow["error"], "no such file or directory", "the symlink resolves inside the sandbox, where there is no /etc/shadow")
	assert.Empty(t, shadow["content"])
	for _, p := range []string{"/var/task/suid", "/var/task/suid-link"} {
		st := call("lstat", p)
		assert.Equal(t, "ok", st["error"], p)
		assert.Equal(t, false, st["setuid"], p)
		assert.Equal(t, "-rwxr-xr-x", st["mode"], p)
	}
	assert.Equal(t, "-rwxr-xr-x", call("lstat", "/var/task/sgid")["mode"])
	assert.Contains(t, call("lstat", "/var/task/null")["error"], "no such file or directory", "device nodes are not created")
	assert.Equal(t, "absolute names land inside the image", call("readfile", "/abs/name.txt")["content"])
	h.canary(t)
}

// An image over the host's --max-image-bytes is refused at create, whether
// its manifest says so or only its contents do.
func TestRootImage_SizeLimit(t *testing.T) {
	reg := newExtRegistry(t, "", "")
	const limit = 24 << 20
	h := newHost(t, newDataDir(t), "--max-image-bytes", fmt.Sprint(limit))
	cfg := baseStyleConfig("size.handler")

	random := make([]byte, 26<<20)
	_, err := rand.Read(random)
	require.NoError(t, err)
	bigURI, _ := reg.push(t, "size:declared", buildImage(t, cfg, entrypointLayer(t), layerOf(t, tarEntry{name: "blob", body: random})))
	bombURI, _ := reg.push(t, "size:bomb", buildImage(t, cfg, entrypointLayer(t), layerOf(t, tarEntry{name: "zeros", body: make([]byte, 64<<20)})))
	okURI, _ := reg.push(t, "size:ok", buildImage(t, cfg, entrypointLayer(t)))

	for _, tc := range []struct{ uri, msg string }{
		{bigURI, "its compressed layers as its manifest declares them exceed the maximum image size of 25165824 bytes"},
		{bombURI, "its uncompressed layers exceed the maximum image size of 25165824 bytes"},
	} {
		r := h.aws(t, "create-function", "--function-name", uniqueName("img-big"), "--package-type", "Image",
			"--code", "ImageUri="+tc.uri, "--role", testRole)
		requireCLIError(t, r, "InvalidParameterValueException")
		require.Contains(t, r.stderr, "Source image "+tc.uri+" is too large: "+tc.msg)
	}
	fn, _ := h.createImageFn(t, "img-small", okURI)
	assert.Equal(t, "size.handler", h.imageEcho(t, fn).Env["_HANDLER"])
}

// With --registry the host pushes every function image it writes to the
// external registry, and runs functions whose images it no longer has by
// pulling them back from there.
func TestRootImage_RegistryMirror(t *testing.T) {
	reg := newExtRegistry(t, "mirror", randomSecret(t))
	env := []string{"DOCKER_CONFIG=" + dockerConfig(t, reg.host, reg.user, reg.pass)}
	dir := newDataDir(t)
	h := newHostEnv(t, dir, env, "--registry", reg.host+"/cluster")
	auth := remote.WithAuth(&authn.Basic{Username: reg.user, Password: reg.pass})
	head := func(ref string) string {
		r, err := name.ParseReference(reg.host + "/cluster/kumo/functions/" + ref)
		require.NoError(t, err)
		d, err := remote.Head(r, auth, remote.WithContext(t.Context()))
		require.NoError(t, err, ref)
		return d.Digest.String()
	}

	zipFn := h.createFn(t, "mirror-zip", artifacts(t).fnZip)
	zipImage := head(zipFn + ":latest")
	_, err := h.lambda.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String(zipFn)})
	require.NoError(t, err)
	assert.Equal(t, zipImage, head(zipFn+":1"))

	uri, digest := reg.push(t, "src/imagefn:1", buildImage(t, baseStyleConfig("mirror.handler"), entrypointLayer(t)))
	imgFn, _ := h.createImageFn(t, "mirror-img", uri)
	assert.Equal(t, digest.String(), head(imgFn+":latest"))

	// Restart without any image: every function still runs.
	require.NoError(t, h.stop())
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "images")))
	h2 := newHostEnv(t, dir, env, "--registry", reg.host+"/cluster")
	out, body := h2.invoke(t, zipFn, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError, "%v", body)
	assert.Equal(t, "mirror.handler", h2.imageEcho(t, imgFn).Env["_HANDLER"])
	h2.deleteAtCleanup(t, zipFn)
	h2.deleteAtCleanup(t, imgFn)
}

// An image pushed to the host's own registry (/v2/, the host's key pair as
// Basic credentials) runs by an ImageUri naming the host. The host reads
// it from its store: it has no credentials for its own registry, so a pull
// over HTTP would be refused.
func TestRootImage_HostRegistry(t *testing.T) {
	h := sharedHost(t)
	img := buildImage(t, baseStyleConfig("own.handler"), entrypointLayer(t))
	digest, err := img.Digest()
	require.NoError(t, err)
	repo := "fns/" + uniqueName("imagefn")
	require.NoError(t, remote.Write(h.registryRef(t, repo+":v1"), img, h.registryAuth(), remote.WithContext(t.Context())))
	self := strings.TrimPrefix(h.endpoint, "http://")

	fn, created := h.createImageFn(t, "img-own", self+"/"+repo+":v1")
	assert.Equal(t, digest.Hex, created.CodeSha256)
	assert.Equal(t, "own.handler", h.imageEcho(t, fn).Env["_HANDLER"])
	got, err := h.lambda.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(fn)})
	require.NoError(t, err)
	assert.Equal(t, self+"/"+repo+"@"+digest.String(), aws.ToString(got.Code.ResolvedImageUri))

	byDigest, _ := h.createImageFn(t, "img-own-digest", self+"/"+repo+"@"+digest.String())
	assert.Equal(t, "own.handler", h.imageEcho(t, byDigest).Env["_HANDLER"])

	// A multi-platform index runs its linux/amd64 image.
	amd := buildImage(t, baseStyleConfig("amd64.handler"), entrypointLayer(t))
	arm := buildImage(t, baseStyleConfig("arm64.handler"), entrypointLayer(t))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	require.NoError(t, remote.WriteIndex(h.registryRef(t, repo+":multi"), idx, h.registryAuth(), remote.WithContext(t.Context())))
	multi, _ := h.createImageFn(t, "img-own-multi", self+"/"+repo+":multi")
	assert.Equal(t, "amd64.handler", h.imageEcho(t, multi).Env["_HANDLER"])

	r := h.aws(t, "create-function", "--function-name", uniqueName("img-own-missing"), "--package-type", "Image",
		"--code", "ImageUri="+self+"/"+repo+":v2", "--role", testRole)
	requireCLIError(t, r, "InvalidParameterValueException")
	require.Contains(t, r.stderr, "Source image "+self+"/"+repo+":v2 does not exist. Provide a valid source image.")
}

// An image built the way AWS's base images are used: FROM the host's own
// python3.11 runtime image (pulled from its /v2/, where `kumo runtime`
// stores it), plus the app, with the handler as CMD. The base image's
// entrypoint starts kumo's Python runtime client unmodified.
func TestRootImage_FromManagedRuntimeBase(t *testing.T) {
	h := sharedHost(t)
	_, stderr, rc := h.kumo(t, "runtime", "build", "python3.11")
	require.Equal(t, 0, rc, "stderr: %s", stderr)
	base, err := remote.Image(h.registryRef(t, "kumo/runtimes/python3.11:latest"), h.registryAuth(), remote.WithContext(t.Context()))
	require.NoError(t, err)
	baseCfg, err := base.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, []string{"/usr/bin/python3.11", "/var/runtime/bootstrap.py"}, baseCfg.Config.Entrypoint)

	app := layerOf(t, tarEntry{name: "var/task/app.py", body: []byte(`import os, sys

def handler(event, context):
    return {"event": event, "function": context.function_name,
            "handler": os.environ["_HANDLER"], "python": sys.version.split()[0]}
`)})
	img, err := mutate.AppendLayers(base, app)
	require.NoError(t, err)
	cfg := baseCfg.Config.DeepCopy()
	cfg.Cmd = []string{"app.handler"}
	img, err = mutate.Config(img, *cfg)
	require.NoError(t, err)
	repo := "apps/" + uniqueName("py")
	require.NoError(t, remote.Write(h.registryRef(t, repo+":v1"), img, h.registryAuth(), remote.WithContext(t.Context())))

	fn, _ := h.createImageFn(t, "img-py", strings.TrimPrefix(h.endpoint, "http://")+"/"+repo+":v1")
	out, body := h.invoke(t, fn, map[string]any{"k": "v"})
	require.Nil(t, out.FunctionError, "%v", body)
	assert.Equal(t, map[string]any{"k": "v"}, body["event"])
	assert.Equal(t, fn, body["function"])
	assert.Equal(t, "app.handler", body["handler"])
	assert.True(t, strings.HasPrefix(body["python"].(string), "3.11."), "%v", body["python"])
}
