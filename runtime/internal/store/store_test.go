package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// waitLimit only bounds how long a broken test hangs; no test asserts it.
const waitLimit = 20 * time.Second

func openTest(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" && cfg.URL == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func testFunction(name string) *kumo.Function {
	return &kumo.Function{
		Name:          name,
		Runtime:       "provided.al2023",
		Role:          "arn:aws:iam::000000000000:role/r",
		Handler:       "bootstrap",
		MemorySize:    128,
		Timeout:       3,
		Architectures: []string{"x86_64"},
		PackageType:   kumo.PackageZip,
		Environment:   map[string]string{"A": "1"},
		LastModified:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		State:         kumo.StateActive,
	}
}

func TestConfigRejectsBadCombinations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no dir for embedded", Config{}},
		{"replicas on embedded", Config{Dir: "x", Replicas: 3}},
		{"negative replicas", Config{URL: "nats://127.0.0.1:1", Replicas: -1}},
		{"negative log bytes", Config{Dir: "x", LogMaxBytes: -1}},
		{"negative per function", Config{Dir: "x", LogMaxPerFunction: -5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(t.Context(), tc.cfg)
			require.Error(t, err)
			assert.Nil(t, s)
		})
	}
}

func TestOpenUnusableDirFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		skip    bool
		wantErr string
	}{
		{
			name: "data dir is a file",
			prepare: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "data")
				require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
				return p
			},
			wantErr: "create nats store dir",
		},
		{
			// Our MkdirAll succeeds here; only JetStream fails, so this
			// exercises the JetStreamEnabled check after Start.
			name: "jetstream dir is a file",
			prepare: func(t *testing.T) string {
				d := t.TempDir()
				require.NoError(t, os.MkdirAll(filepath.Join(d, "nats"), 0o700))
				require.NoError(t, os.WriteFile(filepath.Join(d, "nats", "jetstream"), []byte("x"), 0o600))
				return d
			},
			wantErr: "start nats server",
		},
		{
			name: "read-only dir",
			skip: os.Geteuid() == 0, // root writes through permission bits
			prepare: func(t *testing.T) string {
				d := t.TempDir()
				require.NoError(t, os.MkdirAll(filepath.Join(d, "nats"), 0o500))
				t.Cleanup(func() { _ = os.Chmod(filepath.Join(d, "nats"), 0o700) })
				return d
			},
			wantErr: "start nats server",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.skip {
				t.Skip("running as root: permission bits do not stop writes")
			}
			s, err := Open(t.Context(), Config{Dir: tc.prepare(t)})
			require.ErrorContains(t, err, tc.wantErr)
			assert.Nil(t, s)
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), Config{Dir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
}

func TestRestartKeepsFunctionsAndLogs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()

	s, err := Open(ctx, Config{Dir: dir})
	require.NoError(t, err)
	rev, err := s.CreateFunction(ctx, testFunction("survivor"))
	require.NoError(t, err)
	_, err = s.CreateFunction(ctx, testFunction("gone"))
	require.NoError(t, err)
	require.NoError(t, s.DeleteFunction(ctx, "gone"))
	require.NoError(t, s.AppendLog(ctx, "survivor", "req-1", []byte("hello\n")))
	require.NoError(t, s.Close())

	s2 := openTest(t, Config{Dir: dir})
	f, rev2, err := s2.GetFunction(ctx, "survivor")
	require.NoError(t, err)
	assert.Equal(t, rev, rev2)
	assert.Equal(t, testFunction("survivor"), f)
	_, _, err = s2.GetFunction(ctx, "gone")
	require.ErrorIs(t, err, kumo.ErrNotFound)

	recs, err := s2.ReadLogs(ctx, "survivor", 0, 0)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "hello\n", string(recs[0].Data))
	assert.Equal(t, "req-1", recs[0].RequestID)

	// The revision survives too, so optimistic concurrency still holds.
	_, err = s2.UpdateFunction(ctx, testFunction("survivor"), rev)
	require.NoError(t, err)
}

func TestJetStreamEscapeHatch(t *testing.T) {
	t.Parallel()
	s := openTest(t, Config{})
	info, err := s.JetStream().AccountInfo(t.Context())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, info.Streams, 2) // the bucket and the log stream
	assert.Nil(t, s.srv.Addr(), "embedded server must not listen on TCP")
}

func TestExternalURLUnreachable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	// Port 1 on loopback is closed; the error must surface, not hang.
	_, err := Open(ctx, Config{URL: "nats://127.0.0.1:1"})
	require.Error(t, err)
}
