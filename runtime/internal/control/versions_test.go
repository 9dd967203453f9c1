package control_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestPublishVersion(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	f, err := svc.CreateFunction(ctx, createInput("pv", testZip(t, map[string]string{"bootstrap": "v1"})))
	require.NoError(t, err)

	v1, err := svc.PublishVersion(ctx, "pv", "", "first", "")
	require.NoError(t, err)
	assert.Equal(t, "1", v1.Version)
	assert.Equal(t, "first", v1.Description)
	assert.Equal(t, f.CodeSha256, v1.CodeSha256)

	again, err := svc.PublishVersion(ctx, "pv", "", "", "")
	require.NoError(t, err)
	assert.Equal(t, "1", again.Version, "nothing changed: no new version")

	_, err = svc.PublishVersion(ctx, "pv", "bm90LXRoZS1zaGE=", "", "")
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	_, err = svc.PublishVersion(ctx, "pv", "", "", "stale")
	require.ErrorIs(t, err, kumo.ErrPreconditionFailed)

	_, err = svc.UpdateFunctionConfiguration(ctx, "pv", control.ConfigInput{Timeout: ptr(9)})
	require.NoError(t, err)
	v2, err := svc.PublishVersion(ctx, "pv", "", "", "")
	require.NoError(t, err)
	assert.Equal(t, "2", v2.Version)
	assert.Equal(t, 9, v2.Timeout)

	got, err := svc.GetFunction(ctx, "pv:1", "")
	require.NoError(t, err)
	assert.Equal(t, 3, got.Timeout, "a version is immutable")
	_, err = svc.GetFunction(ctx, "pv", "7")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	all, next, err := svc.ListVersions(ctx, "pv", "", 2)
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, []string{"$LATEST", "1"}, []string{all[0].VersionName(), all[1].VersionName()})
	rest, next2, err := svc.ListVersions(ctx, "pv", next, 2)
	require.NoError(t, err)
	assert.Empty(t, next2)
	require.Len(t, rest, 1)
	assert.Equal(t, "2", rest[0].Version)

	// Deleting a version never frees its number.
	require.NoError(t, svc.DeleteFunction(ctx, "pv", "2"))
	_, err = svc.UpdateFunctionConfiguration(ctx, "pv", control.ConfigInput{Timeout: ptr(10)})
	require.NoError(t, err)
	v3, err := svc.PublishVersion(ctx, "pv", "", "", "")
	require.NoError(t, err)
	assert.Equal(t, "3", v3.Version)

	// Publish together with a code update.
	v4, err := svc.UpdateFunctionCode(ctx, "pv", control.UpdateCodeInput{ZipFile: testZip(t, map[string]string{"bootstrap": "v2"}), Publish: true})
	require.NoError(t, err)
	assert.Equal(t, "4", v4.Version)
}

func TestAliases(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	_, err := svc.CreateFunction(ctx, createInput("al", testZip(t, map[string]string{"bootstrap": "v1"})))
	require.NoError(t, err)
	_, err = svc.PublishVersion(ctx, "al", "", "", "")
	require.NoError(t, err)
	_, err = svc.UpdateFunctionConfiguration(ctx, "al", control.ConfigInput{Timeout: ptr(9)})
	require.NoError(t, err)
	_, err = svc.PublishVersion(ctx, "al", "", "", "")
	require.NoError(t, err)

	a, err := svc.CreateAlias(ctx, "al", "live", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"2": 0.2}})
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"2": 0.2}, a.AdditionalVersionWeights)

	bad := []struct {
		name string
		in   control.AliasInput
		kind error
	}{
		{"weight above one", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"2": 1.5}}, kumo.ErrInvalidParameter},
		{"negative weight", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"2": -0.1}}, kumo.ErrInvalidParameter},
		{"latest with weights", control.AliasInput{FunctionVersion: ptr("$LATEST"), Weights: map[string]float64{"2": 0.5}}, kumo.ErrInvalidParameter},
		{"weight to latest", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"$LATEST": 0.5}}, kumo.ErrInvalidParameter},
		{"two extra versions", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"2": 0.1, "3": 0.1}}, kumo.ErrInvalidParameter},
		{"extra is primary", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"1": 0.1}}, kumo.ErrInvalidParameter},
		{"unpublished extra", control.AliasInput{FunctionVersion: ptr("1"), Weights: map[string]float64{"9": 0.1}}, kumo.ErrNotFound},
		{"unpublished primary", control.AliasInput{FunctionVersion: ptr("9")}, kumo.ErrNotFound},
		{"no version", control.AliasInput{}, kumo.ErrInvalidParameter},
	}
	for i, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.CreateAlias(ctx, "al", "bad"+string(rune('a'+i)), tc.in)
			require.ErrorIs(t, err, tc.kind)
		})
	}
	for _, name := range []string{"123", "$LATEST", "has space", ""} {
		_, err := svc.CreateAlias(ctx, "al", name, control.AliasInput{FunctionVersion: ptr("1")})
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, name)
	}
	_, err = svc.CreateAlias(ctx, "al", "live", control.AliasInput{FunctionVersion: ptr("1")})
	require.ErrorIs(t, err, kumo.ErrConflict)

	// The alias resolves to its primary version for GetFunction.
	f, err := svc.GetFunction(ctx, "al:live", "")
	require.NoError(t, err)
	assert.Equal(t, "1", f.Version)

	// Versions an alias uses cannot be deleted; others can.
	require.ErrorIs(t, svc.DeleteFunction(ctx, "al", "2"), kumo.ErrConflict)
	_, err = svc.UpdateAlias(ctx, "al", "live", control.AliasInput{RevisionID: "stale", FunctionVersion: ptr("2")})
	require.ErrorIs(t, err, kumo.ErrPreconditionFailed)
	up, err := svc.UpdateAlias(ctx, "al", "live", control.AliasInput{FunctionVersion: ptr("2"), HasRouting: true, Weights: map[string]float64{}, RevisionID: a.RevisionID})
	require.NoError(t, err)
	assert.Nil(t, up.AdditionalVersionWeights, "an empty RoutingConfig removes the weighting")
	assert.NotEqual(t, a.RevisionID, up.RevisionID)
	require.NoError(t, svc.DeleteFunction(ctx, "al", "1"))

	list, _, err := svc.ListAliases(ctx, "al", "2", "", 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.NoError(t, svc.DeleteAlias(ctx, "al", "live"))
	require.ErrorIs(t, svc.DeleteAlias(ctx, "al", "live"), kumo.ErrNotFound)

	// Deleting the function takes its versions and aliases with it.
	_, err = svc.CreateAlias(ctx, "al", "stay", control.AliasInput{FunctionVersion: ptr("2")})
	require.NoError(t, err)
	require.NoError(t, svc.DeleteFunction(ctx, "al", ""))
	_, err = svc.CreateFunction(ctx, createInput("al", testZip(t, map[string]string{"bootstrap": "v1"})))
	require.NoError(t, err)
	_, err = svc.GetAlias(ctx, "al", "stay")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, err = svc.GetFunction(ctx, "al", "2")
	require.ErrorIs(t, err, kumo.ErrNotFound)
}

func TestReservedConcurrency(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := t.Context()
	for _, n := range []string{"a", "b"} {
		_, err := svc.CreateFunction(ctx, createInput(n, testZip(t, map[string]string{"bootstrap": "x"})))
		require.NoError(t, err)
	}
	got, err := svc.GetFunctionConcurrency(ctx, "a")
	require.NoError(t, err)
	assert.Nil(t, got)

	_, err = svc.PutFunctionConcurrency(ctx, "a", ptr(800))
	require.NoError(t, err)
	_, err = svc.PutFunctionConcurrency(ctx, "b", ptr(101))
	require.ErrorIs(t, err, kumo.ErrInvalidParameter, "900 - 800 - 101 < the unreserved minimum")
	_, err = svc.PutFunctionConcurrency(ctx, "b", ptr(100))
	require.NoError(t, err)
	_, err = svc.PutFunctionConcurrency(ctx, "b", ptr(-1))
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	_, err = svc.PutFunctionConcurrency(ctx, "b", nil)
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	left, err := svc.Unreserved(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100, left)

	f, err := svc.GetFunction(ctx, "a", "")
	require.NoError(t, err)
	require.NoError(t, svc.DeleteFunctionConcurrency(ctx, "a"))
	g, err := svc.GetFunction(ctx, "a", "")
	require.NoError(t, err)
	assert.Nil(t, g.ReservedConcurrency)
	assert.Equal(t, f.RevisionID, g.RevisionID, "a reservation does not change the revision")
	_, err = svc.PutFunctionConcurrency(ctx, "missing", ptr(1))
	require.ErrorIs(t, err, kumo.ErrNotFound)
}
