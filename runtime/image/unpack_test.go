package image

import (
	"archive/tar"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnpackZipImage(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, _ := putCode(t, s,
		zf{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755},
		zf{name: "lib/libx.so.1", body: "ELF", mode: 0o644},
		zf{name: "lib/libx.so", body: "libx.so.1", mode: fs.ModeSymlink | 0o777},
	)
	dirs, err := s.Unpack(t.Context(), d)
	require.NoError(t, err)
	require.Len(t, dirs, 2)

	fi, err := os.Stat(filepath.Join(dirs[1], "var/task/bootstrap"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), fi.Mode())
	assert.True(t, zipTime.Equal(fi.ModTime()), "mtime comes from the zip")
	target, err := os.Readlink(filepath.Join(dirs[1], "var/task/lib/libx.so"))
	require.NoError(t, err)
	assert.Equal(t, "libx.so.1", target)
	fi, err = os.Stat(dirs[1])
	require.NoError(t, err)
	assert.Equal(t, fs.ModeDir|0o755, fi.Mode())
	assert.FileExists(t, filepath.Join(dirs[0], "etc/passwd"))
	assert.NoFileExists(t, filepath.Join(dirs[0], "var/task/bootstrap"), "each layer gets its own directory")
}

func TestUnpackCachesLayers(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d1, _ := putCode(t, s, zf{name: "bootstrap", body: "one", mode: 0o755})
	d2, _ := putCode(t, s, zf{name: "bootstrap", body: "two", mode: 0o755})
	dirs1, err := s.Unpack(t.Context(), d1)
	require.NoError(t, err)
	// A marker that only survives if the cached layer is not unpacked again.
	marker := filepath.Join(dirs1[1], "marker")
	require.NoError(t, os.WriteFile(marker, nil, 0o600))

	again, err := s.Unpack(t.Context(), d1)
	require.NoError(t, err)
	assert.Equal(t, dirs1, again)
	assert.FileExists(t, marker)

	dirs2, err := s.Unpack(t.Context(), d2)
	require.NoError(t, err)
	assert.Equal(t, dirs1[0], dirs2[0], "images share their base layer's directory")
	assert.NotEqual(t, dirs1[1], dirs2[1])
}

func TestUnpackConcurrently(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, _ := putCode(t, s, zf{name: "bootstrap", body: strings.Repeat("x", 1<<20), mode: 0o755})
	const n = 8
	results := make([][]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = s.Unpack(t.Context(), d) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, results[0], results[i])
	}
	b, err := os.ReadFile(filepath.Join(results[0][1], "var/task/bootstrap"))
	require.NoError(t, err)
	assert.Len(t, b, 1<<20)
	left, err := os.ReadDir(s.tmpDir)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestUnpackHonoursContext(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, _ := putCode(t, s, zf{name: "bootstrap", body: "x", mode: 0o755})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Unpack(ctx, d)
	require.ErrorIs(t, err, context.Canceled)
	// A later caller is not stuck with the cancelled attempt.
	_, err = s.Unpack(t.Context(), d)
	require.NoError(t, err)
}

// hostileCase is one hostile layer. canary is a directory outside the
// store holding a file named "canary"; entries may refer to it.
type hostileCase struct {
	name    string
	entries func(canary string) []te
	wantErr string
	check   func(t *testing.T, dir, canary string)
}

func TestUnpackHostileLayers(t *testing.T) {
	t.Parallel()
	up := strings.Repeat("../", 24)
	tests := []hostileCase{
		{
			name:    "parent traversal",
			entries: func(c string) []te { return []te{{name: up + c[1:] + "/pwned", body: "x"}} },
			wantErr: `".."`,
		},
		{
			name:    "traversal inside a path",
			entries: func(c string) []te { return []te{{name: "a/../../x", body: "x"}} },
			wantErr: `".."`,
		},
		{
			name:    "absolute path is neutralised",
			entries: func(c string) []te { return []te{{name: c + "/pwned", body: "x"}} },
			check: func(t *testing.T, dir, c string) {
				b, err := os.ReadFile(filepath.Join(dir, c, "pwned"))
				require.NoError(t, err)
				assert.Equal(t, "x", string(b))
			},
		},
		{
			name: "absolute symlink then a write through it",
			entries: func(c string) []te {
				return []te{{name: "evil", typ: tar.TypeSymlink, link: c}, {name: "evil/pwned", body: "x"}}
			},
			wantErr: "is a symlink",
		},
		{
			name: "relative symlink escape then a write through it",
			entries: func(c string) []te {
				return []te{{name: "d/evil", typ: tar.TypeSymlink, link: up + c[1:]}, {name: "d/evil/pwned", body: "x"}}
			},
			wantErr: "is a symlink",
		},
		{
			name: "symlink inside the layer then a write through it",
			entries: func(string) []te {
				return []te{{name: "real/", typ: tar.TypeDir, mode: 0o755}, {name: "alias", typ: tar.TypeSymlink, link: "real"}, {name: "alias/x", body: "x"}}
			},
			wantErr: "is a symlink",
		},
		{
			name: "symlink to a host file is kept as a link, never followed",
			entries: func(c string) []te {
				return []te{{name: "link", typ: tar.TypeSymlink, link: c + "/canary"}}
			},
			check: func(t *testing.T, dir, c string) {
				target, err := os.Readlink(filepath.Join(dir, "link"))
				require.NoError(t, err)
				assert.Equal(t, c+"/canary", target)
			},
		},
		{
			name: "file replaces a symlink to a host file",
			entries: func(c string) []te {
				return []te{{name: "link", typ: tar.TypeSymlink, link: c + "/canary"}, {name: "link", body: "overwritten"}}
			},
			check: func(t *testing.T, dir, _ string) {
				fi, err := os.Lstat(filepath.Join(dir, "link"))
				require.NoError(t, err)
				assert.True(t, fi.Mode().IsRegular())
			},
		},
		{
			name:    "hard link to an absolute host file",
			entries: func(c string) []te { return []te{{name: "hl", typ: tar.TypeLink, link: c + "/canary"}} },
			wantErr: "hard link target",
		},
		{
			name:    "hard link climbing out",
			entries: func(c string) []te { return []te{{name: "hl", typ: tar.TypeLink, link: up + c[1:] + "/canary"}} },
			wantErr: `".."`,
		},
		{
			name: "hard link to a symlink to a host file",
			entries: func(c string) []te {
				return []te{{name: "s", typ: tar.TypeSymlink, link: c + "/canary"}, {name: "hl", typ: tar.TypeLink, link: "s"}}
			},
			wantErr: "not a regular file",
		},
		{
			name: "hard link through a symlinked directory",
			entries: func(c string) []te {
				return []te{{name: "s", typ: tar.TypeSymlink, link: c}, {name: "hl", typ: tar.TypeLink, link: "s/canary"}}
			},
			wantErr: "is a symlink",
		},
		{
			name: "hard link within the layer",
			entries: func(string) []te {
				return []te{{name: "a", body: "shared"}, {name: "b", typ: tar.TypeLink, link: "a"}}
			},
			check: func(t *testing.T, dir, _ string) {
				a, err := os.Stat(filepath.Join(dir, "a"))
				require.NoError(t, err)
				b, err := os.Stat(filepath.Join(dir, "b"))
				require.NoError(t, err)
				assert.True(t, os.SameFile(a, b))
			},
		},
		{
			name: "devices and FIFOs are skipped",
			entries: func(string) []te {
				return []te{{name: "dev/", typ: tar.TypeDir, mode: 0o755}, {name: "dev/null", typ: tar.TypeChar}, {name: "dev/sda", typ: tar.TypeBlock}, {name: "fifo", typ: tar.TypeFifo}}
			},
			check: func(t *testing.T, dir, _ string) {
				for _, n := range []string{"dev/null", "dev/sda", "fifo"} {
					_, err := os.Lstat(filepath.Join(dir, n))
					assert.ErrorIs(t, err, fs.ErrNotExist, n)
				}
			},
		},
		{
			name: "setuid and setgid are stripped",
			entries: func(string) []te {
				return []te{
					{name: "sgid/", typ: tar.TypeDir, mode: 0o2755}, {name: "sgid/suid", body: "x", mode: 0o4755},
					{name: "tmp/", typ: tar.TypeDir, mode: 0o1777}, {name: "ro/", typ: tar.TypeDir, mode: 0o555}, {name: "ro/f", body: "x", mode: 0o444},
				}
			},
			check: func(t *testing.T, dir, _ string) {
				modes := map[string]fs.FileMode{
					"sgid/suid": 0o755, "sgid": fs.ModeDir | 0o755, "tmp": fs.ModeDir | fs.ModeSticky | 0o777,
					"ro": fs.ModeDir | 0o555, "ro/f": 0o444,
				}
				for n, want := range modes {
					fi, err := os.Lstat(filepath.Join(dir, n))
					require.NoError(t, err, n)
					assert.Equal(t, want, fi.Mode(), n)
				}
			},
		},
		{
			name: "later entries replace earlier ones",
			entries: func(string) []te {
				return []te{{name: "x", body: "file"}, {name: "x/", typ: tar.TypeDir, mode: 0o755}, {name: "x/y", body: "y"}, {name: "z/w", body: "w"}, {name: "z", body: "now a file"}}
			},
			check: func(t *testing.T, dir, _ string) {
				assert.DirExists(t, filepath.Join(dir, "x"))
				assert.FileExists(t, filepath.Join(dir, "x/y"))
				b, err := os.ReadFile(filepath.Join(dir, "z"))
				require.NoError(t, err)
				assert.Equal(t, "now a file", string(b))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			canary := t.TempDir()
			canaryFile := filepath.Join(canary, "canary")
			require.NoError(t, os.WriteFile(canaryFile, []byte("precious"), 0o600))
			before, err := os.Stat(canaryFile)
			require.NoError(t, err)

			layer := gzipLayer(t, tc.entries(canary)...)
			d, err := s.Put(t.Context(), ociBase(), layer)
			require.NoError(t, err)
			dirs, err := s.Unpack(t.Context(), d)

			// Stat before reading: reading updates the access time.
			after, statErr := os.Stat(canaryFile)
			require.NoError(t, statErr)
			assert.Equal(t, before.Sys(), after.Sys(), "canary inode, links, owner, mode and times")
			b, readErr := os.ReadFile(canaryFile)
			require.NoError(t, readErr)
			assert.Equal(t, "precious", string(b), "canary content")
			left, listErr := os.ReadDir(canary)
			require.NoError(t, listErr)
			assert.Equal(t, []string{"canary"}, names(left), "nothing new next to the canary")

			layerDigest, digestErr := layer.Digest()
			require.NoError(t, digestErr)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.NoDirExists(t, filepath.Join(s.layerDir, layerDigest.Hex))
				scratch, err := os.ReadDir(s.tmpDir)
				require.NoError(t, err)
				assert.Empty(t, scratch)
				return
			}
			require.NoError(t, err)
			require.Len(t, dirs, 1)
			tc.check(t, dirs[0], canary)
		})
	}
}

func TestCleanTarName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "a/b", want: "a/b"},
		{in: "./a/./b/", want: "a/b"},
		{in: "/etc/passwd", want: "etc/passwd"},
		{in: "//a//b", want: "a/b"},
		{in: "./", want: "."},
		{in: "/", want: "."},
		{in: "../a", wantErr: true},
		{in: "a/../../b", wantErr: true},
		{in: "a/..", wantErr: true},
		{in: "a\x00b", wantErr: true},
	}
	for _, tc := range tests {
		got, err := cleanTarName(tc.in)
		if tc.wantErr {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestVerifyingReader(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, err := s.Put(t.Context(), ociBase(), rawLayer(t, te{name: "a", body: "a"}))
	require.NoError(t, err)
	img, err := s.Image(t.Context(), d)
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	vr, err := s.openBlob(m.Layers[0])
	require.NoError(t, err)
	defer vr.Close()
	// Reading only part of a blob does not count as verified.
	_, err = vr.Read(make([]byte, 10))
	require.NoError(t, err)
	assert.False(t, vr.ok)
	require.NoError(t, vr.verified())

	wrong := m.Layers[0]
	wrong.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("0", 64)}
	require.NoError(t, os.Link(s.blobPath(m.Layers[0].Digest), s.blobPath(wrong.Digest)))
	vr2, err := s.openBlob(wrong)
	require.NoError(t, err)
	defer vr2.Close()
	assert.True(t, errors.Is(vr2.verified(), errDigestMismatch))
}
