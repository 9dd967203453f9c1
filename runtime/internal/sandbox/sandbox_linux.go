package sandbox

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"
)

// destroyWait bounds how long Destroy waits for the killed init to be
// reaped before it tears down anyway; a process stuck in uninterruptible
// sleep must not hang the daemon.
const destroyWait = 10 * time.Second

// Sandbox is one running function instance.
type Sandbox struct {
	id  string
	m   *Manager
	log *slog.Logger
	ns  *netns
	c   *libcontainer.Container
	p   *libcontainer.Process
	// cgroups maps controller ("" for the unified hierarchy) to path.
	cgroups map[string]string
	oomCh   <-chan struct{}
	// memoryMB sizes the CPU quota LimitCPU applies.
	memoryMB int

	exited chan struct{}
	// Written by wait before exited is closed.
	exitErr     error
	oomKilled   bool
	maxMemUsage uint64

	startMu     sync.Mutex
	destroyOnce sync.Once
	destroyErr  error
}

// LimitCPU applies the CPU quota proportional to the sandbox's memory. Call
// it once the function has initialised (see cpuPeriod for why not before).
func (s *Sandbox) LimitCPU() error {
	cfg := s.c.Config()
	cfg.Cgroups.Resources.CpuPeriod = cpuPeriod
	cfg.Cgroups.Resources.CpuQuota = cpuQuota(s.memoryMB)
	if err := s.c.Set(cfg); err != nil {
		return fmt.Errorf("limit cpu of sandbox %s: %w", s.id, err)
	}
	return nil
}

// ID returns the sandbox id.
func (s *Sandbox) ID() string { return s.id }

// Listener is the Runtime API listener at RuntimeAPIAddr inside the
// sandbox's network namespace; the caller serves on it. Destroy closes it.
func (s *Sandbox) Listener() net.Listener { return s.ns.ln }

// Exited is closed when the sandbox's init process has exited.
func (s *Sandbox) Exited() <-chan struct{} { return s.exited }

// ExitErr describes how the process ended, e.g. "exit status 2" or
// "signal: killed" (an *exec.ExitError). It is nil before Exited is closed
// and after a zero exit status.
func (s *Sandbox) ExitErr() error {
	select {
	case <-s.exited:
		return s.exitErr
	default:
		return nil
	}
}

// OOMKilled reports whether the memory cgroup's OOM killer killed a
// process in the sandbox.
func (s *Sandbox) OOMKilled() bool {
	select {
	case <-s.exited:
		return s.oomKilled
	default:
		return s.oomFired() || s.oomKillCount() > 0
	}
}

// MaxMemoryUsedBytes is the peak memory usage of the sandbox's cgroup.
func (s *Sandbox) MaxMemoryUsedBytes() uint64 {
	select {
	case <-s.exited:
		return s.maxMemUsage
	default:
		return s.peakMemory()
	}
}

// Pause freezes every process in the sandbox.
func (s *Sandbox) Pause() error {
	if err := s.c.Pause(); err != nil {
		return fmt.Errorf("pause sandbox %s: %w", s.id, err)
	}
	return nil
}

// Resume thaws a paused sandbox.
func (s *Sandbox) Resume() error {
	if err := s.c.Resume(); err != nil {
		return fmt.Errorf("resume sandbox %s: %w", s.id, err)
	}
	return nil
}

func (s *Sandbox) wait() {
	ps, err := s.p.Wait()
	switch {
	case ps != nil && !ps.Success():
		s.exitErr = &exec.ExitError{ProcessState: ps}
	case err != nil && ps == nil:
		s.exitErr = fmt.Errorf("wait sandbox %s: %w", s.id, err)
	}
	// The counters live in the cgroup, which Destroy removes; read them now.
	s.oomKilled = s.oomFired() || s.oomKillCount() > 0
	s.maxMemUsage = s.peakMemory()
	close(s.exited)
	s.log.Debug("sandbox exited", "status", s.exitErr, "oom", s.oomKilled)
}

func (s *Sandbox) oomFired() bool {
	if s.oomCh == nil {
		return false
	}
	select {
	case _, ok := <-s.oomCh:
		// The channel is closed when the cgroup goes away, which is not an
		// OOM; a value is.
		return ok
	default:
		return false
	}
}

// oomKillCount reads the memcg oom_kill counter: "oom_kill N" in
// memory.oom_control (v1) or memory.events (v2).
func (s *Sandbox) oomKillCount() uint64 {
	if dir := s.cgroups["memory"]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		return readKeyed(filepath.Join(dir, "memory.oom_control"), "oom_kill")
	}
	if dir := s.cgroups[""]; dir != "" {
		return readKeyed(filepath.Join(dir, "memory.events"), "oom_kill")
	}
	return 0
}

func (s *Sandbox) peakMemory() uint64 {
	if dir := s.cgroups["memory"]; dir != "" && !cgroups.IsCgroup2UnifiedMode() {
		return readUint(filepath.Join(dir, "memory.max_usage_in_bytes"))
	}
	if dir := s.cgroups[""]; dir != "" {
		return readUint(filepath.Join(dir, "memory.peak"))
	}
	return 0
}

// Destroy kills every process in the sandbox, waits for them, removes the
// container's cgroups and state and closes the listener and netns. It is
// idempotent and safe to call concurrently.
func (s *Sandbox) Destroy() error {
	s.destroyOnce.Do(func() { s.destroyErr = s.destroy() })
	return s.destroyErr
}

func (s *Sandbox) destroy() error {
	defer s.m.forget(s)
	// Wait for a Create still starting this sandbox (see Manager.Create).
	s.startMu.Lock()
	s.startMu.Unlock() //nolint:staticcheck // an empty critical section: only the wait matters

	var errs []error
	if s.c != nil {
		if s.p != nil {
			// Killing pid 1 of the sandbox's pid namespace kills all of it;
			// libcontainer thaws a paused cgroup so the kill is delivered.
			if err := s.c.Signal(unix.SIGKILL); err != nil && !errors.Is(err, libcontainer.ErrNotRunning) {
				s.log.Debug("kill sandbox init", "error", err)
			}
			select {
			case <-s.exited:
			case <-time.After(destroyWait):
				errs = append(errs, fmt.Errorf("sandbox %s init not reaped after SIGKILL", s.id))
			}
		}
		if err := s.c.Destroy(); err != nil {
			// Last resort for stragglers (or a stuck init): kill by cgroup
			// membership, then try again.
			killCgroups(s.cgroupDirs())
			if err := s.c.Destroy(); err != nil {
				errs = append(errs, fmt.Errorf("destroy sandbox %s: %w", s.id, err))
			}
		}
	}
	if s.ns != nil {
		if err := s.ns.close(); err != nil {
			errs = append(errs, fmt.Errorf("destroy sandbox %s: %w", s.id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Sandbox) cgroupDirs() []string {
	dirs := make([]string, 0, len(s.cgroups))
	for _, d := range s.cgroups {
		dirs = append(dirs, d)
	}
	return dirs
}

// lockedWriter serialises the two output streams of a sandbox onto writers
// that may not be safe for concurrent use.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func readKeyed(path, key string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(v, 10, 64)
			return n
		}
	}
	return 0
}
