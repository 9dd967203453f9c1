package image

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireValidImage runs ggcr's validate.Image on img. ggcr's full layer
// check assumes gzip (it feeds Compressed() to gzip.NewReader), which our
// uncompressed layers are not, so layers are checked in Fast mode there and
// fully by requireValidLayer, which makes the same checks for any layer
// media type.
func requireValidImage(t testing.TB, img v1.Image) {
	t.Helper()
	require.NoError(t, validate.Image(img, validate.Fast))
	layers, err := img.Layers()
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	require.Len(t, m.Layers, len(layers))
	require.Len(t, cfg.RootFS.DiffIDs, len(layers))
	for i, l := range layers {
		requireValidLayer(t, l)
		d, err := l.Digest()
		require.NoError(t, err)
		size, err := l.Size()
		require.NoError(t, err)
		diffID, err := l.DiffID()
		require.NoError(t, err)
		mt, err := l.MediaType()
		require.NoError(t, err)
		assert.Equal(t, m.Layers[i].Digest, d, "layer %d digest", i)
		assert.Equal(t, m.Layers[i].Size, size, "layer %d size", i)
		assert.Equal(t, m.Layers[i].MediaType, mt, "layer %d media type", i)
		assert.Equal(t, cfg.RootFS.DiffIDs[i], diffID, "layer %d diff ID", i)
	}
}

// requireValidLayer checks what validate.Layer checks, without assuming
// gzip: Digest and Size match Compressed(), DiffID matches Uncompressed(),
// and the tar has no duplicate paths.
func requireValidLayer(t testing.TB, l v1.Layer) {
	t.Helper()
	rc, err := l.Compressed()
	require.NoError(t, err)
	gotDigest, gotSize, err := v1.SHA256(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	d, err := l.Digest()
	require.NoError(t, err)
	size, err := l.Size()
	require.NoError(t, err)
	assert.Equal(t, d, gotDigest, "Digest() vs sha256(Compressed())")
	assert.Equal(t, size, gotSize, "Size() vs len(Compressed())")

	rc, err = l.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(io.TeeReader(rc, pw))
		seen := map[string]bool{}
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if seen[hdr.Name] {
				pw.CloseWithError(errors.New("duplicate path " + hdr.Name))
				return
			}
			seen[hdr.Name] = true
		}
		_, err := io.Copy(pw, rc)
		pw.CloseWithError(err)
	}()
	gotDiffID, _, err := v1.SHA256(pr)
	require.NoError(t, err)
	diffID, err := l.DiffID()
	require.NoError(t, err)
	assert.Equal(t, diffID, gotDiffID, "DiffID() vs sha256(Uncompressed())")
}
