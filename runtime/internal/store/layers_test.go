package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func testLayerVersion(name string) *kumo.LayerVersion {
	return &kumo.LayerVersion{
		Name:               name,
		Description:        "d",
		CompatibleRuntimes: []string{"provided.al2023"},
		CreatedDate:        time.Unix(1700000000, 0).UTC(),
		CodeSha256:         "sha",
		CodeSize:           10,
		Digest:             "sha256:abc",
	}
}

func TestLayerVersions_Numbering(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()

	for want := int64(1); want <= 3; want++ {
		lv := testLayerVersion("lib")
		n, err := s.CreateLayerVersion(ctx, lv)
		require.NoError(t, err)
		assert.Equal(t, want, n)
		assert.Equal(t, want, lv.Version)
	}
	n, err := s.CreateLayerVersion(ctx, testLayerVersion("other"))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n, "numbers are per layer")

	got, err := s.GetLayerVersion(ctx, "lib", 2)
	require.NoError(t, err)
	assert.Equal(t, "lib", got.Name)
	assert.Equal(t, int64(2), got.Version)
	assert.Equal(t, []string{"provided.al2023"}, got.CompatibleRuntimes)

	// Deleting every version keeps the counter: numbers are never reused.
	for v := int64(1); v <= 3; v++ {
		require.NoError(t, s.DeleteLayerVersion(ctx, "lib", v))
	}
	require.NoError(t, s.DeleteLayerVersion(ctx, "lib", 3), "idempotent")
	require.NoError(t, s.DeleteLayerVersion(ctx, "never", 1), "idempotent for unknown layers")
	_, err = s.GetLayerVersion(ctx, "lib", 3)
	require.ErrorIs(t, err, kumo.ErrNotFound)
	vs, err := s.ListLayerVersions(ctx, "lib")
	require.NoError(t, err)
	assert.Empty(t, vs)

	n, err = s.CreateLayerVersion(ctx, testLayerVersion("lib"))
	require.NoError(t, err)
	assert.Equal(t, int64(4), n)

	all, err := s.ListLayerVersions(ctx, "")
	require.NoError(t, err)
	var keys []string
	for _, lv := range all {
		keys = append(keys, layerKey(lv.Name, lv.Version))
	}
	assert.Equal(t, []string{"lib.4", "other.1"}, keys)
}

func TestLayerVersions_ConcurrentPublish(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	got := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = s.CreateLayerVersion(ctx, testLayerVersion("race")) })
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i := range n {
		require.NoError(t, errs[i])
		assert.False(t, seen[got[i]], "version %d handed out twice", got[i])
		seen[got[i]] = true
	}
	vs, err := s.ListLayerVersions(ctx, "race")
	require.NoError(t, err)
	assert.Len(t, vs, n)
}

func TestLayerVersions_BadNames(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	for _, bad := range []string{"", "a.b", "*", ">", "a b", "x.*"} {
		_, err := s.CreateLayerVersion(ctx, testLayerVersion(bad))
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, bad)
		_, err = s.GetLayerVersion(ctx, bad, 1)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, bad)
		require.ErrorIs(t, s.DeleteLayerVersion(ctx, bad, 1), kumo.ErrInvalidParameter, bad)
	}
	_, err := s.GetLayerVersion(ctx, "ok", 0)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}
