package sandbox_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// testBinaries builds the functions in testdata once per test binary, as
// static executables that need nothing from the rootfs.
func testBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if dir := os.Getenv("KUMO_HELPER_BIN"); dir != "" {
			// A helper daemon process reuses its parent's build.
			binDir = dir
			return
		}
		binDir, buildErr = os.MkdirTemp("", "kumo-sandbox-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./testdata/echo", "./testdata/hostile")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build testdata: %w\n%s", err, out)
			return
		}
		// Code dirs are read by the sandbox's non-root user.
		buildErr = os.Chmod(binDir, 0o755)
	})
	require.NoError(t, buildErr)
	return binDir
}

// newRootfs makes a minimal shared rootfs: only mount points, an
// /etc/passwd, and busybox for shell-based probes.
func newRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	for _, d := range []string{"proc", "dev", "tmp", "var/task", "opt", "sys", "etc", "bin"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/passwd"),
		[]byte("root:x:0:0::/root:/bin/sh\nsbx_user:x:993:990::/tmp:/bin/sh\n"), 0o644))
	if bb, err := os.ReadFile("/bin/busybox"); err == nil {
		require.NoError(t, os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755))
	}
	return root
}

var prefixSeq atomic.Int64

// uniquePrefix keeps each test's cgroups apart: New kills everything under
// its prefix.
func uniquePrefix() string {
	return fmt.Sprintf("kumotest-%d-%d", os.Getpid(), prefixSeq.Add(1))
}

func newManager(t *testing.T) (*sandbox.Manager, string, string) {
	t.Helper()
	requireRoot(t)
	state := t.TempDir()
	prefix := uniquePrefix()
	m, err := sandbox.New(state, sandbox.WithCgroupPrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, m.Close())
		assert.NoDirExists(t, filepath.Join("/sys/fs/cgroup/pids", prefix), "prefix removed by Close")
	})
	return m, state, prefix
}

var idSeq atomic.Int64

func newID() string { return fmt.Sprintf("sbx-%d", idSeq.Add(1)) }

// baseConfig runs a testdata program from /var/task.
func baseConfig(t *testing.T, args ...string) sandbox.Config {
	t.Helper()
	bin := testBinaries(t)
	return sandbox.Config{
		ID:          newID(),
		Rootfs:      newRootfs(t),
		Mounts:      []sandbox.Mount{{Source: bin, Destination: "/var/task"}},
		Args:        args,
		Env:         []string{"PATH=/var/task:/bin"},
		MemoryMB:    128,
		EphemeralMB: 16,
	}
}

// syncBuffer is read by the test while the sandbox writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*syncBuffer)(nil)

// keyValues parses the probe's key=value lines.
func keyValues(out string) map[string]string {
	kv := map[string]string{}
	for line := range strings.Lines(out) {
		for field := range strings.FieldsSeq(line) {
			if k, v, ok := strings.Cut(field, "="); ok {
				kv[k] = v
			}
		}
	}
	return kv
}

// cgroupDirs lists where a sandbox's cgroup would be in every hierarchy.
func cgroupDirs(t *testing.T, prefix, id string) []string {
	t.Helper()
	entries, err := os.ReadDir("/sys/fs/cgroup")
	require.NoError(t, err)
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", e.Name(), prefix, id))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", prefix, id))
	}
	return dirs
}

func memoryCgroup(prefix, id string) string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return filepath.Join("/sys/fs/cgroup", prefix, id)
	}
	return filepath.Join("/sys/fs/cgroup/memory", prefix, id)
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" && os.Getenv("KUMO_HELPER_BIN") == "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
