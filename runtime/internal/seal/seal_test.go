package seal_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/seal"
)

func newSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	key := make([]byte, seal.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	s, err := seal.New(key)
	require.NoError(t, err)
	return s
}

func TestSealRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	for _, tc := range []struct {
		name    string
		value   []byte
		context []string
	}{
		{"empty", nil, []string{"fn", "$LATEST", "environment"}},
		{"json", []byte(`{"SECRET":"hunter2"}`), []string{"fn", "$LATEST", "environment"}},
		{"no context", []byte("a secret sealed without context"), nil},
		{"large", bytes.Repeat([]byte("a"), 1<<20), []string{"fn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, err := s.Seal(tc.value, tc.context...)
			require.NoError(t, err)
			assert.Equal(t, s.KeyID(), e.KeyID)
			if len(tc.value) > 0 {
				assert.False(t, bytes.Contains(e.Data, tc.value), "plaintext in ciphertext")
			}
			got, err := s.Open(e, tc.context...)
			require.NoError(t, err)
			assert.Equal(t, string(tc.value), string(got))
		})
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	other := newSealer(t)
	ctx := []string{"alpha", "$LATEST", "environment"}
	good, err := s.Seal([]byte(`{"K":"v"}`), ctx...)
	require.NoError(t, err)
	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i%len(c)] ^= 0x01
		return c
	}
	for _, tc := range []struct {
		name    string
		sealer  *seal.Sealer
		env     *seal.Envelope
		context []string
	}{
		{"nil envelope", s, nil, ctx},
		{"wrong master key", other, good, ctx},
		{"wrong master key, id forged", other, &seal.Envelope{KeyID: other.KeyID(), DataKey: good.DataKey, Data: good.Data}, ctx},
		{"other function", s, good, []string{"beta", "$LATEST", "environment"}},
		{"other version", s, good, []string{"alpha", "1", "environment"}},
		{"other field", s, good, []string{"alpha", "$LATEST", "tags"}},
		{"context split differently", s, good, []string{"alpha$", "LATEST", "environment"}},
		{"no context", s, good, nil},
		{"tampered data", s, &seal.Envelope{KeyID: good.KeyID, DataKey: good.DataKey, Data: flip(good.Data, 20)}, ctx},
		{"tampered nonce", s, &seal.Envelope{KeyID: good.KeyID, DataKey: good.DataKey, Data: flip(good.Data, 0)}, ctx},
		{"tampered tag", s, &seal.Envelope{KeyID: good.KeyID, DataKey: good.DataKey, Data: flip(good.Data, len(good.Data)-1)}, ctx},
		{"tampered data key", s, &seal.Envelope{KeyID: good.KeyID, DataKey: flip(good.DataKey, 15), Data: good.Data}, ctx},
		{"truncated data", s, &seal.Envelope{KeyID: good.KeyID, DataKey: good.DataKey, Data: good.Data[:10]}, ctx},
		{"empty data key", s, &seal.Envelope{KeyID: good.KeyID, Data: good.Data}, ctx},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.sealer.Open(tc.env, tc.context...)
			require.ErrorIs(t, err, seal.ErrOpen)
		})
	}
}

// TestSwappedBetweenFunctions moves one function's data key and ciphertext
// to another, in every combination: none of them opens.
func TestSwappedBetweenFunctions(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	a, err := s.Seal([]byte(`{"K":"a"}`), "fa", "$LATEST", "environment")
	require.NoError(t, err)
	b, err := s.Seal([]byte(`{"K":"b"}`), "fb", "$LATEST", "environment")
	require.NoError(t, err)
	for _, e := range []*seal.Envelope{
		a,
		{KeyID: a.KeyID, DataKey: b.DataKey, Data: a.Data},
		{KeyID: a.KeyID, DataKey: a.DataKey, Data: b.Data},
	} {
		_, err := s.Open(e, "fb", "$LATEST", "environment")
		require.ErrorIs(t, err, seal.ErrOpen)
	}
	// Each still opens where it belongs.
	got, err := s.Open(b, "fb", "$LATEST", "environment")
	require.NoError(t, err)
	assert.JSONEq(t, `{"K":"b"}`, string(got))
}

func TestNoncesAndDataKeysAreUnique(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	const n = 2000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range n / 4 {
				e, err := s.Seal([]byte("same plaintext"), "f")
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				for _, k := range []string{"k" + string(e.DataKey[:12]), "d" + string(e.Data[:12]), "c" + string(e.Data[12:])} {
					assert.False(t, seen[k], "repeated nonce or ciphertext")
					seen[k] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Len(t, seen, 3*n)
}

func TestNewRejectsBadKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		_, err := seal.New(make([]byte, n))
		require.Error(t, err, "key of %d bytes", n)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	key, created, err := seal.LoadOrCreateKey(path)
	require.NoError(t, err)
	require.True(t, created)
	require.Len(t, key, seal.KeySize)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again, created, err := seal.LoadOrCreateKey(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, key, again)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left behind")
}

func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "master.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, _, err := seal.LoadOrCreateKey(path)
			assert.NoError(t, err)
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		assert.Equal(t, keys[0], k, "every caller sees the one key that won")
	}
}

func TestLoadOrCreateKeyRejectsMalformed(t *testing.T) {
	t.Parallel()
	good := "kumo-master-key-v1 " + strings.Repeat("A", 43) + "=\n"
	for _, tc := range []struct {
		name string
		data string
		mode os.FileMode
		want string
	}{
		{"empty", "", 0o600, "malformed"},
		{"no header", strings.Repeat("A", 43) + "=\n", 0o600, "malformed"},
		{"truncated", good[:len(good)-1], 0o600, "newline"},
		{"short key", "kumo-master-key-v1 " + strings.Repeat("A", 22) + "==\n", 0o600, "16 bytes"},
		{"not base64", "kumo-master-key-v1 " + strings.Repeat("!", 44) + "\n", 0o600, "base64"},
		{"trailing data", good + "x", 0o600, "malformed"},
		{"two keys", good + good, 0o600, "malformed"},
		{"binary garbage", "\x00\x01\x02", 0o600, "malformed"},
		{"world readable", good, 0o644, "owner only"},
		{"group readable", good, 0o640, "owner only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "master.key")
			require.NoError(t, os.WriteFile(path, []byte(tc.data), tc.mode))
			require.NoError(t, os.Chmod(path, tc.mode))
			_, _, err := seal.LoadOrCreateKey(path)
			require.ErrorContains(t, err, tc.want)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.data, string(b), "a bad key file is never overwritten")
		})
	}
	t.Run("good", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.WriteFile(path, []byte(good), 0o600))
		key, created, err := seal.LoadOrCreateKey(path)
		require.NoError(t, err)
		assert.False(t, created)
		assert.Len(t, key, seal.KeySize)
	})
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		require.NoError(t, os.Mkdir(path, 0o700))
		_, _, err := seal.LoadOrCreateKey(path)
		require.ErrorContains(t, err, "not a regular file")
	})
}
