package store

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/seal"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func newTestSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	key := make([]byte, seal.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	sl, err := seal.New(key)
	require.NoError(t, err)
	return sl
}

func openSealed(t *testing.T, dir string, sl Sealer) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Dir: dir}, WithSealer(sl))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// TestSealedEnvironmentNotInClear writes canary values through every
// write path and checks the raw KV values and the files of the engine.
func TestSealedEnvironmentNotInClear(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSealed(t, dir, newTestSealer(t))
	ctx := t.Context()
	const canaryKey, canary, canary2 = "SECRET_NAME_CANARY", "canary-value-4b1d7e", "canary-updated-93ac02"

	f := testFunction("sealed")
	f.Environment = map[string]string{canaryKey: canary, "B": "2"}
	// Descriptions are not secret: finding this one shows the grep below
	// can find anything at all.
	f.Description = "control-text-5e0c"
	rev, err := s.CreateFunction(ctx, f)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{canaryKey: canary, "B": "2"}, f.Environment, "the caller's value is untouched")

	got, _, err := s.GetFunction(ctx, "sealed")
	require.NoError(t, err)
	assert.Equal(t, f, got)

	raw, err := s.kv.Get(ctx, "sealed")
	require.NoError(t, err)
	for _, c := range []string{canary, canaryKey} {
		assert.NotContains(t, string(raw.Value()), c)
	}
	assert.Contains(t, string(raw.Value()), `"sealedEnvironment"`)
	assert.NotContains(t, string(raw.Value()), `"environment"`)

	upd := got.Clone()
	upd.Environment[canaryKey] = canary2
	_, err = s.UpdateFunction(ctx, upd, rev)
	require.NoError(t, err)
	list, err := s.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, canary2, list[0].Environment[canaryKey])

	v := upd.Clone()
	v.Version = "1"
	require.NoError(t, s.PutVersion(ctx, v))
	gv, err := s.GetVersion(ctx, "sealed", "1")
	require.NoError(t, err)
	assert.Equal(t, canary2, gv.Environment[canaryKey])

	require.NoError(t, s.Close())
	require.NotEmpty(t, grepDir(t, filepath.Join(dir, "nats"), f.Description), "the engine files hold values in clear")
	hits := grepDir(t, filepath.Join(dir, "nats"), canary, canary2, canaryKey)
	assert.Empty(t, hits, "clear text in engine files")
}

// grepDir lists the files under dir that contain any of needles.
func grepDir(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				hits = append(hits, path+": "+n)
			}
		}
		return nil
	})
	require.NoError(t, err)
	return hits
}

func TestSealedEnvironmentMovedFails(t *testing.T) {
	t.Parallel()
	s := openSealed(t, t.TempDir(), newTestSealer(t))
	ctx := t.Context()
	for _, name := range []string{"alice", "bob"} {
		f := testFunction(name)
		f.Environment = map[string]string{"TOKEN": name + "-secret"}
		_, err := s.CreateFunction(ctx, f)
		require.NoError(t, err)
	}
	// An attacker with write access to the engine copies alice's sealed
	// environment into bob's value.
	a, err := s.kv.Get(ctx, "alice")
	require.NoError(t, err)
	forged := bytes.Replace(a.Value(), []byte(`"name":"alice"`), []byte(`"name":"bob"`), 1)
	require.NotEqual(t, a.Value(), forged)
	_, err = s.kv.Put(ctx, "bob", forged)
	require.NoError(t, err)
	_, _, err = s.GetFunction(ctx, "bob")
	require.ErrorIs(t, err, seal.ErrOpen)

	// The same for a version: $LATEST's ciphertext does not open as version 1.
	l, err := s.kv.Get(ctx, "alice")
	require.NoError(t, err)
	asVersion := bytes.Replace(l.Value(), []byte(`"name":"alice"`), []byte(`"name":"alice","version":"1"`), 1)
	_, err = s.versions.Put(ctx, versionKey("alice", "1"), asVersion)
	require.NoError(t, err)
	_, err = s.GetVersion(ctx, "alice", "1")
	require.ErrorIs(t, err, seal.ErrOpen)

	got, _, err := s.GetFunction(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, "alice-secret", got.Environment["TOKEN"])
}

func TestSealedEnvironmentKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	sl := newTestSealer(t)
	s, err := Open(ctx, Config{Dir: dir}, WithSealer(sl))
	require.NoError(t, err)
	f := testFunction("k")
	_, err = s.CreateFunction(ctx, f)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"no key", nil, "no key"},
		{"other key", []Option{WithSealer(newTestSealer(t))}, "master key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(ctx, Config{Dir: dir}, tc.opts...)
			require.NoError(t, err)
			defer func() { assert.NoError(t, s.Close()) }()
			_, _, err = s.GetFunction(ctx, "k")
			require.ErrorContains(t, err, tc.want)
		})
	}

	s = openSealed(t, dir, sl)
	got, _, err := s.GetFunction(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, f, got, "the right key opens it after a restart")
}

func TestDecodeStoredFunction(t *testing.T) {
	t.Parallel()
	s := openSealed(t, t.TempDir(), newTestSealer(t))
	ctx := t.Context()
	for _, tc := range []struct {
		name  string
		value string
		env   map[string]string
		want  string
	}{
		{"clear environment from before sealing", `{"name":"%s","environment":{"A":"1"}}`, map[string]string{"A": "1"}, ""},
		{"no environment", `{"name":"%s"}`, nil, ""},
		{"clear and sealed", `{"name":"%s","environment":{"A":"1"},"sealedEnvironment":{"keyId":"x","dataKey":"","data":""}}`, nil, "both"},
		{"sealed garbage", `{"name":"%s","sealedEnvironment":{"keyId":"x","dataKey":"AAAA","data":"AAAA"}}`, nil, "does not open"},
		{"sealed not an object", `{"name":"%s","sealedEnvironment":"x"}`, nil, "decode"},
		{"sealed bad base64", `{"name":"%s","sealedEnvironment":{"dataKey":"!!"}}`, nil, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := strings.NewReplacer(" ", "-").Replace(tc.name)
			_, err := s.kv.Put(ctx, name, []byte(strings.Replace(tc.value, "%s", name, 1)))
			require.NoError(t, err)
			got, _, err := s.GetFunction(ctx, name)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.env, got.Environment)
		})
	}
}

func TestEncodeWithoutSealerKeepsEnvironment(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	data, err := s.encodeFunction(&kumo.Function{Name: "plain", Environment: map[string]string{"A": "1"}})
	require.NoError(t, err)
	assert.Contains(t, string(data), `"environment":{"A":"1"}`)
	assert.NotContains(t, string(data), "sealedEnvironment")
}
