package sandbox_test

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

func validConfig() sandbox.Config {
	return sandbox.Config{
		ID:     "fn-1",
		Rootfs: "/srv/rootfs",
		Mounts: []sandbox.Mount{{Source: "/srv/code", Destination: "/var/task"}},
		Args:   []string{"/var/task/bootstrap"},
		Env:    []string{"A=b"},
	}
}

func TestConfig_Defaults(t *testing.T) {
	t.Parallel()
	got, err := sandbox.ValidateConfig(validConfig())
	require.NoError(t, err)
	assert.Equal(t, "/var/task", got.Cwd)
	assert.Equal(t, kumo.DefaultMemoryMB, got.MemoryMB)
	assert.Equal(t, kumo.DefaultEphemeralMB, got.EphemeralMB)
	assert.Equal(t, kumo.DefaultPidsLimit, got.PidsLimit)
	assert.Equal(t, 993, got.UID)
	assert.Equal(t, 990, got.GID)
	assert.Equal(t, io.Discard, got.Stdout)
}

func TestConfig_HostileInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*sandbox.Config)
	}{
		{"empty id", func(c *sandbox.Config) { c.ID = "" }},
		{"id with slash", func(c *sandbox.Config) { c.ID = "../../etc" }},
		{"id upper case", func(c *sandbox.Config) { c.ID = "Fn" }},
		{"id too long", func(c *sandbox.Config) { c.ID = strings.Repeat("a", 65) }},
		{"id with NUL", func(c *sandbox.Config) { c.ID = "a\x00b" }},
		{"relative rootfs", func(c *sandbox.Config) { c.Rootfs = "rootfs" }},
		{"no args", func(c *sandbox.Config) { c.Args = nil }},
		{"empty program", func(c *sandbox.Config) { c.Args = []string{""} }},
		{"cwd in leaked fd (CVE-2024-21626)", func(c *sandbox.Config) { c.Cwd = "/proc/self/fd/7" }},
		{"relative cwd", func(c *sandbox.Config) { c.Cwd = "task" }},
		{"unclean cwd", func(c *sandbox.Config) { c.Cwd = "/var/task/../../proc" }},
		{"mount over /", func(c *sandbox.Config) { c.Mounts[0].Destination = "/" }},
		{"mount over /proc", func(c *sandbox.Config) { c.Mounts[0].Destination = "/proc" }},
		{"mount under /proc", func(c *sandbox.Config) { c.Mounts[0].Destination = "/proc/sys/kernel" }},
		{"mount over /dev/null", func(c *sandbox.Config) { c.Mounts[0].Destination = "/dev/null" }},
		{"mount under /sys", func(c *sandbox.Config) { c.Mounts[0].Destination = "/sys/fs/cgroup" }},
		{"mount over /tmp", func(c *sandbox.Config) { c.Mounts[0].Destination = "/tmp" }},
		{"mount with dotdot", func(c *sandbox.Config) { c.Mounts[0].Destination = "/var/task/../../proc" }},
		{"relative mount source", func(c *sandbox.Config) { c.Mounts[0].Source = "code" }},
		{"env without =", func(c *sandbox.Config) { c.Env = []string{"JUSTKEY"} }},
		{"env with NUL", func(c *sandbox.Config) { c.Env = []string{"A=b\x00C=d"} }},
		{"negative memory", func(c *sandbox.Config) { c.MemoryMB = -1 }},
		{"huge memory", func(c *sandbox.Config) { c.MemoryMB = kumo.MaxMemoryMB + 1 }},
		{"huge ephemeral", func(c *sandbox.Config) { c.EphemeralMB = kumo.MaxEphemeralMB + 1 }},
		{"negative pids", func(c *sandbox.Config) { c.PidsLimit = -5 }},
		{"negative uid", func(c *sandbox.Config) { c.UID = -1 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := validConfig()
			tc.mutate(&cfg)
			_, err := sandbox.ValidateConfig(cfg)
			require.ErrorIs(t, err, kumo.ErrInvalidParameter)
		})
	}
}

func TestCPUQuota(t *testing.T) {
	t.Parallel()
	tests := []struct {
		memoryMB int
		want     int64
	}{
		{128, 5000},     // floor: 25% of a CPU rather than 7%
		{442, 5000},     // still below the floor
		{1769, 20000},   // one vCPU
		{3538, 40000},   // two
		{10240, 115771}, // Lambda's maximum, ~5.8 vCPUs
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, sandbox.CPUQuota(tc.memoryMB), "%d MB", tc.memoryMB)
	}
}

func TestNew_HostileOptions(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "../etc", "a/b", "/kumo", "kumo\n", strings.Repeat("k", 65), "Kumo"} {
		_, err := sandbox.New(t.TempDir(), sandbox.WithCgroupPrefix(prefix))
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, "%q", prefix)
	}
	_, err := sandbox.New("relative/state")
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	_, err = sandbox.New(t.TempDir(), sandbox.WithLogger(nil))
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
}
