package sandbox_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

func TestSandboxRoot_TmpFull(t *testing.T) {
	m, _, _ := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "fill", "/tmp/big")
	cfg.EphemeralMB = 8
	var out syncBuffer
	cfg.Stdout = &out
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	waitExit(t, s)
	kv := keyValues(out.String())
	assert.Equal(t, "ENOSPC", kv["fill_error"])
	assert.Equal(t, "8", kv["written_mb"])
}

func TestSandboxRoot_OOM(t *testing.T) {
	m, _, prefix := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "oom")
	cfg.MemoryMB = 48
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	limit, err := os.ReadFile(filepath.Join(memoryCgroup(prefix, cfg.ID), "memory.limit_in_bytes"))
	if err == nil {
		assert.Equal(t, strconv.Itoa(48<<20), strings.TrimSpace(string(limit)))
		swap, err := os.ReadFile(filepath.Join(memoryCgroup(prefix, cfg.ID), "memory.memsw.limit_in_bytes"))
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(48<<20), strings.TrimSpace(string(swap)), "no swap")
	}
	waitExit(t, s)
	require.Error(t, s.ExitErr())
	assert.Equal(t, "signal: killed", s.ExitErr().Error())
	assert.True(t, s.OOMKilled())
	assert.Greater(t, s.MaxMemoryUsedBytes(), uint64(24<<20))
	// The kernel charges in per-CPU batches, so the peak may pass the limit
	// by a few pages.
	assert.LessOrEqual(t, s.MaxMemoryUsedBytes(), uint64(49<<20))
}

func TestSandboxRoot_ExitStatus(t *testing.T) {
	m, _, _ := newManager(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
		wantOut string
	}{
		{"clean exit", []string{"/var/task/hostile", "connect"}, "", ""},
		{"exit 3", []string{"/var/task/hostile", "exit"}, "exit status 3", "exiting with 3"},
		{"unknown mode", []string{"/var/task/hostile", "nope"}, "exit status 2", "unknown mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, tc.args...)
			var out syncBuffer
			cfg.Stdout, cfg.Stderr = &out, &out // one writer for both streams
			s, err := m.Create(t.Context(), cfg)
			require.NoError(t, err)
			waitExit(t, s)
			if tc.wantErr == "" {
				require.NoError(t, s.ExitErr())
			} else {
				require.EqualError(t, s.ExitErr(), tc.wantErr)
				var exitErr *exec.ExitError
				require.ErrorAs(t, s.ExitErr(), &exitErr)
			}
			assert.False(t, s.OOMKilled())
			assert.Contains(t, out.String(), tc.wantOut)
			require.NoError(t, s.Destroy())
		})
	}
}

func TestSandboxRoot_BadInputLeavesNothing(t *testing.T) {
	m, state, prefix := newManager(t)
	tests := []struct {
		name   string
		mutate func(*sandbox.Config)
	}{
		{"missing program", func(c *sandbox.Config) { c.Args = []string{"/var/task/missing"} }},
		{"program not executable", func(c *sandbox.Config) { c.Args = []string{"/etc/passwd"} }},
		{"mount point absent from rootfs", func(c *sandbox.Config) {
			c.Mounts = append(c.Mounts, sandbox.Mount{Source: c.Mounts[0].Source, Destination: "/var/runtime"})
		}},
		{"mount source missing", func(c *sandbox.Config) { c.Mounts[0].Source = "/nonexistent/kumo" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig(t, "/var/task/hostile", "status")
			tc.mutate(&cfg)
			_, err := m.Create(t.Context(), cfg)
			require.Error(t, err)
			t.Log(err)
			for _, d := range cgroupDirs(t, prefix, cfg.ID) {
				assert.NoDirExists(t, d)
			}
			assert.NoDirExists(t, filepath.Join(state, "containers", cfg.ID))
			entries, err := os.ReadDir(cfg.Rootfs)
			require.NoError(t, err)
			assert.Len(t, entries, 8, "rootfs never written")
		})
	}
}

func TestSandboxRoot_Network(t *testing.T) {
	m, _, _ := newManager(t)
	// A host loopback service the function must not reach.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer host.Close()
	go serveGreeting(host, "host-secret")

	cfg := baseConfig(t, "/var/task/hostile", "connect", sandbox.RuntimeAPIAddr, host.Addr().String())
	var out syncBuffer
	cfg.Stdout = &out
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	go serveGreeting(s.Listener(), "runtime-api")
	waitExit(t, s)
	kv := keyValues(out.String())
	t.Log(out.String())
	assert.Equal(t, "ok:runtime-api", kv[sandbox.RuntimeAPIAddr])
	assert.Equal(t, "ECONNREFUSED", kv[host.Addr().String()])
}

func serveGreeting(ln net.Listener, greeting string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte(greeting + "\n"))
		_ = c.Close()
	}
}

func TestSandboxRoot_PauseResume(t *testing.T) {
	m, _, prefix := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "tick")
	var out syncBuffer
	cfg.Stdout = &out
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "tick 3") }, 30*time.Second, 5*time.Millisecond)

	require.NoError(t, s.Pause())
	if st, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", prefix, cfg.ID, "freezer.state")); err == nil {
		assert.Equal(t, "FROZEN", strings.TrimSpace(string(st)))
	}
	frozen := out.String()
	time.Sleep(100 * time.Millisecond) // 20 ticks' worth, were it running
	assert.Equal(t, frozen, out.String(), "no output while frozen")

	require.NoError(t, s.Resume())
	require.Eventually(t, func() bool { return len(out.String()) > len(frozen) }, 30*time.Second, 5*time.Millisecond)

	// Destroy works on a paused sandbox too.
	require.NoError(t, s.Pause())
	require.NoError(t, s.Destroy())
	<-s.Exited()
	assert.EqualError(t, s.ExitErr(), "signal: killed")
}

func TestSandboxRoot_Destroy(t *testing.T) {
	m, state, prefix := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "sleep")
	var out syncBuffer
	cfg.Stdout = &out
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "ready") }, 30*time.Second, 5*time.Millisecond)
	pids := cgroupProcs(t, filepath.Join("/sys/fs/cgroup/pids", prefix, cfg.ID))
	require.NotEmpty(t, pids)
	require.DirExists(t, memoryCgroup(prefix, cfg.ID))

	require.NoError(t, s.Destroy())
	require.NoError(t, s.Destroy(), "idempotent")
	select {
	case <-s.Exited():
	default:
		t.Fatal("Destroy returned before the process exited")
	}
	for _, d := range cgroupDirs(t, prefix, cfg.ID) {
		assert.NoDirExists(t, d)
	}
	assert.NoDirExists(t, filepath.Join(state, "containers", cfg.ID))
	for _, pid := range pids {
		assert.ErrorIs(t, unix.Kill(pid, 0), unix.ESRCH, "pid %d gone", pid)
	}
	_, err = net.Dial("tcp", sandbox.RuntimeAPIAddr)
	assert.Error(t, err, "listener closed") // host netns has nothing there either
}

func cgroupProcs(t *testing.T, dir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	return pids
}

func TestSandboxRoot_ForkBomb(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox")
	}
	m, _, prefix := newManager(t)
	cfg := baseConfig(t, "/bin/busybox", "sh", "-c", "b() { b | b & }; b; sleep 3600")
	cfg.PidsLimit = 32
	var out syncBuffer
	cfg.Stdout, cfg.Stderr = &out, &out
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	pidsDir := filepath.Join("/sys/fs/cgroup/pids", prefix, cfg.ID)
	require.Eventually(t, func() bool {
		return strings.Contains(out.String(), "can't fork")
	}, 60*time.Second, 10*time.Millisecond, "the bomb must hit the limit; output: %s", out.String())
	cur, err := os.ReadFile(filepath.Join(pidsDir, "pids.current"))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(cur)))
	require.NoError(t, err)
	assert.LessOrEqual(t, n, 32)

	// The host can still start processes while the bomb runs.
	require.NoError(t, exec.CommandContext(t.Context(), "/bin/busybox", "true").Run())

	require.NoError(t, s.Destroy())
	assert.NoDirExists(t, pidsDir)
}

func TestSandboxRoot_NewCleansLeftovers(t *testing.T) {
	requireRoot(t)
	state := t.TempDir()
	prefix := uniquePrefix()
	crashed, err := sandbox.New(state, sandbox.WithCgroupPrefix(prefix))
	require.NoError(t, err)
	var left []*sandbox.Sandbox
	for i := range 2 {
		cfg := baseConfig(t, "/var/task/hostile", "sleep")
		s, err := crashed.Create(t.Context(), cfg)
		require.NoError(t, err)
		if i == 1 {
			require.NoError(t, s.Pause(), "a frozen leftover must be killable too")
		}
		left = append(left, s)
		t.Cleanup(func() { _ = s.Listener().Close() })
	}
	// crashed is dropped without Close, like a daemon that died.

	m, err := sandbox.New(state, sandbox.WithCgroupPrefix(prefix))
	require.NoError(t, err)
	defer m.Close()
	for _, s := range left {
		select {
		case <-s.Exited():
		case <-time.After(30 * time.Second):
			t.Fatal("leftover sandbox still running")
		}
		assert.EqualError(t, s.ExitErr(), "signal: killed")
		for _, d := range cgroupDirs(t, prefix, s.ID()) {
			assert.NoDirExists(t, d)
		}
	}
	entries, err := os.ReadDir(filepath.Join(state, "containers"))
	require.NoError(t, err)
	assert.Empty(t, entries, "libcontainer state removed")

	// The cleaned prefix is usable again.
	cfg := baseConfig(t, "/var/task/hostile", "connect")
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	waitExit(t, s)
	require.NoError(t, s.ExitErr())
}

// TestSandboxRoot_SurvivesThreadExit guards the parent-death signal: it is
// tied to the forking OS thread, and Go ends a thread whenever a goroutine
// locked to it returns. Such exits elsewhere in the daemon must not kill
// sandboxes.
func TestSandboxRoot_SurvivesThreadExit(t *testing.T) {
	m, _, _ := newManager(t)
	var sandboxes []*sandbox.Sandbox
	for range 3 {
		s, err := m.Create(t.Context(), baseConfig(t, "/var/task/hostile", "sleep"))
		require.NoError(t, err)
		sandboxes = append(sandboxes, s)
	}
	for range 20 {
		var wg sync.WaitGroup
		for range 4 * runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				runtime.LockOSThread()
				time.Sleep(time.Millisecond) // make the runtime pick other threads for others
			})
		}
		wg.Wait()
	}
	time.Sleep(50 * time.Millisecond) // let a parent-death SIGKILL land, if there was one
	for _, s := range sandboxes {
		select {
		case <-s.Exited():
			t.Fatalf("sandbox %s died: %v", s.ID(), s.ExitErr())
		default:
		}
	}
}

func TestSandboxRoot_LimitCPU(t *testing.T) {
	m, _, prefix := newManager(t)
	cfg := baseConfig(t, "/var/task/hostile", "sleep")
	cfg.MemoryMB = 3538
	s, err := m.Create(t.Context(), cfg)
	require.NoError(t, err)
	defer func() { _ = s.Destroy() }()
	dir := filepath.Join("/sys/fs/cgroup/cpu", prefix, cfg.ID)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	assert.Equal(t, "-1", read("cpu.cfs_quota_us"), "unthrottled until the function has initialised")
	require.NoError(t, s.LimitCPU())
	assert.Equal(t, "20000", read("cpu.cfs_period_us"))
	assert.Equal(t, "40000", read("cpu.cfs_quota_us"), "two vCPUs at 3538 MB")
}

// TestSandboxRoot_CloseDuringCreate is the regression test for a shutdown
// racing sandbox starts: Close must wait for a start in progress rather
// than destroy the container under it (which made libcontainer's Exec
// dereference nil and crash the daemon).
func TestSandboxRoot_CloseDuringCreate(t *testing.T) {
	m, _, prefix := newManager(t)
	const n = 6
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		cfg := baseConfig(t, "/var/task/hostile", "sleep")
		ids[i] = cfg.ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := m.Create(t.Context(), cfg)
			if err == nil {
				_ = s.Destroy()
			}
		}()
	}
	time.Sleep(15 * time.Millisecond) // some starts are under way
	require.NoError(t, m.Close())
	wg.Wait()
	for _, id := range ids {
		for _, d := range cgroupDirs(t, prefix, id) {
			assert.NoDirExists(t, d, "sandbox %s left a cgroup", id)
		}
	}
}
