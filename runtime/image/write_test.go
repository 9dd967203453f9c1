package image

import (
	"archive/tar"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestWriteKeepsDigest(t *testing.T) {
	t.Parallel()
	src := openStore(t)
	digest, _ := putCode(t, src, zf{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755})
	img, err := src.Image(t.Context(), digest)
	require.NoError(t, err)

	dst := openStore(t)
	got, err := dst.Write(t.Context(), img, WithMaxBytes(64<<20))
	require.NoError(t, err)
	assert.Equal(t, digest, got)
	stored, err := dst.Image(t.Context(), got)
	require.NoError(t, err)
	requireValidImage(t, stored)
	dirs, err := dst.Unpack(t.Context(), got)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dirs[len(dirs)-1], "var/task/bootstrap"))
	require.NoError(t, err)
	assert.Equal(t, "#!/bin/sh\n", string(b))

	// Writing it again fetches no layer: the source's blobs are gone.
	require.NoError(t, os.RemoveAll(src.blobDir))
	again, err := dst.Write(t.Context(), stored)
	require.NoError(t, err)
	assert.Equal(t, digest, again)
}

// configWith replaces img's config, for images that lie about themselves.
func configWith(t *testing.T, img v1.Image, edit func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	edit(cf)
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

func TestWriteRefusesWhatCannotRun(t *testing.T) {
	t.Parallel()
	good, err := mutate.AppendLayers(ociBase(), gzipLayer(t, te{name: "a", body: "a"}))
	require.NoError(t, err)
	foreign, err := mutate.Append(ociBase(), mutate.Addendum{Layer: gzipLayer(t, te{name: "a", body: "a"}), MediaType: types.DockerForeignLayer})
	require.NoError(t, err)
	withLayer := func(entries ...te) v1.Image {
		img, err := mutate.AppendLayers(ociBase(), gzipLayer(t, entries...))
		require.NoError(t, err)
		return img
	}
	notTar, err := mutate.AppendLayers(ociBase(), static.NewLayer([]byte("this is not a tar archive, not at all"), types.OCIUncompressedLayer))
	require.NoError(t, err)
	tests := []struct {
		name string
		img  v1.Image
		msg  string
	}{
		{"windows", configWith(t, good, func(c *v1.ConfigFile) { c.OS = "windows" }), `OS "windows"`},
		{"arm64", configWith(t, good, func(c *v1.ConfigFile) { c.Architecture = "arm64" }), `architecture "arm64"`},
		{"foreign layer", foreign, "media type"},
		{"wrong diff id", configWith(t, good, func(c *v1.ConfigFile) { c.RootFS.DiffIDs[0] = sha([]byte("other")) }), "contents hash to"},
		{"missing diff id", configWith(t, good, func(c *v1.ConfigFile) { c.RootFS.DiffIDs = nil }), "diff IDs"},
		{"dot dot", withLayer(te{name: "var/../../escape", body: "x"}), `name contains ".."`},
		{"hard link out", withLayer(te{name: "a", typ: tar.TypeLink, link: "../../etc/shadow"}), "hard link target"},
		{"hard link to host file", withLayer(te{name: "a", typ: tar.TypeLink, link: "/etc/shadow"}), "not a regular file earlier in the layer"},
		{"hard link to symlink", withLayer(te{name: "s", typ: tar.TypeSymlink, link: "/etc/shadow"}, te{name: "a", typ: tar.TypeLink, link: "s"}), "not a regular file earlier in the layer"},
		{"not a tar", notTar, "not a valid tar archive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			_, err := s.Write(t.Context(), tc.img)
			require.ErrorIs(t, err, kumo.ErrUnsupported)
			require.Contains(t, err.Error(), tc.msg)
			d, err := tc.img.Digest()
			require.NoError(t, err)
			_, err = s.Image(t.Context(), d)
			require.ErrorIs(t, err, kumo.ErrNotFound, "a refused image is not stored")
		})
	}
}

func TestWriteSizeLimit(t *testing.T) {
	t.Parallel()
	zeros := strings.Repeat("\x00", 1<<20)
	img, err := mutate.AppendLayers(ociBase(), gzipLayer(t, te{name: "a", body: zeros}), gzipLayer(t, te{name: "b", body: zeros}))
	require.NoError(t, err)
	s := openStore(t)
	var tooLarge *TooLargeError

	_, err = s.Write(t.Context(), img, WithMaxBytes(1<<10))
	require.ErrorAs(t, err, &tooLarge)
	assert.False(t, tooLarge.Uncompressed, "the declared sizes are over already")

	_, err = s.Write(t.Context(), img, WithMaxBytes(3<<19)) // 1.5 MiB: the second layer passes it
	require.ErrorAs(t, err, &tooLarge)
	assert.True(t, tooLarge.Uncompressed)
	assert.Greater(t, tooLarge.Size, int64(3<<19))
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)

	_, err = s.Write(t.Context(), img, WithMaxBytes(3<<20))
	require.NoError(t, err)
}

func TestMirrorPushAndFetch(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	rem, err := NewRemote()
	require.NoError(t, err)

	a := openStore(t)
	digest, _ := putCode(t, a, zf{name: "bootstrap", body: "x", mode: 0o755})
	ma, err := NewMirror(host+"/prefix", a, rem)
	require.NoError(t, err)
	require.NoError(t, ma.Push(t.Context(), "Hello_World", "latest", digest))
	repo, err := ma.Repository("Hello_World")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(repo.RepositoryStr(), "prefix/kumo/functions/fn-"), repo.String())
	head, err := remote.Head(repo.Tag("latest"), remote.WithContext(t.Context()))
	require.NoError(t, err)
	assert.Equal(t, digest, head.Digest)
	plain, err := ma.Repository("hello-world")
	require.NoError(t, err)
	assert.Equal(t, "prefix/kumo/functions/hello-world", plain.RepositoryStr())

	b := openStore(t)
	mb, err := NewMirror(host+"/prefix", b, rem)
	require.NoError(t, err)
	require.NoError(t, mb.Fetch(t.Context(), "Hello_World", digest))
	dirs, err := b.Unpack(t.Context(), digest)
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(dirs[len(dirs)-1], "var/task/bootstrap"))

	err = mb.Fetch(t.Context(), "other", digest)
	require.ErrorIs(t, err, kumo.ErrNotFound)

	_, err = NewMirror("not a registry", b, rem)
	require.Error(t, err)
}

// What unpacking neutralises is let in: it is made harmless later.
func TestWriteAcceptsWhatUnpackNeutralises(t *testing.T) {
	t.Parallel()
	img, err := mutate.AppendLayers(ociBase(), gzipLayer(t,
		te{name: "/abs/file", body: "absolute name"},
		te{name: "shadow", typ: tar.TypeSymlink, link: "/etc/shadow"},
		te{name: "suid", body: "x", mode: 0o4755},
		te{name: "null", typ: tar.TypeChar},
		te{name: "link", typ: tar.TypeLink, link: "suid"},
	))
	require.NoError(t, err)
	s := openStore(t)
	d, err := s.Write(t.Context(), img)
	require.NoError(t, err)
	dirs, err := s.Unpack(t.Context(), d)
	require.NoError(t, err)
	fi, err := os.Lstat(filepath.Join(dirs[0], "suid"))
	require.NoError(t, err)
	assert.Zero(t, fi.Mode()&os.ModeSetuid)
	assert.NoFileExists(t, filepath.Join(dirs[0], "null"))
	assert.FileExists(t, filepath.Join(dirs[0], "abs/file"))
}
