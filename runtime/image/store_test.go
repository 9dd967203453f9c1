package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// openStore opens a store in a fresh directory, with hermetic stand-ins
// for the host's CA bundle and tzdata.
func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	require.NoError(t, err)
	host := t.TempDir()
	s.caBundle = filepath.Join(host, "ca.crt")
	require.NoError(t, os.WriteFile(s.caBundle, []byte("-----BEGIN CERTIFICATE-----\ntest\n-----END CERTIFICATE-----\n"), 0o600))
	s.zoneinfoDir = filepath.Join(host, "zoneinfo")
	require.NoError(t, os.MkdirAll(filepath.Join(s.zoneinfoDir, "Europe"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(s.zoneinfoDir, "UTC"), []byte("TZif2 utc"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(s.zoneinfoDir, "Europe", "Paris"), []byte("TZif2 paris"), 0o600))
	require.NoError(t, os.Symlink("UTC", filepath.Join(s.zoneinfoDir, "Zulu")))
	return s
}

// ociBase is an empty OCI image to stack test layers on.
func ociBase() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// te is one entry of a test tar layer.
type te struct {
	name string
	typ  byte
	body string
	mode int64
	link string
	uid  int
}

func tarBytes(t testing.TB, entries ...te) []byte {
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
		}
		hdr := &tar.Header{Name: e.name, Typeflag: typ, Mode: mode, Linkname: e.link, Uid: e.uid, Gid: e.uid, ModTime: zipTime}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		require.NoError(t, tw.WriteHeader(hdr))
		if typ == tar.TypeReg {
			_, err := io.WriteString(tw, e.body)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// gzipLayer builds a gzip layer the way registries serve them.
func gzipLayer(t testing.TB, entries ...te) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
	require.NoError(t, err)
	return l
}

// rawLayer builds an uncompressed layer like the ones kumo makes.
func rawLayer(t testing.TB, entries ...te) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	sum := sha256.Sum256(b)
	return &tarLayer{digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, size: int64(len(b)), data: bytes.NewReader(b)}
}

func putCode(t testing.TB, s *Store, files ...zf) (v1.Hash, v1.Layer) {
	t.Helper()
	base, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	code, _, err := s.ZipLayer(t.Context(), buildZip(t, files...), "var/task")
	require.NoError(t, err)
	d, err := s.Put(t.Context(), base, code)
	require.NoError(t, err)
	return d, code
}

func TestOpenRejectsNilLogger(t *testing.T) {
	t.Parallel()
	_, err := Open(t.TempDir(), WithLogger(nil))
	require.Error(t, err)
}

func TestPutImageRoundTrip(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, code := putCode(t, s, zf{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755})

	img, err := s.Image(t.Context(), d)
	require.NoError(t, err)
	requireValidImage(t, img)
	got, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, d, got)
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 2)
	codeDigest, err := code.Digest()
	require.NoError(t, err)
	gotCode, err := layers[1].Digest()
	require.NoError(t, err)
	assert.Equal(t, codeDigest, gotCode)
	_, entries := readLayer(t, layers[1])
	assert.Equal(t, "#!/bin/sh\n", entries["var/task/bootstrap"].body)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "/var/task", cfg.Config.WorkingDir)
	assert.Len(t, cfg.History, 2)

	// Identical code gives the identical image, recorded once.
	d2, _ := putCode(t, s, zf{name: "bootstrap", body: "#!/bin/sh\n", mode: 0o755})
	assert.Equal(t, d, d2)
	idx, err := s.readIndex()
	require.NoError(t, err)
	n := 0
	for _, m := range idx.Manifests {
		if m.Digest == d {
			n++
		}
	}
	assert.Equal(t, 1, n)

	// The layout survives reopening.
	s2, err := Open(s.dir)
	require.NoError(t, err)
	img2, err := s2.Image(t.Context(), d)
	require.NoError(t, err)
	requireValidImage(t, img2)
}

func TestPutForeignLayers(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, err := s.Put(t.Context(), ociBase(), gzipLayer(t, te{name: "a", body: "gz"}), rawLayer(t, te{name: "b", body: "raw"}))
	require.NoError(t, err)
	img, err := s.Image(t.Context(), d)
	require.NoError(t, err)
	requireValidImage(t, img)
	dirs, err := s.Unpack(t.Context(), d)
	require.NoError(t, err)
	require.Len(t, dirs, 2)
	b, err := os.ReadFile(filepath.Join(dirs[0], "a"))
	require.NoError(t, err)
	assert.Equal(t, "gz", string(b))
	b, err = os.ReadFile(filepath.Join(dirs[1], "b"))
	require.NoError(t, err)
	assert.Equal(t, "raw", string(b))
}

// lyingLayer claims another layer's digest.
type lyingLayer struct {
	v1.Layer
	digest v1.Hash
}

func (l lyingLayer) Digest() (v1.Hash, error) { return l.digest, nil }

func TestPutRejectsLayerWithWrongDigest(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	honest := rawLayer(t, te{name: "a", body: "a"})
	claimed := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(make([]byte, 32))}
	_, err := s.Put(t.Context(), ociBase(), lyingLayer{Layer: honest, digest: claimed})
	require.ErrorIs(t, err, errDigestMismatch)
	assert.NoFileExists(t, s.blobPath(claimed))
	left, err := os.ReadDir(s.tmpDir)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestDigestsAreValidated(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	bad := []v1.Hash{
		{Algorithm: "sha256", Hex: "../../../../etc/passwd"},
		{Algorithm: "sha512", Hex: hex.EncodeToString(make([]byte, 32))},
		{Algorithm: "sha256", Hex: "AB" + hex.EncodeToString(make([]byte, 31))},
		{},
	}
	for _, h := range bad {
		_, err := s.Image(t.Context(), h)
		assert.ErrorIs(t, err, kumo.ErrInvalidParameter, "Image(%q)", h)
		_, err = s.Unpack(t.Context(), h)
		assert.ErrorIs(t, err, kumo.ErrInvalidParameter, "Unpack(%q)", h)
		assert.ErrorIs(t, s.GC(t.Context(), []v1.Hash{h}), kumo.ErrInvalidParameter, "GC(%q)", h)
	}
}

func TestImageNotFound(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	missing := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(make([]byte, 32))}
	_, err := s.Image(t.Context(), missing)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, err = s.Unpack(t.Context(), missing)
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestImageRejectsNonManifest(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d, _ := putCode(t, s, zf{name: "a", body: "a", mode: 0o644})
	img, err := s.Image(t.Context(), d)
	require.NoError(t, err)
	cfgName, err := img.ConfigName()
	require.NoError(t, err)
	_, err = s.Image(t.Context(), cfgName)
	require.Error(t, err)
}

func TestCorruptedBlobs(t *testing.T) {
	t.Parallel()
	flip := func(t *testing.T, p string) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)/2] ^= 0x01
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	truncate := func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.NoError(t, os.Truncate(p, fi.Size()-1))
	}
	tests := []struct {
		name string
		// blob picks the blob to damage.
		blob     func(*testing.T, v1.Image) v1.Hash
		damage   func(*testing.T, string)
		imageErr bool
	}{
		{"manifest flipped", func(t *testing.T, img v1.Image) v1.Hash { d, _ := img.Digest(); return d }, flip, true},
		{"config flipped", func(t *testing.T, img v1.Image) v1.Hash { d, _ := img.ConfigName(); return d }, flip, true},
		{"code layer flipped", layerBlob(1), flip, false},
		{"code layer truncated", layerBlob(1), truncate, false},
		{"base layer flipped", layerBlob(0), flip, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			d, _ := putCode(t, s, zf{name: "bootstrap", body: string(bytes.Repeat([]byte("code"), 4096)), mode: 0o755})
			img, err := s.Image(t.Context(), d)
			require.NoError(t, err)
			victim := tc.blob(t, img)
			tc.damage(t, s.blobPath(victim))

			img, err = s.Image(t.Context(), d)
			if tc.imageErr {
				require.ErrorIs(t, err, errDigestMismatch)
			} else {
				require.NoError(t, err)
				l, err := img.LayerByDigest(victim)
				require.NoError(t, err)
				rc, err := l.Compressed()
				if err == nil {
					_, err = io.ReadAll(rc)
					rc.Close()
				}
				require.ErrorIs(t, err, errDigestMismatch, "reading a corrupted layer must fail")
			}
			_, err = s.Unpack(t.Context(), d)
			require.Error(t, err)
			assert.NoDirExists(t, filepath.Join(s.layerDir, victim.Hex))
			left, err := os.ReadDir(s.tmpDir)
			require.NoError(t, err)
			assert.Empty(t, left, "a failed unpack leaves no scratch behind")

			// Putting the same image again repairs the store.
			if !tc.imageErr {
				d2, _ := putCode(t, s, zf{name: "bootstrap", body: string(bytes.Repeat([]byte("code"), 4096)), mode: 0o755})
				require.Equal(t, d, d2)
				_, err = s.Unpack(t.Context(), d)
				require.NoError(t, err)
			}
		})
	}
}

func layerBlob(i int) func(*testing.T, v1.Image) v1.Hash {
	return func(t *testing.T, img v1.Image) v1.Hash {
		m, err := img.Manifest()
		require.NoError(t, err)
		return m.Layers[i].Digest
	}
}

func TestGC(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	keep, keepCode := putCode(t, s, zf{name: "bootstrap", body: "keep", mode: 0o755})
	drop, dropCode := putCode(t, s, zf{name: "bootstrap", body: "drop", mode: 0o755})
	keepDirs, err := s.Unpack(t.Context(), keep)
	require.NoError(t, err)
	dropDirs, err := s.Unpack(t.Context(), drop)
	require.NoError(t, err)
	base, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	baseDigest, err := base.Digest()
	require.NoError(t, err)
	missing := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(make([]byte, 32))}

	require.NoError(t, s.GC(t.Context(), []v1.Hash{keep, missing}))

	img, err := s.Image(t.Context(), keep)
	require.NoError(t, err)
	requireValidImage(t, img)
	dirs, err := s.Unpack(t.Context(), keep)
	require.NoError(t, err)
	assert.Equal(t, keepDirs, dirs)
	for _, d := range keepDirs {
		assert.DirExists(t, d)
	}

	_, err = s.Image(t.Context(), drop)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	dropCodeDigest, err := dropCode.Digest()
	require.NoError(t, err)
	keepCodeDigest, err := keepCode.Digest()
	require.NoError(t, err)
	assert.NoFileExists(t, s.blobPath(dropCodeDigest))
	assert.FileExists(t, s.blobPath(keepCodeDigest))
	assert.NoDirExists(t, dropDirs[1])
	assert.DirExists(t, dropDirs[0], "the base layer is shared with the kept image")
	assert.NoFileExists(t, s.blobPath(baseDigest), "the base manifest itself was not kept")

	idx, err := s.readIndex()
	require.NoError(t, err)
	require.Len(t, idx.Manifests, 1)
	assert.Equal(t, keep, idx.Manifests[0].Digest)
	raw, err := os.ReadFile(filepath.Join(s.layoutDir, "index.json"))
	require.NoError(t, err)
	assert.True(t, json.Valid(raw))

	// The base is rebuilt on demand, to the same digest.
	base, err = s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	again, err := base.Digest()
	require.NoError(t, err)
	assert.Equal(t, baseDigest, again)

	// Keeping nothing empties the store.
	require.NoError(t, s.GC(t.Context(), nil))
	for _, dir := range []string{s.blobDir, s.layerDir, s.tmpDir} {
		left, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, left, dir)
	}
}

func TestGCKeepsEverythingWhenAKeptImageIsUnreadable(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	keep, _ := putCode(t, s, zf{name: "bootstrap", body: "keep", mode: 0o755})
	other, _ := putCode(t, s, zf{name: "bootstrap", body: "other", mode: 0o755})
	require.NoError(t, os.WriteFile(s.blobPath(keep), []byte("{garbage"), 0o644))
	before, err := os.ReadDir(s.blobDir)
	require.NoError(t, err)

	require.Error(t, s.GC(t.Context(), []v1.Hash{keep}))
	after, err := os.ReadDir(s.blobDir)
	require.NoError(t, err)
	assert.Equal(t, names(before), names(after))
	_, err = s.Image(t.Context(), other)
	require.NoError(t, err)
}

func names(es []fs.DirEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name()
	}
	return out
}
