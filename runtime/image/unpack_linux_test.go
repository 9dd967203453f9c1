package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestUnpackRootOwnershipAndWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacks whiteouts (mknod) and checks ownership")
	}
	t.Parallel()
	s := openStore(t)
	d, err := s.Put(t.Context(), ociBase(), gzipLayer(t,
		te{name: "owned", body: "x", uid: 1000},
		te{name: "dir/", typ: tar.TypeDir, mode: 0o755, uid: 1000},
		te{name: "dir/.wh..wh..opq", body: ""},
		te{name: "dir/kept", body: "k"},
		te{name: ".wh.gone", body: ""},
		te{name: "sub/.wh.also-gone", body: ""},
	))
	require.NoError(t, err)
	dirs, err := s.Unpack(t.Context(), d)
	require.NoError(t, err)
	root := dirs[0]

	for _, name := range []string{"owned", "dir", "dir/kept"} {
		fi, err := os.Lstat(filepath.Join(root, name))
		require.NoError(t, err, name)
		st := fi.Sys().(*syscall.Stat_t)
		assert.Zero(t, st.Uid, name)
		assert.Zero(t, st.Gid, name)
	}
	for _, name := range []string{"gone", "sub/also-gone"} {
		var st unix.Stat_t
		require.NoError(t, unix.Lstat(filepath.Join(root, name), &st), name)
		assert.Equal(t, uint32(unix.S_IFCHR), st.Mode&unix.S_IFMT, name)
		assert.Zero(t, st.Rdev, name)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(root, "dir"), "trusted.overlay.opaque", buf)
	require.NoError(t, err)
	assert.Equal(t, "y", string(buf[:n]))
	for _, name := range []string{".wh.gone", "dir/.wh..wh..opq"} {
		assert.NoFileExists(t, filepath.Join(root, name), "markers are translated, not copied")
	}
}

func TestUnpackRootRejectsBadWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacks whiteouts (mknod)")
	}
	t.Parallel()
	s := openStore(t)
	for _, name := range []string{".wh.", "a/.wh..", "a/.wh..wh.x"} {
		d, err := s.Put(t.Context(), ociBase(), gzipLayer(t, te{name: name, body: ""}))
		require.NoError(t, err)
		_, err = s.Unpack(t.Context(), d)
		assert.ErrorContains(t, err, "invalid whiteout", name)
	}
}
