package image

import (
	"context"
	"os"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"
)

func TestCollectGracePeriod(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	old, oldCode := putCode(t, s, zf{name: "bootstrap", body: "old", mode: 0o755})
	_, err := s.Unpack(ctx, old)
	require.NoError(t, err)
	oldDigest, err := oldCode.Digest()
	require.NoError(t, err)

	// Everything was just written: a grace period spares it.
	st, err := s.Collect(ctx, nil, time.Hour)
	require.NoError(t, err)
	require.Zero(t, st.Blobs)
	require.Zero(t, st.Layers)
	require.Positive(t, st.GraceSkips)
	require.FileExists(t, s.blobPath(oldDigest))

	// Reusing an old blob counts as fresh too: a CreateFunction that stores
	// the same code again is between Put and its function record.
	past := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(s.blobPath(oldDigest), past, past))
	s.recent.Store(oldDigest.Hex, past)
	again, _ := putCode(t, s, zf{name: "bootstrap", body: "old", mode: 0o755})
	require.Equal(t, old, again)
	st, err = s.Collect(ctx, nil, time.Hour)
	require.NoError(t, err)
	require.FileExists(t, s.blobPath(oldDigest))

	// With no grace, nothing unkept survives; tagged images are kept by
	// the caller passing Tagged().
	tagged, _ := putCode(t, s, zf{name: "bootstrap", body: "tagged", mode: 0o755})
	m, err := s.image(ctx, tagged)
	require.NoError(t, err)
	require.NoError(t, s.Tag(ctx, "repo/x", "v1", v1.Descriptor{MediaType: m.manifest.MediaType, Size: int64(len(m.rawManifest)), Digest: tagged}))
	keep, err := s.Tagged(ctx)
	require.NoError(t, err)
	require.Equal(t, []v1.Hash{tagged}, keep)
	st, err = s.Collect(ctx, keep, 0)
	require.NoError(t, err)
	require.Positive(t, st.Blobs)
	require.Positive(t, st.Layers)
	require.NoFileExists(t, s.blobPath(oldDigest))
	_, err = s.Image(ctx, tagged)
	require.NoError(t, err)
	d, err := s.Lookup(ctx, "repo/x", "v1")
	require.NoError(t, err)
	require.Equal(t, tagged, d.Digest)
}
