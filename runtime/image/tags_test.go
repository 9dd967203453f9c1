package image

import (
	"context"
	"encoding/hex"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t)
	a, _ := putCode(t, s, zf{name: "bootstrap", body: "a", mode: 0o755})
	b, _ := putCode(t, s, zf{name: "bootstrap", body: "b", mode: 0o755})
	desc := func(h v1.Hash) v1.Descriptor {
		m, err := s.image(ctx, h)
		require.NoError(t, err)
		return v1.Descriptor{MediaType: m.manifest.MediaType, Size: int64(len(m.rawManifest)), Digest: h}
	}
	missing := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(make([]byte, 32))}

	for _, tc := range []struct {
		name, repo, tag string
		desc            v1.Descriptor
		want            error
	}{
		{"empty repo", "", "v1", desc(a), kumo.ErrInvalidParameter},
		{"empty tag", "r", "", desc(a), kumo.ErrInvalidParameter},
		{"colon in repo", "r:x", "v1", desc(a), kumo.ErrInvalidParameter},
		{"slash in tag", "r", "a/b", desc(a), kumo.ErrInvalidParameter},
		{"NUL", "r\x00", "v1", desc(a), kumo.ErrInvalidParameter},
		{"missing manifest", "r", "v1", v1.Descriptor{Digest: missing}, kumo.ErrNotFound},
		{"bad digest", "r", "v1", v1.Descriptor{Digest: v1.Hash{Algorithm: "md5", Hex: "00"}}, kumo.ErrInvalidParameter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, s.Tag(ctx, tc.repo, tc.tag, tc.desc), tc.want)
		})
	}

	require.NoError(t, s.Tag(ctx, "team/app", "v1", desc(a)))
	require.NoError(t, s.Tag(ctx, "team/app", "v2", desc(a)))
	require.NoError(t, s.Tag(ctx, "team/app", "v1", desc(b)), "retagging moves the tag")
	require.NoError(t, s.Tag(ctx, "other", "v1", desc(b)))
	got, err := s.Lookup(ctx, "team/app", "v1")
	require.NoError(t, err)
	require.Equal(t, b, got.Digest)
	tags, err := s.Tags(ctx, "team/app")
	require.NoError(t, err)
	require.Equal(t, []string{"v1", "v2"}, tags)
	tagged, err := s.Tagged(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []v1.Hash{b, a, b}, tagged)

	require.NoError(t, s.Untag(ctx, "team/app", "v1"))
	require.NoError(t, s.Untag(ctx, "team/app", "v1"), "untagging twice is fine")
	_, err = s.Lookup(ctx, "team/app", "v1")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	// Tags survive a reopen: they live in index.json.
	s2, err := Open(s.dir)
	require.NoError(t, err)
	got, err = s2.Lookup(ctx, "team/app", "v2")
	require.NoError(t, err)
	require.Equal(t, a, got.Digest)
}
