package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
)

// codeBlob is where the host keeps the code layer built from zip.
func codeBlob(t *testing.T, h *host, zip []byte) string {
	t.Helper()
	st, err := image.Open(t.TempDir())
	require.NoError(t, err)
	l, _, err := st.ZipLayer(context.Background(), zip, "var/task")
	require.NoError(t, err)
	d, err := l.Digest()
	require.NoError(t, err)
	return filepath.Join(h.dataDir, "images", "oci", "blobs", "sha256", d.Hex)
}

var gcLine = regexp.MustCompile(`^removed (\d+) blobs \((\d+) bytes\), (\d+) unpacked layers`)

// gc runs `kumo gc` and returns the removed blob and layer counts.
func (h *host) gc(t *testing.T, args ...string) (blobs, layers int) {
	t.Helper()
	stdout, stderr, rc := h.kumo(t, append([]string{"gc"}, args...)...)
	require.Equal(t, 0, rc, "stderr: %s", stderr)
	m := gcLine.FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	blobs, _ = strconv.Atoi(m[1])
	layers, _ = strconv.Atoi(m[3])
	return blobs, layers
}

func TestRootGC_KeepsLiveImagesRemovesTheRest(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, t.TempDir(), "--gc-interval", "-1s")
	unique := func(tag string) []byte {
		return mustZip(t,
			zipEntry{name: "bootstrap", data: a.fnBytes(t), mode: 0o755},
			zipEntry{name: "tag.txt", data: []byte(tag + t.Name())})
	}
	oldCode, newCode, goneCode := unique("old"), unique("new"), unique("gone")

	kept := h.createFn(t, "gc-kept", oldCode)
	h.invoke(t, kept, map[string]any{"mode": "echo"})
	_, err := h.lambda.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String(kept)})
	require.NoError(t, err)
	updated := h.createFn(t, "gc-updated", oldCode)
	_, err = h.lambda.UpdateFunctionCode(t.Context(), &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(updated), ZipFile: newCode})
	require.NoError(t, err)
	h.invoke(t, updated, map[string]any{"mode": "echo"})
	gone := h.createFn(t, "gc-gone", goneCode)
	h.invoke(t, gone, map[string]any{"mode": "echo"})
	_, err = h.lambda.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String(gone)})
	require.NoError(t, err)
	for _, z := range [][]byte{oldCode, newCode, goneCode} {
		require.FileExists(t, codeBlob(t, h, z))
	}

	// Everything is recent: the default grace period spares it all.
	blobs, layers := h.gc(t)
	require.Zero(t, blobs)
	require.Zero(t, layers)
	require.FileExists(t, codeBlob(t, h, goneCode))

	blobs, layers = h.gc(t, "--grace", "0s")
	require.Positive(t, blobs, "the deleted function's image is garbage")
	require.Positive(t, layers, "and so are its unpacked layers")
	require.NoFileExists(t, codeBlob(t, h, goneCode))
	require.FileExists(t, codeBlob(t, h, oldCode), "version 1 of gc-kept (and its $LATEST) still use the old code")
	require.FileExists(t, codeBlob(t, h, newCode))

	// What is left still runs, from warm and from cold sandboxes.
	for _, fn := range []string{kept, kept + ":1", updated} {
		out, body := h.invoke(t, fn, map[string]any{"mode": "echo"})
		require.Nil(t, out.FunctionError, "%s: %v", fn, body)
	}
	blobs, _ = h.gc(t, "--grace", "0s")
	require.Zero(t, blobs, "a second collection finds nothing more")

	_, err = h.lambda.DeleteFunction(t.Context(), &lambda.DeleteFunctionInput{FunctionName: aws.String(kept)})
	require.NoError(t, err)
	require.NoError(t, h.stop())
	h2 := newHost(t, h.dataDir, "--gc-interval", "-1s")
	h2.gc(t, "--grace", "0s")
	require.NoFileExists(t, codeBlob(t, h2, oldCode), "after a restart nothing is mounted: only gc-updated's new code is live")
	require.FileExists(t, codeBlob(t, h2, newCode))
	out, body := h2.invoke(t, updated, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError, "%v", body)
	entries, err := os.ReadDir(filepath.Join(h2.dataDir, "images", "layers"))
	require.NoError(t, err)
	require.NotEmpty(t, entries)
}

// fnBytes is the test function's binary.
func (a *artifactSet) fnBytes(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.dir, "bin", "fn"))
	require.NoError(t, err)
	return b
}
