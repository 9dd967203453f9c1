package image

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

var zipTime = time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)

// zf is one zip entry for buildZip. A zero mode writes no unix mode (as
// zips made on Windows do); raw writes body as already-compressed data
// under the given header, which may lie.
type zf struct {
	name string
	body string
	mode fs.FileMode
	raw  *zip.FileHeader
}

func buildZip(t testing.TB, files ...zf) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		if f.raw != nil {
			w, err := zw.CreateRaw(f.raw)
			require.NoError(t, err)
			_, err = io.WriteString(w, f.body)
			require.NoError(t, err)
			continue
		}
		fh := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: zipTime}
		if f.mode != 0 {
			fh.SetMode(f.mode)
		}
		if strings.HasSuffix(f.name, "/") {
			fh.Method = zip.Store
		}
		w, err := zw.CreateHeader(fh)
		require.NoError(t, err)
		_, err = io.WriteString(w, f.body)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// tarEntry is one entry read back from a layer.
type tarEntry struct {
	hdr  *tar.Header
	body string
}

func readLayer(t testing.TB, l v1.Layer) ([]string, map[string]tarEntry) {
	t.Helper()
	rc, err := l.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	entries := map[string]tarEntry{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		names = append(names, hdr.Name)
		entries[hdr.Name] = tarEntry{hdr: hdr, body: string(b)}
	}
	return names, entries
}

// bombData is deflate of 300 MB of zeros: a few hundred kB that inflate
// past the unzipped cap.
var bombData = sync.OnceValues(func() ([]byte, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	zeros := make([]byte, 1<<20)
	for range 300 {
		if _, err := fw.Write(zeros); err != nil {
			return nil, err
		}
	}
	if err := fw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
})

func bombZip(t testing.TB, claimed uint64) []byte {
	t.Helper()
	data, err := bombData()
	require.NoError(t, err)
	return buildZip(t, zf{
		raw: &zip.FileHeader{
			Name: "bomb", Method: zip.Deflate, Modified: zipTime,
			CompressedSize64: uint64(len(data)), UncompressedSize64: claimed, CRC32: 0xdeadbeef,
		},
		body: string(data),
	})
}

func manyEntries(t testing.TB, n int) []byte {
	t.Helper()
	files := make([]zf, n)
	for i := range files {
		files[i] = zf{name: fmt.Sprintf("f%05d", i), mode: 0o644}
	}
	return buildZip(t, files...)
}

func TestZipLayerRejectsHostileZips(t *testing.T) {
	t.Parallel()
	good := buildZip(t, zf{name: "bootstrap", body: strings.Repeat("payload ", 1000), mode: 0o755})
	tests := []struct {
		name    string
		zip     func(testing.TB) []byte
		wantMsg string
	}{
		{"parent traversal", func(t testing.TB) []byte { return buildZip(t, zf{name: "../x", body: "x", mode: 0o644}) }, "points outside"},
		{"nested traversal", func(t testing.TB) []byte { return buildZip(t, zf{name: "a/../../x", body: "x", mode: 0o644}) }, "points outside"},
		{"absolute path", func(t testing.TB) []byte { return buildZip(t, zf{name: "/abs", body: "x", mode: 0o644}) }, "absolute path"},
		{"backslash traversal", func(t testing.TB) []byte { return buildZip(t, zf{name: `..\x`, body: "x", mode: 0o644}) }, "backslash"},
		{"NUL in name", func(t testing.TB) []byte { return buildZip(t, zf{name: "a\x00b", body: "x", mode: 0o644}) }, "NUL"},
		{"name too long", func(t testing.TB) []byte {
			return buildZip(t, zf{name: strings.Repeat("a/", 2048) + "b", body: "x", mode: 0o644})
		}, "longer than 4096"},
		{"component too long", func(t testing.TB) []byte {
			return buildZip(t, zf{name: strings.Repeat("a", 256), body: "x", mode: 0o644})
		}, "longer than 255"},
		{"duplicate names", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a", body: "1", mode: 0o644}, zf{name: "a", body: "2", mode: 0o644})
		}, "more than once"},
		{"duplicate after cleaning", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a/b", body: "1", mode: 0o644}, zf{name: "a//b", body: "2", mode: 0o644})
		}, "more than once"},
		{"file and directory with one name", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a", body: "1", mode: 0o644}, zf{name: "a/", mode: fs.ModeDir | 0o755})
		}, "more than once"},
		{"file used as directory", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a", body: "1", mode: 0o644}, zf{name: "a/b", body: "2", mode: 0o644})
		}, "which is a file"},
		{"symlink to /etc/shadow", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "shadow", body: "/etc/shadow", mode: fs.ModeSymlink | 0o777})
		}, "absolute path"},
		{"symlink d -> .. then d/x", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "d", body: "..", mode: fs.ModeSymlink | 0o777}, zf{name: "d/x", body: "x", mode: 0o644})
		}, "which is a symlink"},
		{"symlink d -> .. alone", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "d", body: "..", mode: fs.ModeSymlink | 0o777})
		}, "points outside"},
		{"write through an inside symlink", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "sub/", mode: fs.ModeDir | 0o755},
				zf{name: "d", body: "sub", mode: fs.ModeSymlink | 0o777}, zf{name: "d/x", body: "x", mode: 0o644})
		}, "which is a symlink"},
		{"relative symlink escape", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a/b/link", body: "../../../etc/passwd", mode: fs.ModeSymlink | 0o777})
		}, "points outside"},
		{"symlink escape through another symlink", func(t testing.TB) []byte {
			// "s/.." is lexically "." but s is the root, so it is the parent.
			return buildZip(t, zf{name: "s", body: ".", mode: fs.ModeSymlink | 0o777},
				zf{name: "u", body: "s/..", mode: fs.ModeSymlink | 0o777})
		}, "points outside"},
		{"symlink loop", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "a", body: "b", mode: fs.ModeSymlink | 0o777},
				zf{name: "b", body: "a", mode: fs.ModeSymlink | 0o777})
		}, "points outside"},
		{"fifo entry", func(t testing.TB) []byte {
			return buildZip(t, zf{name: "fifo", mode: fs.ModeNamedPipe | 0o644})
		}, "not a regular file"},
		{"encrypted entry", func(t testing.TB) []byte {
			return buildZip(t, zf{raw: &zip.FileHeader{Name: "secret", Method: zip.Store, Flags: 0x1,
				CompressedSize64: 1, UncompressedSize64: 1}, body: "x"})
		}, "encrypted"},
		{"deflate bomb with lying size", func(t testing.TB) []byte { return bombZip(t, 1<<20) }, "corrupted"},
		{"deflate bomb claiming its size", func(t testing.TB) []byte { return bombZip(t, 300<<20) }, "Unzipped size must be smaller than 262144000 bytes"},
		{"overlapping entries over the cap", func(t testing.TB) []byte {
			files := make([]zf, 3)
			for i := range files {
				files[i] = zf{raw: &zip.FileHeader{Name: fmt.Sprintf("part%d", i), Method: zip.Store,
					CompressedSize64: 1, UncompressedSize64: 100 << 20}, body: "x"}
			}
			return buildZip(t, files...)
		}, "Unzipped size"},
		{"too many entries", func(t testing.TB) []byte { return manyEntries(t, kumo.MaxZipEntries+1) }, "more than 20000 entries"},
		{"not a zip", func(testing.TB) []byte { return []byte("this is not a zip file at all") }, "not a valid zip"},
		{"empty input", func(testing.TB) []byte { return nil }, "not a valid zip"},
		{"truncated zip", func(testing.TB) []byte { return good[:len(good)/2] }, "not a valid zip"},
		{"bad CRC", func(t testing.TB) []byte {
			return buildZip(t, zf{raw: &zip.FileHeader{Name: "f", Method: zip.Store, CRC32: crc32.ChecksumIEEE([]byte("other")),
				CompressedSize64: 5, UncompressedSize64: 5}, body: "hello"})
		}, "corrupted"},
		{"corrupt deflate data", func(t testing.TB) []byte {
			return buildZip(t, zf{raw: &zip.FileHeader{Name: "f", Method: zip.Deflate, CRC32: 1,
				CompressedSize64: 8, UncompressedSize64: 100}, body: "\xff\xff\xff\xff\xff\xff\xff\xff"})
		}, "corrupted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			scratch := t.TempDir()
			l, _, err := zipLayer(t.Context(), tc.zip(t), "var/task", scratch)
			require.Error(t, err)
			assert.Nil(t, l)
			assert.ErrorIs(t, err, kumo.ErrInvalidZipFile)
			var ke *kumo.Error
			require.ErrorAs(t, err, &ke)
			assert.Contains(t, ke.Message, "Could not unzip uploaded file.")
			assert.Contains(t, ke.Message, tc.wantMsg)
			left, err := os.ReadDir(scratch)
			require.NoError(t, err)
			assert.Empty(t, left, "scratch space must be empty after a rejected zip")
		})
	}
}

// TestCopyZipFileCap shows the byte cap holds on its own, even for an entry
// whose header admits the full size: no more than cap+1 bytes get through.
func TestCopyZipFileCap(t *testing.T) {
	t.Parallel()
	zr, err := zip.NewReader(bytes.NewReader(bombZip(t, 300<<20)), int64(len(bombZip(t, 300<<20))))
	require.NoError(t, err)
	const limit = 1 << 20
	var out countingWriter
	out.w = io.Discard
	tw := tar.NewWriter(&out)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Size: 300 << 20, Mode: 0o644}))
	n, err := copyZipFile(t.Context(), tw, &zipEntry{f: zr.File[0], name: "bomb"}, limit)
	require.ErrorIs(t, err, kumo.ErrInvalidZipFile)
	assert.Contains(t, err.Error(), "Unzipped size")
	assert.Equal(t, int64(limit+1), n)
	assert.LessOrEqual(t, out.n, int64(limit+1+512), "tar header plus at most cap+1 bytes")
}

func TestZipLayerRejectsOversizedRequest(t *testing.T) {
	t.Parallel()
	_, _, err := ZipLayer(t.Context(), make([]byte, kumo.MaxZipBytes+1), "var/task")
	require.ErrorIs(t, err, kumo.ErrRequestTooLarge)
}

func TestZipLayerRejectsBadPrefix(t *testing.T) {
	t.Parallel()
	z := buildZip(t, zf{name: "a", body: "a", mode: 0o644})
	for _, p := range []string{"", ".", "/var/task", "../opt", "a/../../b"} {
		_, _, err := ZipLayer(t.Context(), z, p)
		assert.Error(t, err, "prefix %q", p)
	}
}

func TestZipLayerHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := ZipLayer(ctx, buildZip(t, zf{name: "a", body: "a", mode: 0o644}), "var/task")
	require.ErrorIs(t, err, context.Canceled)
}

func TestZipLayerContents(t *testing.T) {
	t.Parallel()
	inner := buildZip(t, zf{name: "../escape", body: "not recursed", mode: 0o644})
	z := buildZip(t,
		zf{name: "lib/", mode: fs.ModeDir | 0o700},
		zf{name: "lib/liba.so.1", body: "ELF", mode: 0o600},
		zf{name: "lib/liba.so", body: "liba.so.1", mode: fs.ModeSymlink | 0o777},
		zf{name: "lib/self", body: "../lib/./liba.so", mode: fs.ModeSymlink | 0o777},
		zf{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		zf{name: "setuid", body: "s", mode: fs.ModeSetuid | 0o4750},
		zf{name: "deep/er/file.txt", body: "deep", mode: 0o644},
		zf{name: "inner.zip", body: string(inner), mode: 0o644},
	)
	l, stats, err := ZipLayer(t.Context(), z, "var/task")
	require.NoError(t, err)
	requireValidLayer(t, l)
	mt, err := l.MediaType()
	require.NoError(t, err)
	assert.Equal(t, "application/vnd.oci.image.layer.v1.tar", string(mt))

	names, entries := readLayer(t, l)
	assert.Equal(t, []string{
		"var/", "var/task/", "var/task/bootstrap", "var/task/deep/", "var/task/deep/er/",
		"var/task/deep/er/file.txt", "var/task/inner.zip", "var/task/lib/", "var/task/lib/liba.so",
		"var/task/lib/liba.so.1", "var/task/lib/self", "var/task/setuid",
	}, names)

	want := map[string]struct {
		typ  byte
		mode int64
	}{
		"var/":                      {tar.TypeDir, 0o755},
		"var/task/bootstrap":        {tar.TypeReg, 0o755},
		"var/task/deep/":            {tar.TypeDir, 0o755},
		"var/task/deep/er/file.txt": {tar.TypeReg, 0o644},
		"var/task/lib/":             {tar.TypeDir, 0o755},
		"var/task/lib/liba.so":      {tar.TypeSymlink, 0o777},
		"var/task/lib/liba.so.1":    {tar.TypeReg, 0o644},
		"var/task/setuid":           {tar.TypeReg, 0o755},
		"var/task/inner.zip":        {tar.TypeReg, 0o644},
	}
	for name, w := range want {
		e := entries[name]
		require.NotNil(t, e.hdr, name)
		assert.Equal(t, w.typ, e.hdr.Typeflag, name)
		assert.Equal(t, w.mode, e.hdr.Mode, name)
	}
	for name, e := range entries {
		assert.Zero(t, e.hdr.Uid, name)
		assert.Zero(t, e.hdr.Gid, name)
		assert.Empty(t, e.hdr.Uname, name)
	}
	assert.Equal(t, "liba.so.1", entries["var/task/lib/liba.so"].hdr.Linkname)
	assert.Equal(t, "../lib/./liba.so", entries["var/task/lib/self"].hdr.Linkname)
	assert.Equal(t, string(inner), entries["var/task/inner.zip"].body, "a nested zip stays a file")
	assert.Equal(t, "#!/bin/sh\n", entries["var/task/bootstrap"].body)
	assert.True(t, zipTime.Equal(entries["var/task/bootstrap"].hdr.ModTime), "zip mtimes are kept")
	assert.True(t, epoch.Equal(entries["var/task/deep/"].hdr.ModTime), "implied directories get the epoch")

	assert.Equal(t, 7, stats.Files)
	wantBytes := int64(len("ELF") + len("liba.so.1") + len("../lib/./liba.so") + len("#!/bin/sh\n") + len("s") + len("deep") + len(inner))
	assert.Equal(t, wantBytes, stats.UnzippedBytes)
}

func TestZipLayerWithoutUnixModes(t *testing.T) {
	t.Parallel()
	z := buildZip(t,
		zf{name: "bootstrap", body: "run"},
		zf{name: "handler.py", body: "def h(): pass"},
		zf{name: "bin/", body: ""},
	)
	l, _, err := ZipLayer(t.Context(), z, "opt")
	require.NoError(t, err)
	_, entries := readLayer(t, l)
	assert.Equal(t, int64(0o755), entries["opt/bootstrap"].hdr.Mode)
	assert.Equal(t, int64(0o644), entries["opt/handler.py"].hdr.Mode)
	assert.Equal(t, byte(tar.TypeDir), entries["opt/bin/"].hdr.Typeflag)
}

func TestZipLayerIsDeterministic(t *testing.T) {
	t.Parallel()
	z := buildZip(t,
		zf{name: "b/x", body: "x", mode: 0o644},
		zf{name: "a", body: "a", mode: 0o755},
		zf{name: "c", body: "a", mode: fs.ModeSymlink | 0o777},
	)
	digest := func(z []byte, prefix string) v1.Hash {
		l, _, err := ZipLayer(t.Context(), z, prefix)
		require.NoError(t, err)
		h, err := l.Digest()
		require.NoError(t, err)
		return h
	}
	first := digest(z, "var/task")
	assert.Equal(t, first, digest(cloneBytes(z), "var/task"))
	assert.NotEqual(t, first, digest(z, "opt"))
}

func cloneBytes(b []byte) []byte { return append([]byte(nil), b...) }

func TestZipLayerEntryLimit(t *testing.T) {
	t.Parallel()
	l, stats, err := ZipLayer(t.Context(), manyEntries(t, kumo.MaxZipEntries), "var/task")
	require.NoError(t, err)
	assert.Equal(t, kumo.MaxZipEntries, stats.Files)
	names, _ := readLayer(t, l)
	assert.Len(t, names, kumo.MaxZipEntries+2)
}

func TestZipLayerEmptyZip(t *testing.T) {
	t.Parallel()
	l, stats, err := ZipLayer(t.Context(), buildZip(t), "var/task")
	require.NoError(t, err)
	names, _ := readLayer(t, l)
	assert.Equal(t, []string{"var/", "var/task/"}, names)
	assert.Zero(t, stats)
}
