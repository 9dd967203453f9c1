package sandbox_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
)

// TestHelperDaemon is not a test: TestSandboxRoot_DiesWithDaemon runs the
// test binary with it as a stand-in daemon that it can SIGKILL.
func TestHelperDaemon(t *testing.T) {
	state, prefix := os.Getenv("KUMO_HELPER_STATE"), os.Getenv("KUMO_HELPER_PREFIX")
	if state == "" {
		t.Skip("helper process only")
	}
	m, err := sandbox.New(state, sandbox.WithCgroupPrefix(prefix))
	require.NoError(t, err)
	cfg := baseConfig(t, "/var/task/hostile", "sleep")
	cfg.ID = "daemon-child"
	_, err = m.Create(t.Context(), cfg)
	require.NoError(t, err)
	fmt.Println("helper-ready")
	time.Sleep(time.Hour)
}

func TestSandboxRoot_DiesWithDaemon(t *testing.T) {
	requireRoot(t)
	bin := testBinaries(t)
	state, prefix := t.TempDir(), uniquePrefix()
	t.Cleanup(func() {
		// Whatever happened, the next daemon removes what is left.
		m, err := sandbox.New(state, sandbox.WithCgroupPrefix(prefix))
		require.NoError(t, err)
		require.NoError(t, m.Close())
	})
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperDaemon$", "-test.v")
	cmd.Env = append(os.Environ(), "KUMO_HELPER_STATE="+state, "KUMO_HELPER_PREFIX="+prefix, "KUMO_HELPER_BIN="+bin)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "helper-ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(120 * time.Second):
		t.Fatal("helper daemon did not start its sandbox")
	}
	procs := filepath.Join("/sys/fs/cgroup/pids", prefix, "daemon-child", "cgroup.procs")
	pids := cgroupProcs(t, filepath.Dir(procs))
	require.NotEmpty(t, pids)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool { return len(cgroupProcs(t, filepath.Dir(procs))) == 0 },
		30*time.Second, 10*time.Millisecond, "sandbox outlived its daemon")
}
