package control_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func newLayerService(t *testing.T, opts ...control.Option) (*control.Service, *image.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	return control.New(st, imgs, scope, opts...), imgs
}

func publish(t *testing.T, svc *control.Service, name string, files map[string]string) *kumo.LayerVersion {
	t.Helper()
	lv, err := svc.PublishLayerVersion(t.Context(), control.PublishLayerInput{LayerName: name, ZipFile: testZip(t, files)})
	require.NoError(t, err)
	return lv
}

func layerArn(name string, v int64) string { return scope.LayerVersionARN(name, v) }

// imageFiles flattens a function's image (later layers win) and returns
// the regular files under the given prefixes with their contents.
func imageFiles(t *testing.T, imgs *image.Store, digest string, prefixes ...string) map[string]string {
	t.Helper()
	h, err := v1.NewHash(digest)
	require.NoError(t, err)
	img, err := imgs.Image(t.Context(), h)
	require.NoError(t, err)
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(hdr.Name, p) {
				b, err := io.ReadAll(tr)
				require.NoError(t, err)
				out[hdr.Name] = string(b)
			}
		}
	}
	return out
}

func TestPublishLayerVersion(t *testing.T) {
	t.Parallel()
	svc, imgs := newLayerService(t)
	zipBytes := testZip(t, map[string]string{"lib/greeting.txt": "hello"})
	lv, err := svc.PublishLayerVersion(t.Context(), control.PublishLayerInput{
		LayerName:               "greetings",
		Description:             "words",
		ZipFile:                 zipBytes,
		CompatibleRuntimes:      []string{"provided.al2023", "python3.12"},
		CompatibleArchitectures: []string{"x86_64", "arm64"},
		LicenseInfo:             "MIT",
	})
	require.NoError(t, err)
	sum := sha256.Sum256(zipBytes)
	assert.Equal(t, int64(1), lv.Version)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), lv.CodeSha256)
	assert.Equal(t, int64(len(zipBytes)), lv.CodeSize)
	assert.Equal(t, int64(5), lv.UnzippedSize)
	assert.Equal(t, "words", lv.Description)
	assert.Equal(t, "MIT", lv.LicenseInfo)
	assert.False(t, lv.CreatedDate.IsZero())
	assert.Equal(t, map[string]string{"opt/lib/greeting.txt": "hello"}, imageFiles(t, imgs, lv.ImageDigest, ""), "files land under /opt")

	for _, name := range []string{"greetings", scope.LayerARN("greetings")} {
		got, err := svc.GetLayerVersion(t.Context(), name, 1)
		require.NoError(t, err)
		assert.Equal(t, lv.Digest, got.Digest)
	}
	got, err := svc.GetLayerVersionByArn(t.Context(), layerArn("greetings", 1))
	require.NoError(t, err)
	assert.Equal(t, lv.Digest, got.Digest)

	_, err = svc.GetLayerVersion(t.Context(), "greetings", 2)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, err = svc.GetLayerVersionByArn(t.Context(), layerArn("greetings", 2))
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, err = svc.GetLayerVersion(t.Context(), "nope", 1)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	for _, bad := range []string{"x", scope.LayerARN("greetings"), "arn:aws:lambda:other:000000000000:layer:greetings:1", "arn:aws:lambda:local:111111111111:layer:greetings:1"} {
		_, err = svc.GetLayerVersionByArn(t.Context(), bad)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, bad)
	}
}

func hostileZip(t *testing.T, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	require.NoError(t, err)
	_, err = w.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestPublishLayerVersion_Invalid(t *testing.T) {
	t.Parallel()
	svc, _ := newLayerService(t)
	good := testZip(t, map[string]string{"a": "b"})
	tests := []struct {
		name   string
		mutate func(*control.PublishLayerInput)
		kind   error
		msg    string
	}{
		{"empty name", func(in *control.PublishLayerInput) { in.LayerName = "" }, kumo.ErrInvalidParameter, "layerName"},
		{"bad name", func(in *control.PublishLayerInput) { in.LayerName = "bad name" }, kumo.ErrInvalidParameter, "layerName"},
		{"dotted name", func(in *control.PublishLayerInput) { in.LayerName = "a.b" }, kumo.ErrInvalidParameter, "layerName"},
		{"long name", func(in *control.PublishLayerInput) { in.LayerName = strings.Repeat("a", 65) }, kumo.ErrInvalidParameter, "layerName"},
		{"foreign account", func(in *control.PublishLayerInput) {
			in.LayerName = "arn:aws:lambda:local:111111111111:layer:x"
		}, kumo.ErrInvalidParameter, "account"},
		{"foreign region", func(in *control.PublishLayerInput) {
			in.LayerName = "arn:aws:lambda:us-east-1:000000000000:layer:x"
		}, kumo.ErrInvalidParameter, "region"},
		{"version arn", func(in *control.PublishLayerInput) { in.LayerName = layerArn("x", 1) }, kumo.ErrInvalidParameter, "layerName"},
		{"description", func(in *control.PublishLayerInput) { in.Description = strings.Repeat("d", 257) }, kumo.ErrInvalidParameter, "description"},
		{"license", func(in *control.PublishLayerInput) { in.LicenseInfo = strings.Repeat("l", 513) }, kumo.ErrInvalidParameter, "licenseInfo"},
		{"too many runtimes", func(in *control.PublishLayerInput) {
			in.CompatibleRuntimes = strings.Split(strings.Repeat("provided.al2023,", 16), ",")[:16]
		}, kumo.ErrInvalidParameter, "compatibleRuntimes"},
		{"bad runtime", func(in *control.PublishLayerInput) { in.CompatibleRuntimes = []string{"cobol"} }, kumo.ErrInvalidParameter, "compatibleRuntimes"},
		{"too many archs", func(in *control.PublishLayerInput) {
			in.CompatibleArchitectures = []string{"x86_64", "arm64", "x86_64"}
		}, kumo.ErrInvalidParameter, "compatibleArchitectures"},
		{"bad arch", func(in *control.PublishLayerInput) { in.CompatibleArchitectures = []string{"mips"} }, kumo.ErrInvalidParameter, "compatibleArchitectures"},
		{"no content", func(in *control.PublishLayerInput) { in.ZipFile = nil }, kumo.ErrInvalidParameter, "source"},
		{"s3", func(in *control.PublishLayerInput) { in.ZipFile = nil; in.HasS3Code = true }, kumo.ErrUnsupported, "S3"},
		{"not a zip", func(in *control.PublishLayerInput) { in.ZipFile = []byte("text") }, kumo.ErrInvalidZipFile, "unzip"},
		{"traversal", func(in *control.PublishLayerInput) { in.ZipFile = hostileZip(t, "../../etc/passwd") }, kumo.ErrInvalidZipFile, "unzip"},
		{"absolute", func(in *control.PublishLayerInput) { in.ZipFile = hostileZip(t, "/etc/passwd") }, kumo.ErrInvalidZipFile, "unzip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := control.PublishLayerInput{LayerName: "ok", ZipFile: good}
			tc.mutate(&in)
			_, err := svc.PublishLayerVersion(t.Context(), in)
			require.ErrorIs(t, err, tc.kind)
			var kerr *kumo.Error
			require.True(t, errors.As(err, &kerr), "error %v is not a *kumo.Error", err)
			assert.Contains(t, kerr.Message, tc.msg)
		})
	}
	layers, _, err := svc.ListLayers(t.Context(), control.LayerFilter{}, "", 0)
	require.NoError(t, err)
	assert.Empty(t, layers, "no invalid request may publish a version")
}

func TestLayerVersions_NumberingAndDelete(t *testing.T) {
	t.Parallel()
	svc, _ := newLayerService(t)
	ctx := t.Context()
	files := map[string]string{"f": "x"}
	assert.Equal(t, int64(1), publish(t, svc, "num", files).Version)
	assert.Equal(t, int64(2), publish(t, svc, "num", files).Version)

	require.NoError(t, svc.DeleteLayerVersion(ctx, "num", 2))
	require.NoError(t, svc.DeleteLayerVersion(ctx, "num", 2), "idempotent")
	require.NoError(t, svc.DeleteLayerVersion(ctx, "num", 99), "idempotent")
	require.NoError(t, svc.DeleteLayerVersion(ctx, "never-published", 1), "idempotent")
	require.NoError(t, svc.DeleteLayerVersion(ctx, scope.LayerARN("num"), 0), "idempotent")
	require.ErrorIs(t, svc.DeleteLayerVersion(ctx, "bad name", 1), kumo.ErrInvalidParameter)
	_, err := svc.GetLayerVersion(ctx, "num", 2)
	require.ErrorIs(t, err, kumo.ErrNotFound)

	assert.Equal(t, int64(3), publish(t, svc, "num", files).Version, "numbers are never reused")
	require.NoError(t, svc.DeleteLayerVersion(ctx, "num", 1))
	require.NoError(t, svc.DeleteLayerVersion(ctx, "num", 3))
	vs, _, err := svc.ListLayerVersions(ctx, "num", control.LayerFilter{}, "", 0)
	require.NoError(t, err)
	assert.Empty(t, vs)
	assert.Equal(t, int64(4), publish(t, svc, "num", files).Version, "the counter survives deleting every version")
}

func TestListLayers_FiltersAndPagination(t *testing.T) {
	t.Parallel()
	svc, _ := newLayerService(t)
	ctx := t.Context()
	z := testZip(t, map[string]string{"f": "x"})
	pub := func(name string, rts, archs []string) {
		_, err := svc.PublishLayerVersion(ctx, control.PublishLayerInput{LayerName: name, ZipFile: z, CompatibleRuntimes: rts, CompatibleArchitectures: archs})
		require.NoError(t, err)
	}
	al2023 := []string{"provided.al2023"}
	py := []string{"python3.12"}
	pub("a", al2023, []string{"x86_64"}) // a:1
	pub("a", py, []string{"arm64"})      // a:2
	pub("a", al2023, nil)                // a:3
	pub("b", py, nil)                    // b:1
	pub("c", nil, nil)                   // c:1
	pub("d", al2023, []string{"x86_64"}) // d:1

	type summary struct {
		name string
		v    int64
	}
	list := func(f control.LayerFilter, max int) []summary {
		var out []summary
		marker := ""
		for range 10 {
			page, next, err := svc.ListLayers(ctx, f, marker, max)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), max)
			for _, l := range page {
				require.Equal(t, l.Name, l.Latest.Name)
				out = append(out, summary{l.Name, l.Latest.Version})
			}
			if next == "" {
				return out
			}
			marker = next
		}
		t.Fatal("pagination did not end")
		return nil
	}
	assert.Equal(t, []summary{{"a", 3}, {"b", 1}, {"c", 1}, {"d", 1}}, list(control.LayerFilter{}, 50))
	assert.Equal(t, []summary{{"a", 3}, {"b", 1}, {"c", 1}, {"d", 1}}, list(control.LayerFilter{}, 1))
	assert.Equal(t, []summary{{"a", 3}, {"d", 1}}, list(control.LayerFilter{CompatibleRuntime: "provided.al2023"}, 1))
	assert.Equal(t, []summary{{"a", 2}, {"b", 1}}, list(control.LayerFilter{CompatibleRuntime: "python3.12"}, 50))
	assert.Equal(t, []summary{{"a", 1}, {"d", 1}}, list(control.LayerFilter{CompatibleArchitecture: "x86_64"}, 50))
	assert.Equal(t, []summary{{"a", 1}, {"d", 1}}, list(control.LayerFilter{CompatibleRuntime: "provided.al2023", CompatibleArchitecture: "x86_64"}, 1))
	assert.Empty(t, list(control.LayerFilter{CompatibleRuntime: "java21"}, 50))

	// ListLayerVersions: newest first, filtered, paged.
	var versions []int64
	marker := ""
	for {
		page, next, err := svc.ListLayerVersions(ctx, "a", control.LayerFilter{}, marker, 2)
		require.NoError(t, err)
		for _, lv := range page {
			versions = append(versions, lv.Version)
		}
		if next == "" {
			break
		}
		marker = next
	}
	assert.Equal(t, []int64{3, 2, 1}, versions)
	page, next, err := svc.ListLayerVersions(ctx, scope.LayerARN("a"), control.LayerFilter{CompatibleRuntime: "provided.al2023"}, "", 0)
	require.NoError(t, err)
	assert.Empty(t, next)
	require.Len(t, page, 2)
	assert.Equal(t, []int64{3, 1}, []int64{page[0].Version, page[1].Version})
	page, _, err = svc.ListLayerVersions(ctx, "unknown", control.LayerFilter{}, "", 0)
	require.NoError(t, err)
	assert.Empty(t, page)

	for _, bad := range []struct {
		f      control.LayerFilter
		max    int
		marker string
	}{
		{control.LayerFilter{CompatibleRuntime: "cobol"}, 0, ""},
		{control.LayerFilter{CompatibleArchitecture: "mips"}, 0, ""},
		{control.LayerFilter{}, 51, ""},
		{control.LayerFilter{}, -1, ""},
		{control.LayerFilter{}, 0, "bad marker!"},
	} {
		_, _, err := svc.ListLayers(ctx, bad.f, bad.marker, bad.max)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, "%+v", bad)
	}
	_, _, err = svc.ListLayerVersions(ctx, "a", control.LayerFilter{}, "x", 0)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	_, _, err = svc.ListLayerVersions(ctx, "a", control.LayerFilter{}, "", 51)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}

func TestFunctionLayers(t *testing.T) {
	t.Parallel()
	svc, imgs := newLayerService(t)
	ctx := t.Context()
	one := publish(t, svc, "one", map[string]string{"lib/greeting.txt": "from one", "lib/one.txt": "1"})
	two := publish(t, svc, "two", map[string]string{"lib/greeting.txt": "from two", "bin/two": "2"})
	code := testZip(t, map[string]string{"bootstrap": "#!/bin/sh\n"})

	in := createInput("layered", code)
	in.Layers = []string{layerArn("one", 1), layerArn("two", 1)}
	f, err := svc.CreateFunction(ctx, in)
	require.NoError(t, err)
	require.Len(t, f.Layers, 2)
	assert.Equal(t, kumo.LayerRef{Arn: layerArn("one", 1), Digest: one.Digest, CodeSize: one.CodeSize, UnzippedSize: one.UnzippedSize}, f.Layers[0])
	assert.Equal(t, two.Digest, f.Layers[1].Digest)
	want := map[string]string{
		"opt/lib/greeting.txt": "from two", // later layers win
		"opt/lib/one.txt":      "1",
		"opt/bin/two":          "2",
		"var/task/bootstrap":   "#!/bin/sh\n",
	}
	assert.Equal(t, want, imageFiles(t, imgs, f.ImageDigest, "opt/", "var/task/"))

	v1Fn, err := svc.PublishVersion(ctx, "layered", "", "", "")
	require.NoError(t, err)
	assert.Equal(t, f.Layers, v1Fn.Layers, "published versions keep their layers")

	// Deleting a layer version in use: the function keeps it, even
	// through a code update, a runtime change and a GC of everything else.
	require.NoError(t, svc.DeleteLayerVersion(ctx, "one", 1))
	// GC keeps the images of functions, versions and live layer versions.
	require.NoError(t, imgs.GC(ctx, []v1.Hash{mustHash(t, f.ImageDigest), mustHash(t, v1Fn.ImageDigest), mustHash(t, two.ImageDigest)}))
	_, err = imgs.Image(ctx, mustHash(t, one.ImageDigest))
	require.ErrorIs(t, err, kumo.ErrNotFound, "the deleted layer version's own image is garbage")
	f, err = svc.UpdateFunctionCode(ctx, "layered", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": "v2"})})
	require.NoError(t, err)
	want["var/task/bootstrap"] = "v2"
	assert.Equal(t, want, imageFiles(t, imgs, f.ImageDigest, "opt/", "var/task/"))
	f, err = svc.UpdateFunctionConfiguration(ctx, "layered", control.ConfigInput{Runtime: ptr("provided.al2")})
	require.NoError(t, err)
	assert.Equal(t, want, imageFiles(t, imgs, f.ImageDigest, "opt/", "var/task/"))
	require.Len(t, f.Layers, 2)
	f, err = svc.UpdateFunctionConfiguration(ctx, "layered", control.ConfigInput{Description: ptr("unrelated")})
	require.NoError(t, err)
	require.Len(t, f.Layers, 2, "Layers absent from the request are left alone")

	// But a deleted version cannot be named again.
	_, err = svc.UpdateFunctionConfiguration(ctx, "layered", control.ConfigInput{Layers: []string{layerArn("one", 1)}})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	assert.Contains(t, err.Error(), "Layer version "+layerArn("one", 1)+" does not exist.")

	// Whole-list replacement, in the new order.
	three := publish(t, svc, "three", map[string]string{"lib/greeting.txt": "from three"})
	f, err = svc.UpdateFunctionConfiguration(ctx, "layered", control.ConfigInput{Layers: []string{layerArn("three", 1), layerArn("two", 1)}})
	require.NoError(t, err)
	assert.Equal(t, []string{layerArn("three", 1), layerArn("two", 1)}, []string{f.Layers[0].Arn, f.Layers[1].Arn})
	assert.Equal(t, three.Digest, f.Layers[0].Digest)
	assert.Equal(t, map[string]string{
		"opt/lib/greeting.txt": "from two",
		"opt/bin/two":          "2",
		"var/task/bootstrap":   "v2",
	}, imageFiles(t, imgs, f.ImageDigest, "opt/", "var/task/"))

	f, err = svc.UpdateFunctionConfiguration(ctx, "layered", control.ConfigInput{Layers: []string{}})
	require.NoError(t, err)
	assert.Nil(t, f.Layers, "[] clears the layers")
	assert.Equal(t, map[string]string{"var/task/bootstrap": "v2"}, imageFiles(t, imgs, f.ImageDigest, "opt/", "var/task/"))

	// The published version still runs with the layers it was published with.
	got, err := svc.GetFunction(ctx, "layered", v1Fn.Version)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"opt/lib/greeting.txt": "from two",
		"opt/lib/one.txt":      "1",
		"opt/bin/two":          "2",
		"var/task/bootstrap":   "#!/bin/sh\n",
	}, imageFiles(t, imgs, got.ImageDigest, "opt/", "var/task/"))
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	require.NoError(t, err)
	return h
}

func TestFunctionLayers_Invalid(t *testing.T) {
	t.Parallel()
	svc, _ := newLayerService(t)
	ctx := t.Context()
	var six []string
	for _, n := range []string{"l1", "l2", "l3", "l4", "l5", "l6"} {
		publish(t, svc, n, map[string]string{n: n})
		six = append(six, layerArn(n, 1))
	}
	publish(t, svc, "l1", map[string]string{"v2": "v2"})
	code := testZip(t, map[string]string{"bootstrap": "x"})
	existing, err := svc.CreateFunction(ctx, createInput("existing", code))
	require.NoError(t, err)

	tests := []struct {
		name   string
		layers []string
		msg    string
	}{
		{"six layers", six, "more than 5 layers"},
		{"missing version", []string{layerArn("l1", 9)}, "Layer version " + layerArn("l1", 9) + " does not exist."},
		{"missing layer", []string{layerArn("nope", 1)}, "does not exist"},
		{"duplicate", []string{layerArn("l1", 1), layerArn("l1", 1)}, "Duplicate"},
		{"two versions", []string{layerArn("l1", 1), layerArn("l1", 2)}, "same layer"},
		{"foreign account", []string{"arn:aws:lambda:local:111111111111:layer:l1:1"}, "account"},
		{"foreign region", []string{"arn:aws:lambda:us-east-1:000000000000:layer:l1:1"}, "region"},
		{"not an arn", []string{"l1"}, "'layers'"},
		{"layer arn without version", []string{scope.LayerARN("l1")}, "'layers'"},
		{"function arn", []string{scope.FunctionARN("existing")}, "'layers'"},
		{"version zero", []string{layerArn("l1", 0)}, "positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := createInput("fn-"+strings.ReplaceAll(tc.name, " ", "-"), code)
			in.Layers = tc.layers
			_, err := svc.CreateFunction(ctx, in)
			require.ErrorIs(t, err, kumo.ErrInvalidParameter)
			assert.Contains(t, err.Error(), tc.msg)

			_, err = svc.UpdateFunctionConfiguration(ctx, "existing", control.ConfigInput{Layers: tc.layers})
			require.ErrorIs(t, err, kumo.ErrInvalidParameter)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	fns, _, err := svc.ListFunctions(ctx, "", 0)
	require.NoError(t, err)
	require.Len(t, fns, 1, "no invalid request may leave a function behind")
	got, err := svc.GetFunction(ctx, "existing", "")
	require.NoError(t, err)
	assert.Equal(t, existing.RevisionID, got.RevisionID, "no invalid request may change a function")

	// Five is fine.
	in := createInput("five", code)
	in.Layers = six[:5]
	f, err := svc.CreateFunction(ctx, in)
	require.NoError(t, err)
	assert.Len(t, f.Layers, 5)
}

func TestFunctionLayers_UnzippedLimit(t *testing.T) {
	t.Parallel()
	svc, _ := newLayerService(t, control.WithMaxUnzipped(100))
	ctx := t.Context()
	publish(t, svc, "forty", map[string]string{"f": strings.Repeat("x", 40)})
	publish(t, svc, "fifty", map[string]string{"f": strings.Repeat("y", 50)})
	code := testZip(t, map[string]string{"bootstrap": strings.Repeat("z", 20)})

	in := createInput("big", code)
	in.Layers = []string{layerArn("forty", 1), layerArn("fifty", 1)}
	_, err := svc.CreateFunction(ctx, in)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	assert.Contains(t, err.Error(), "Unzipped size must be smaller than 100 bytes")

	in.Layers = in.Layers[:1]
	_, err = svc.CreateFunction(ctx, in)
	require.NoError(t, err, "20 + 40 bytes fit")
	_, err = svc.UpdateFunctionConfiguration(ctx, "big", control.ConfigInput{Layers: []string{layerArn("forty", 1), layerArn("fifty", 1)}})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	assert.Contains(t, err.Error(), "Unzipped size must be smaller than 100 bytes")
	_, err = svc.UpdateFunctionCode(ctx, "big", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": strings.Repeat("z", 70)})})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter, "bigger code no longer fits with the layer")
	_, err = svc.UpdateFunctionCode(ctx, "big", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": strings.Repeat("z", 60)})})
	require.NoError(t, err)
}

// Layers may name kumo's own runtimes as compatible (ruby3.1 exists only
// here) as well as every identifier Lambda knows; anything else is refused.
func TestLayerCompatibleRuntimesIncludeTheHosts(t *testing.T) {
	svc, _ := newLayerService(t, control.WithRuntimes([]string{"provided.al2023", "ruby3.1"}))
	zip := testZip(t, map[string]string{"lib/x.rb": "x"})
	for _, tc := range []struct {
		runtimes []string
		ok       bool
	}{
		{[]string{"ruby3.1"}, true},
		{[]string{"python3.12", "ruby3.1"}, true},
		{[]string{"ruby9.9"}, false},
		{[]string{""}, false},
	} {
		_, err := svc.PublishLayerVersion(t.Context(), control.PublishLayerInput{LayerName: "compat", ZipFile: zip, CompatibleRuntimes: tc.runtimes})
		if tc.ok {
			require.NoError(t, err, "%v", tc.runtimes)
			continue
		}
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, "%v", tc.runtimes)
	}
	_, _, err := svc.ListLayers(t.Context(), control.LayerFilter{CompatibleRuntime: "ruby3.1"}, "", 10)
	require.NoError(t, err)
	_, _, err = svc.ListLayers(t.Context(), control.LayerFilter{CompatibleRuntime: "ruby9.9"}, "", 10)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}
