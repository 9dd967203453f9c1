package control_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

var scope = kumo.Scope{Region: "local", Account: "000000000000"}

const role = "arn:aws:iam::000000000000:role/lambda"

// newService wires the service to a real embedded engine and a real image
// store in a temp dir; nothing is faked.
func newService(t *testing.T) (*control.Service, *[]string) { return newServiceB(t) }

func newServiceB(t testing.TB) (*control.Service, *[]string) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	var changes []string
	svc := control.New(st, imgs, scope, control.WithChangeHook(func(name string, f *kumo.Function) {
		if f == nil {
			changes = append(changes, "delete:"+name)
			return
		}
		changes = append(changes, "put:"+name+":"+f.RevisionID)
	}))
	return svc, &changes
}

func testZip(t *testing.T, files map[string]string) []byte { return testZipB(t, files) }

func testZipB(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		require.NoError(t, err)
		_, err = w.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func createInput(name string, zip []byte) control.CreateInput {
	return control.CreateInput{FunctionName: name, Runtime: "provided.al2023", Role: role, Handler: "bootstrap", ZipFile: zip}
}

func ptr[T any](v T) *T { return &v }

func TestCreateFunction_Defaults(t *testing.T) {
	t.Parallel()
	svc, changes := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})
	f, err := svc.CreateFunction(t.Context(), createInput("hello", code))
	require.NoError(t, err)
	sum := sha256.Sum256(code)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), f.CodeSha256)
	assert.Equal(t, int64(len(code)), f.CodeSize)
	assert.Equal(t, 128, f.MemorySize)
	assert.Equal(t, 3, f.Timeout)
	assert.Equal(t, 512, f.EphemeralStorage)
	assert.Equal(t, []string{"x86_64"}, f.Architectures)
	assert.Equal(t, "Zip", f.PackageType)
	assert.Equal(t, "PassThrough", f.TracingMode)
	assert.Equal(t, kumo.StateActive, f.State)
	assert.Equal(t, kumo.UpdateSuccess, f.LastUpdateStatus)
	assert.NotEmpty(t, f.RevisionID)
	assert.True(t, strings.HasPrefix(f.ImageDigest, "sha256:"))
	assert.Equal(t, []string{"put:hello:" + f.RevisionID}, *changes)

	got, err := svc.GetFunction(t.Context(), "arn:aws:lambda:local:000000000000:function:hello", "")
	require.NoError(t, err)
	assert.Equal(t, f.RevisionID, got.RevisionID)

	_, err = svc.CreateFunction(t.Context(), createInput("hello", code))
	require.ErrorIs(t, err, kumo.ErrConflict)
}

func TestCreateFunction_SameCodeSameImage(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "x"})
	a, err := svc.CreateFunction(t.Context(), createInput("a", code))
	require.NoError(t, err)
	b, err := svc.CreateFunction(t.Context(), createInput("b", code))
	require.NoError(t, err)
	assert.Equal(t, a.ImageDigest, b.ImageDigest, "identical code must give an identical image")
}

func TestCreateFunction_Invalid(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "x"})
	tests := []struct {
		name   string
		mutate func(*control.CreateInput)
		kind   error
		msg    string
	}{
		{"bad name", func(in *control.CreateInput) { in.FunctionName = "bad name!" }, kumo.ErrInvalidParameter, "functionName"},
		{"name too long", func(in *control.CreateInput) { in.FunctionName = strings.Repeat("a", 65) }, kumo.ErrInvalidParameter, "functionName"},
		{"qualified name", func(in *control.CreateInput) { in.FunctionName = "fn:1" }, kumo.ErrInvalidParameter, "qualifier"},
		{"foreign account", func(in *control.CreateInput) {
			in.FunctionName = "arn:aws:lambda:local:111111111111:function:fn"
		}, kumo.ErrInvalidParameter, "account"},
		{"no role", func(in *control.CreateInput) { in.Role = "" }, kumo.ErrInvalidParameter, "role"},
		{"bad role", func(in *control.CreateInput) { in.Role = "admin" }, kumo.ErrInvalidParameter, "role"},
		{"unknown runtime", func(in *control.CreateInput) { in.Runtime = "cobol9" }, kumo.ErrInvalidParameter, "enum value set"},
		{"unsupported runtime", func(in *control.CreateInput) { in.Runtime = "dotnet8" }, kumo.ErrInvalidParameter, "not supported"},
		{"no runtime", func(in *control.CreateInput) { in.Runtime = "" }, kumo.ErrInvalidParameter, "Runtime is required"},
		{"no handler", func(in *control.CreateInput) { in.Handler = "" }, kumo.ErrInvalidParameter, "Handler"},
		{"memory low", func(in *control.CreateInput) { in.MemorySize = ptr(64) }, kumo.ErrInvalidParameter, "greater than or equal to 128"},
		{"memory high", func(in *control.CreateInput) { in.MemorySize = ptr(10241) }, kumo.ErrInvalidParameter, "less than or equal to 10240"},
		{"timeout low", func(in *control.CreateInput) { in.Timeout = ptr(0) }, kumo.ErrInvalidParameter, "timeout"},
		{"timeout high", func(in *control.CreateInput) { in.Timeout = ptr(901) }, kumo.ErrInvalidParameter, "timeout"},
		{"tmp low", func(in *control.CreateInput) { in.EphemeralStorage = ptr(511) }, kumo.ErrInvalidParameter, "ephemeralStorage"},
		{"tmp high", func(in *control.CreateInput) { in.EphemeralStorage = ptr(10241) }, kumo.ErrInvalidParameter, "ephemeralStorage"},
		{"env too big", func(in *control.CreateInput) {
			in.Environment = map[string]string{"BIG": strings.Repeat("x", 4096)}
		}, kumo.ErrInvalidParameter, "4KB"},
		{"env reserved", func(in *control.CreateInput) {
			in.Environment = map[string]string{"AWS_REGION": "x"}
		}, kumo.ErrInvalidParameter, "reserved keys"},
		{"env bad key", func(in *control.CreateInput) { in.Environment = map[string]string{"A=B": "x"} }, kumo.ErrInvalidParameter, "environment"},
		{"env NUL", func(in *control.CreateInput) { in.Environment = map[string]string{"AB": "x\x00y"} }, kumo.ErrInvalidParameter, "NUL"},
		{"arm64", func(in *control.CreateInput) { in.Architectures = []string{"arm64"} }, kumo.ErrInvalidParameter, "arm64"},
		{"two archs", func(in *control.CreateInput) { in.Architectures = []string{"x86_64", "x86_64"} }, kumo.ErrInvalidParameter, "architectures"},
		{"no code", func(in *control.CreateInput) { in.ZipFile = nil }, kumo.ErrInvalidParameter, "source for function code"},
		{"s3 code", func(in *control.CreateInput) { in.ZipFile = nil; in.HasS3Code = true }, kumo.ErrUnsupported, "S3"},
		{"image with runtime", func(in *control.CreateInput) { in.PackageType = "Image" }, kumo.ErrInvalidParameter, "Please don't provide Handler or Runtime or Layer"},
		{"layers", func(in *control.CreateInput) { in.Layers = []string{"arn:x"} }, kumo.ErrInvalidParameter, "'layers'"},
		{"not a zip", func(in *control.CreateInput) { in.ZipFile = []byte("plain text") }, kumo.ErrInvalidZipFile, "unzip"},
		{"description", func(in *control.CreateInput) { in.Description = strings.Repeat("d", 257) }, kumo.ErrInvalidParameter, "description"},
		{"tracing", func(in *control.CreateInput) { in.TracingMode = "Loud" }, kumo.ErrInvalidParameter, "tracingConfig"},
		{"aws tag", func(in *control.CreateInput) { in.Tags = map[string]string{"aws:x": "y"} }, kumo.ErrInvalidParameter, "Tag key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := createInput("fn-"+strings.ReplaceAll(tc.name, " ", "-"), code)
			tc.mutate(&in)
			_, err := svc.CreateFunction(t.Context(), in)
			require.ErrorIs(t, err, tc.kind)
			var kerr *kumo.Error
			require.True(t, errors.As(err, &kerr), "error %v is not a *kumo.Error", err)
			assert.Contains(t, kerr.Message, tc.msg)
		})
	}
	fns, _, err := svc.ListFunctions(t.Context(), "", 0)
	require.NoError(t, err)
	assert.Empty(t, fns, "no invalid request may leave a function behind")
}

func TestUpdate_RevisionAndConfig(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "v1"})
	f, err := svc.CreateFunction(t.Context(), createInput("up", code))
	require.NoError(t, err)

	_, err = svc.UpdateFunctionConfiguration(t.Context(), "up", control.ConfigInput{Timeout: ptr(10), RevisionID: "00000000-0000-0000-0000-000000000000"})
	require.ErrorIs(t, err, kumo.ErrPreconditionFailed)

	env := map[string]string{"GREETING": "hey"}
	g, err := svc.UpdateFunctionConfiguration(t.Context(), "up", control.ConfigInput{Timeout: ptr(10), MemorySize: ptr(256), Environment: &env, RevisionID: f.RevisionID})
	require.NoError(t, err)
	assert.Equal(t, 10, g.Timeout)
	assert.Equal(t, 256, g.MemorySize)
	assert.Equal(t, env, g.Environment)
	assert.NotEqual(t, f.RevisionID, g.RevisionID)
	assert.Equal(t, f.ImageDigest, g.ImageDigest)

	_, err = svc.UpdateFunctionConfiguration(t.Context(), "up", control.ConfigInput{MemorySize: ptr(50)})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	cur, err := svc.GetFunction(t.Context(), "up", "")
	require.NoError(t, err)
	assert.Equal(t, 256, cur.MemorySize, "a rejected update changes nothing")

	h, err := svc.UpdateFunctionCode(t.Context(), "up", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": "v2"})})
	require.NoError(t, err)
	assert.NotEqual(t, g.ImageDigest, h.ImageDigest)
	assert.NotEqual(t, g.CodeSha256, h.CodeSha256)
	assert.Equal(t, env, h.Environment, "code updates keep the configuration")

	r, err := svc.UpdateFunctionConfiguration(t.Context(), "up", control.ConfigInput{Runtime: ptr("provided.al2")})
	require.NoError(t, err)
	assert.Equal(t, "provided.al2", r.Runtime)
	assert.Equal(t, h.CodeSha256, r.CodeSha256)

	_, err = svc.UpdateFunctionCode(t.Context(), "missing", control.UpdateCodeInput{ZipFile: code})
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestListFunctions_Pagination(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	code := testZip(t, map[string]string{"bootstrap": "x"})
	names := []string{"e", "a", "d", "b", "c"}
	for _, n := range names {
		_, err := svc.CreateFunction(t.Context(), createInput(n, code))
		require.NoError(t, err)
	}
	var seen []string
	marker := ""
	for range 10 {
		page, next, err := svc.ListFunctions(t.Context(), marker, 2)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 2)
		for _, f := range page {
			seen = append(seen, f.Name)
		}
		if next == "" {
			break
		}
		marker = next
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, seen)
	_, _, err := svc.ListFunctions(t.Context(), "", 10001)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	_, _, err = svc.ListFunctions(t.Context(), "bad marker!", 5)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}

func TestTagsAndDelete(t *testing.T) {
	t.Parallel()
	svc, changes := newService(t)
	f, err := svc.CreateFunction(t.Context(), createInput("tagged", testZip(t, map[string]string{"bootstrap": "x"})))
	require.NoError(t, err)
	arn := scope.FunctionARN("tagged")
	require.NoError(t, svc.TagResource(t.Context(), arn, map[string]string{"team": "x", "env": "dev"}))
	require.NoError(t, svc.UntagResource(t.Context(), arn, []string{"env", "absent"}))
	tags, err := svc.ListTags(t.Context(), arn)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "x"}, tags)
	cur, err := svc.GetFunction(t.Context(), "tagged", "")
	require.NoError(t, err)
	assert.Equal(t, f.RevisionID, cur.RevisionID, "tags do not change the revision")
	require.ErrorIs(t, svc.TagResource(t.Context(), "tagged", map[string]string{"a": "b"}), kumo.ErrInvalidParameter)
	require.ErrorIs(t, svc.TagResource(t.Context(), scope.FunctionARN("nope"), map[string]string{"a": "b"}), kumo.ErrNotFound)

	require.ErrorIs(t, svc.DeleteFunction(t.Context(), "tagged", "1"), kumo.ErrNotFound)
	require.ErrorIs(t, svc.DeleteFunction(t.Context(), "tagged", "$LATEST"), kumo.ErrInvalidParameter)
	require.NoError(t, svc.DeleteFunction(t.Context(), arn, ""))
	_, err = svc.GetFunction(t.Context(), "tagged", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	assert.Equal(t, "Function not found: "+arn, err.Error())
	require.ErrorIs(t, svc.DeleteFunction(t.Context(), "tagged", ""), kumo.ErrNotFound)
	assert.Equal(t, "delete:tagged", (*changes)[len(*changes)-1])
}
