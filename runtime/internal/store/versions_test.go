package store

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestVersionsAndAliases(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	ctx := t.Context()
	events, err := s.WatchAliases(ctx)
	require.NoError(t, err)

	for _, v := range []string{"1", "2", "10"} {
		f := testFunction("fn")
		f.Version = v
		require.NoError(t, s.PutVersion(ctx, f))
	}
	dup := testFunction("fn")
	dup.Version = "1"
	require.ErrorIs(t, s.PutVersion(ctx, dup), kumo.ErrConflict, "versions are immutable")
	other := testFunction("fn-other")
	other.Version = "1"
	require.NoError(t, s.PutVersion(ctx, other))

	vs, err := s.ListVersions(ctx, "fn")
	require.NoError(t, err)
	var got []string
	for _, v := range vs {
		got = append(got, v.Version)
	}
	assert.Equal(t, []string{"1", "2", "10"}, got, "numeric order, only this function (not fn-other)")

	for _, bad := range []string{"0", "-1", "01", "x", "1.2", ""} {
		_, err := s.GetVersion(ctx, "fn", bad)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, bad)
	}
	_, err = s.GetVersion(ctx, "fn", "3")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	a := &kumo.Alias{Function: "fn", Name: "live", FunctionVersion: "1", AdditionalVersionWeights: map[string]float64{"2": 0.25}, RevisionID: "r1"}
	rev, err := s.CreateAlias(ctx, a)
	require.NoError(t, err)
	_, err = s.CreateAlias(ctx, a)
	require.ErrorIs(t, err, kumo.ErrConflict)
	next := a.Clone()
	next.FunctionVersion = "2"
	_, err = s.UpdateAlias(ctx, next, rev+100)
	require.ErrorIs(t, err, kumo.ErrConflict, "stale revision")
	_, err = s.UpdateAlias(ctx, next, rev)
	require.NoError(t, err)
	got2, _, err := s.GetAlias(ctx, "fn", "live")
	require.NoError(t, err)
	assert.Equal(t, "2", got2.FunctionVersion)

	// The watch saw the create and the update.
	ev := <-events
	require.Equal(t, "fn", ev.Function)
	require.Equal(t, "live", ev.Name)
	require.Equal(t, "1", ev.Alias.FunctionVersion)
	ev = <-events
	require.Equal(t, "2", ev.Alias.FunctionVersion)

	require.NoError(t, s.DeleteVersionsAndAliases(ctx, "fn"))
	ev = <-events
	require.Nil(t, ev.Alias, "the delete is seen")
	vs, err = s.ListVersions(ctx, "fn")
	require.NoError(t, err)
	assert.Empty(t, vs)
	_, err = s.GetVersion(ctx, "fn-other", "1")
	require.NoError(t, err, "another function's versions stay")

	_, err = s.CreateAlias(ctx, &kumo.Alias{Function: "fn", Name: "bad.name", FunctionVersion: "1"})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter, "a '.' would widen the key space")
	_, err = s.CreateAlias(ctx, &kumo.Alias{Function: "f*", Name: "x", FunctionVersion: "1"})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}
