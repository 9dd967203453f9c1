package sandbox_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
)

// waitExit fails the test if the sandbox does not exit; generous, because
// it only guards against a hang.
func waitExit(t *testing.T, s *sandbox.Sandbox) {
	t.Helper()
	select {
	case <-s.Exited():
	case <-time.After(60 * time.Second):
		t.Fatal("sandbox did not exit")
	}
}

func TestSandboxRoot_Isolation(t *testing.T) {
	m, _, _ := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "status")
	var out, errOut syncBuffer
	cfg.Stdout, cfg.Stderr = &out, &errOut
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	waitExit(t, s)
	require.NoError(t, s.ExitErr(), "stderr: %s", errOut.String())
	kv := keyValues(out.String())
	t.Log(out.String())

	assert.Equal(t, "993,993,993,993", kv["Uid"])
	assert.Equal(t, "990,990,990,990", kv["Gid"])
	assert.Equal(t, "0000000000000000", kv["CapEff"])
	assert.Equal(t, "0000000000000000", kv["CapPrm"])
	assert.Equal(t, "0000000000000000", kv["CapBnd"])
	assert.Equal(t, "1", kv["NoNewPrivs"])
	assert.Equal(t, "1", kv["pid"], "own pid namespace")
	assert.Equal(t, "/var/task", kv["cwd"])
	assert.Equal(t, "sandbox", kv["hostname"])
	assert.Equal(t, "EROFS", kv["write_root"])
	assert.Equal(t, "EROFS", kv["write_task"])
	assert.Equal(t, "ok", kv["write_tmp"])
	assert.Equal(t, "ok", kv["read_devnull"])
	// Both exist on any kernel; masking binds /dev/null over them.
	assert.Equal(t, "0", kv["len/proc/interrupts"], "masked")
	assert.Equal(t, "ok", kv["err/proc/interrupts"])
	assert.Equal(t, "0", kv["len/proc/timer_list"], "masked")
	assert.Equal(t, "EROFS", kv["write_proc_sys"])
	assert.Equal(t, "EROFS", kv["write_sys"])
	assert.Equal(t, "1024", kv["nofile"])
	assert.Equal(t, "0", kv["core"])
	assert.Equal(t, "lo", kv["interfaces"])
	if m.SeccompEnabled() {
		assert.Equal(t, "2", kv["Seccomp"])
		for _, call := range []string{"keyctl", "io_uring_setup", "bpf", "ptrace", "unshare"} {
			assert.Equal(t, "EPERM", kv[call], call)
		}
		assert.Equal(t, "ENOSYS", kv["clone3"])
	} else {
		assert.Equal(t, "0", kv["Seccomp"])
	}
}
