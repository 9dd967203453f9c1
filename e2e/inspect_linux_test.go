package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// Scratch directories that are safe to remove even if a server leaked
// mounts into them.

func newDataDir(t *testing.T) string {
	t.Helper()
	a := artifacts(t)
	dir, err := os.MkdirTemp(a.dir, "data-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	prefix := cgroupPrefix(t, dir)
	t.Cleanup(func() {
		if err := safeRemoveAll(dir); err != nil {
			t.Logf("leaving %s behind: %v", dir, err)
		}
		removeEmptyCgroups(prefix)
	})
	return dir
}

// removeEmptyCgroups removes a stopped server's empty cgroup dirs so test
// runs do not pile them up; rmdir fails on any cgroup still in use.
func removeEmptyCgroups(prefix string) {
	for p := range cgroupsWithPrefix(prefix) {
		_ = os.Remove(p)
	}
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// safeRemoveAll detaches leftover mounts before removing dir, and refuses
// to remove anything while a mount remains (RemoveAll would follow it).
func safeRemoveAll(dir string) error {
	for _, mp := range mountsUnder(dir) {
		_ = syscall.Unmount(mp, syscall.MNT_DETACH)
	}
	if left := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("mounts remain: %v", left)
	}
	return os.RemoveAll(dir)
}

// ---------------------------------------------------------------------------
// Polling and host inspection.

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			require.FailNow(t, fmt.Sprintf(msg, args...), "still false after %v", timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procsWithEnv lists host PIDs whose environment holds the exact kv.
func procsWithEnv(kv string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	needle := []byte(kv + "\x00")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(b, needle) || bytes.Contains(b, append([]byte{0}, needle...)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func fnProcs(name string) []int { return procsWithEnv("AWS_LAMBDA_FUNCTION_NAME=" + name) }

// cgroupPrefix is the per-data-dir prefix of a server's cgroups.
func cgroupPrefix(t *testing.T, dataDir string) string {
	t.Helper()
	abs, err := filepath.Abs(dataDir)
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(abs))
	return "kumo-" + hex.EncodeToString(sum[:])[:10]
}

// cgroupsWithPrefix finds cgroup dirs (v1 hierarchies or v2) whose name
// starts with prefix, with the number of tasks in each.
func cgroupsWithPrefix(prefix string) map[string]int {
	found := map[string]int{}
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, root := range roots {
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			continue
		}
		base := strings.Count(root, "/")
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			if strings.Count(p, "/")-base > 4 {
				return filepath.SkipDir
			}
			if strings.HasPrefix(d.Name(), prefix) {
				b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				found[p] = len(strings.Fields(string(b)))
			}
			return nil
		})
	}
	return found
}

// procsInCgroup lists host PIDs whose cgroup path mentions prefix.
func procsInCgroup(prefix string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err == nil && bytes.Contains(b, []byte("/"+prefix)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procsMentioning lists host PIDs whose command line contains s.
func procsMentioning(s string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func procDesc(pids []int) string {
	var parts []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		parts = append(parts, fmt.Sprintf("%d exe=%s cmd=%q", pid, exe, strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return strings.Join(parts, "\n")
}

// requireNoLeftovers checks that a stopped server left nothing running or
// mounted behind for dataDir.
func requireNoLeftovers(t *testing.T, dataDir string, fnNames ...string) {
	t.Helper()
	prefix := cgroupPrefix(t, dataDir)
	eventually(t, 15*time.Second, func() bool {
		if len(procsInCgroup(prefix)) > 0 || len(procsMentioning(dataDir)) > 0 {
			return false
		}
		for _, n := range fnNames {
			if len(fnProcs(n)) > 0 {
				return false
			}
		}
		return true
	}, "processes of %s remain:\nin cgroups %s: %s\nmentioning the data dir: %s",
		dataDir, prefix, procDesc(procsInCgroup(prefix)), procDesc(procsMentioning(dataDir)))
	for p, n := range cgroupsWithPrefix(prefix) {
		require.Zero(t, n, "cgroup %s still has tasks", p)
	}
	require.Empty(t, mountsUnder(dataDir), "mounts remain under the data dir")
	// Sandbox cgroups (children of the prefix dirs) must be gone; an empty
	// per-data-dir parent may stay for the next start.
	var children []string
	for p := range cgroupsWithPrefix(prefix) {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if e.IsDir() {
				children = append(children, filepath.Join(p, e.Name()))
			}
		}
	}
	require.Empty(t, children, "sandbox cgroups remain after a clean shutdown")
	if left := cgroupsWithPrefix(prefix); len(left) > 0 {
		t.Logf("note: %d empty %s cgroup dirs remain after a clean shutdown", len(left), prefix)
	}
}
