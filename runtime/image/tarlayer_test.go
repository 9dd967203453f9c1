package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTarLayerAndPutImage(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	write := func(tw *tar.Writer) error {
		body := []byte("#!/bin/sh\n")
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "var/", Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "var/run.sh", Mode: 0o755, ModTime: epoch, Size: int64(len(body))}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	l, err := s.TarLayer(t.Context(), write)
	require.NoError(t, err)
	requireValidLayer(t, l)
	rc, err := l.Compressed()
	require.NoError(t, err)
	raw, err := io.ReadAll(rc)
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	d, err := l.Digest()
	require.NoError(t, err)
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), d.String())
	names, entries := readLayer(t, l)
	assert.Equal(t, []string{"var/", "var/run.sh"}, names)
	assert.Equal(t, int64(0o755), entries["var/run.sh"].hdr.Mode)
	assert.Equal(t, "#!/bin/sh\n", entries["var/run.sh"].body)

	again, err := s.TarLayer(t.Context(), write)
	require.NoError(t, err)
	d2, err := again.Digest()
	require.NoError(t, err)
	assert.Equal(t, d, d2)
	// The scratch file is unlinked from the start: nothing is left in tmp.
	left, err := os.ReadDir(s.tmpDir)
	require.NoError(t, err)
	assert.Empty(t, left)

	boom := errors.New("boom")
	_, err = s.TarLayer(t.Context(), func(*tar.Writer) error { return boom })
	require.ErrorIs(t, err, boom)

	// PutImage stores an image as built: its own history, no extra layer.
	skeleton, err := s.SkeletonLayer(t.Context())
	require.NoError(t, err)
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: skeleton, History: v1.History{CreatedBy: "skeleton"}},
		mutate.Addendum{Layer: l, History: v1.History{CreatedBy: "script"}})
	require.NoError(t, err)
	want, err := img.Digest()
	require.NoError(t, err)
	got, err := s.PutImage(t.Context(), img)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	stored, err := s.Image(t.Context(), got)
	require.NoError(t, err)
	requireValidImage(t, stored)
	cfg, err := stored.ConfigFile()
	require.NoError(t, err)
	require.Len(t, cfg.History, 2)
	assert.Equal(t, "script", cfg.History[1].CreatedBy)
	require.NoError(t, l.(io.Closer).Close())
}
