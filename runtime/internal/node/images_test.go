package node

import (
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestScaffold(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Whatever an earlier run left is replaced.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, scaffoldName, "junk"), 0o700))
	s, err := makeScaffold(dir)
	require.NoError(t, err)
	assert.NoDirExists(t, filepath.Join(s, "junk"))
	for _, d := range []string{"dev", "proc", "sys", "tmp", "var/task", "opt"} {
		assert.DirExists(t, filepath.Join(s, d))
	}
	fi, err := os.Stat(filepath.Join(s, "tmp"))
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSticky|0o777, fi.Mode()&(fs.ModeSticky|fs.ModePerm))

	// A restart's cleanup of leftover mounts keeps the scaffold.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "leftover"), 0o700))
	require.NoError(t, unmountChildren(dir))
	assert.NoDirExists(t, filepath.Join(dir, "leftover"))
	assert.DirExists(t, filepath.Join(s, "tmp"))
}

func TestCheckEntrypointAndWorkingDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write := func(name string, mode os.FileMode) {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), mode))
	}
	write("bin/app", 0o755)
	write("bin/data", 0o644)
	require.NoError(t, os.Symlink("/etc/shadow", filepath.Join(root, "bin/escape")))
	require.NoError(t, os.Symlink("app", filepath.Join(root, "bin/rel")))
	require.NoError(t, os.Symlink("/", filepath.Join(root, "up")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "srv"), 0o755))

	for _, tc := range []struct {
		argv0 string
		err   string
	}{
		{"/bin/app", ""},
		{"/bin/rel", ""},
		{"/bin/escape", ""}, // resolved in the sandbox, where it points into the image
		{"app", ""},         // looked up in PATH at start
		{"/bin/missing", "no such file or directory"},
		{"/bin/data", "permission denied"},
		{"/srv", "permission denied"},
	} {
		err := checkEntrypoint(root, tc.argv0)
		if tc.err == "" {
			assert.NoError(t, err, tc.argv0)
		} else {
			assert.ErrorContains(t, err, tc.err, tc.argv0)
		}
	}
	for _, tc := range []struct {
		cwd string
		err string
	}{
		{"/srv", ""},
		{"/", ""},
		{"/up", ""}, // leaves the root on the host: not followed here
		{"/nowhere", "no such file or directory"},
		{"/bin/app", "not a directory"},
	} {
		err := checkWorkingDir(root, tc.cwd)
		if tc.err == "" {
			assert.NoError(t, err, tc.cwd)
		} else {
			assert.ErrorContains(t, err, tc.err, tc.cwd)
		}
	}
}

// A node that lacks a function's image fetches it from the --registry
// mirror the host that wrote it pushed it to.
func TestEnsureImageFetchesFromMirror(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	rem, err := image.NewRemote()
	require.NoError(t, err)

	writer, err := image.Open(filepath.Join(t.TempDir(), "a"))
	require.NoError(t, err)
	layer, err := random.Layer(1024, types.OCILayer)
	require.NoError(t, err)
	digest, err := writer.Put(t.Context(), empty.Image, layer)
	require.NoError(t, err)
	wm, err := image.NewMirror(host, writer, rem)
	require.NoError(t, err)
	require.NoError(t, wm.Push(t.Context(), "fn", "latest", digest))

	reader, err := image.Open(filepath.Join(t.TempDir(), "b"))
	require.NoError(t, err)
	rm, err := image.NewMirror(host, reader, rem)
	require.NoError(t, err)
	n := &Node{images: reader, fetcher: rm, mounts: map[string]string{}, log: slog.New(slog.DiscardHandler)}
	fn := &kumo.Function{Name: "fn", ImageDigest: digest.String()}
	_, err = reader.Image(t.Context(), digest)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	require.NoError(t, n.ensureImage(t.Context(), fn))
	_, err = reader.Image(t.Context(), digest)
	require.NoError(t, err)

	// Without the image anywhere the error says which function needs it.
	missing := &kumo.Function{Name: "other", ImageDigest: digest.String()}
	n.images, _ = image.Open(filepath.Join(t.TempDir(), "c"))
	require.ErrorContains(t, n.ensureImage(t.Context(), missing), "function other: image "+digest.String()+" is not on this host")
}
