package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestAccessKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		function, qualifier, want string
		ok                        bool
	}{
		{"f", "", "f", true},
		{"f", "live", "f.live", true},
		{"f", "7", "f.7", true},
		{"f", "$LATEST", "", false},
		{"f", "a.b", "", false},
		{"f", "*", "", false},
		{"f", ">", "", false},
		{"f.g", "", "", false},
		{"f*", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		got, err := store.AccessKey(tc.function, tc.qualifier)
		if !tc.ok {
			require.ErrorIs(t, err, kumo.ErrInvalidParameter, "%q %q", tc.function, tc.qualifier)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
}

func TestURLConfigs_Revisions(t *testing.T) {
	t.Parallel()
	st, err := store.Open(t.Context(), store.Config{Dir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := t.Context()
	c := &kumo.FunctionURLConfig{ID: "abcdefghijklmnopqrstuvwxyz234567", Function: "f", AuthType: kumo.URLAuthNone, CreationTime: time.Now()}
	rev, err := st.CreateURLConfig(ctx, c)
	require.NoError(t, err)
	_, err = st.CreateURLConfig(ctx, c)
	require.ErrorIs(t, err, kumo.ErrConflict)
	alias := *c
	alias.Qualifier, alias.ID = "live", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	_, err = st.CreateURLConfig(ctx, &alias)
	require.NoError(t, err)
	other := *c
	other.Function = "fg" // must not list under f
	_, err = st.CreateURLConfig(ctx, &other)
	require.NoError(t, err)

	list, err := st.ListURLConfigs(ctx, "f")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "f", list[0].Key)
	assert.Equal(t, "f.live", list[1].Key)

	_, err = st.UpdateURLConfig(ctx, c, rev+100)
	require.ErrorIs(t, err, kumo.ErrConflict)
	require.ErrorIs(t, st.DeleteURLConfig(ctx, "f", "", rev+100), kumo.ErrConflict)
	require.NoError(t, st.DeleteURLConfig(ctx, "f", "", rev))
	_, _, err = st.GetURLConfig(ctx, "f", "")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, _, err = st.GetURLConfig(ctx, "f", "$LATEST")
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)

	// A value that fails the checks (a malformed id) is refused on read.
	bad := &kumo.FunctionURLConfig{ID: "short", Function: "g", AuthType: kumo.URLAuthNone}
	_, err = st.CreateURLConfig(ctx, bad)
	require.NoError(t, err)
	_, _, err = st.GetURLConfig(ctx, "g", "")
	require.Error(t, err)
}
