package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

const logKeySandbox = "sandbox_id"

// Manager creates sandboxes and owns their state directory and cgroup
// prefix.
type Manager struct {
	stateRoot string
	// containerRoot holds libcontainer's per-container state.
	containerRoot string
	prefix        string
	log           *slog.Logger

	spawn    chan spawnReq
	stop     chan struct{}
	stopOnce sync.Once

	mu     sync.Mutex
	live   map[string]*Sandbox
	closed bool
}

var errClosed = errors.New("sandbox manager closed")

// New prepares stateRoot and cleans what a previous daemon that crashed
// with the same stateRoot and cgroup prefix left behind: processes in and
// cgroups under the prefix in every hierarchy, libcontainer state
// directories and mounts under stateRoot. Sandboxes are never re-adopted;
// Lambda semantics allow losing warm instances, not running stale ones.
func New(stateRoot string, opts ...Option) (*Manager, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if !filepath.IsAbs(stateRoot) {
		return nil, kumo.InvalidParameter("sandbox state root %q must be an absolute path", stateRoot)
	}
	m := &Manager{
		stateRoot:     filepath.Clean(stateRoot),
		containerRoot: filepath.Join(stateRoot, "containers"),
		prefix:        o.cgroupPrefix,
		log:           o.logger,
		live:          map[string]*Sandbox{},
		spawn:         make(chan spawnReq),
		stop:          make(chan struct{}),
	}
	if err := m.cleanLeftovers(); err != nil {
		return nil, fmt.Errorf("clean sandbox leftovers: %w", err)
	}
	if err := os.MkdirAll(m.containerRoot, 0o700); err != nil {
		return nil, fmt.Errorf("create sandbox state root: %w", err)
	}
	// Starts are CPU-bound; more spawners than CPUs would not start more
	// sandboxes per second.
	startSpawners(max(runtime.GOMAXPROCS(0), 2), m.spawn, m.stop)
	if !seccompEnabled {
		m.log.Warn("sandboxes run without a seccomp filter: binary built without -tags seccomp")
	}
	return m, nil
}

// SeccompEnabled reports whether sandboxes get the seccomp deny-list; it
// needs a binary built with -tags seccomp.
func (m *Manager) SeccompEnabled() bool { return seccompEnabled }

// Create starts a sandbox: it creates the network namespace and Runtime API
// listener, creates the container and starts cfg.Args in it. It returns
// once the process runs. The context is checked between steps; libcontainer
// itself cannot be interrupted.
func (m *Manager) Create(ctx context.Context, cfg Config) (_ *Sandbox, retErr error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkMountpoints(cfg); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &Sandbox{
		id:       cfg.ID,
		m:        m,
		log:      m.log.With(logKeySandbox, cfg.ID),
		exited:   make(chan struct{}),
		cgroups:  map[string]string{},
		memoryMB: cfg.MemoryMB,
	}
	// startMu is held until the container runs: a Close (or any Destroy)
	// that finds the sandbox registered waits for its start to finish
	// instead of tearing the container down under libcontainer's feet
	// (Exec on a destroyed container dereferences nil).
	s.startMu.Lock()
	defer func() {
		s.startMu.Unlock()
		if retErr != nil {
			if err := s.Destroy(); err != nil {
				s.log.Warn("clean up after failed create", "error", err)
			}
		}
	}()
	if err := m.register(s); err != nil {
		return nil, err
	}

	t0 := time.Now()
	if s.ns, err = newNetns(); err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", cfg.ID, err)
	}
	spec := buildSpec(cfg, "/"+m.prefix+"/"+cfg.ID, s.ns.path())
	lcfg, err := libcontainerConfig(spec)
	if err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", cfg.ID, err)
	}
	tNetns := time.Since(t0)
	c, err := libcontainer.Create(m.containerRoot, cfg.ID, lcfg)
	if err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", cfg.ID, err)
	}
	s.c = c
	p := &libcontainer.Process{
		Args:   cfg.Args,
		Env:    cfg.Env,
		Cwd:    cfg.Cwd,
		UID:    cfg.UID,
		GID:    cfg.GID,
		Stdout: cfg.Stdout,
		Stderr: cfg.Stderr,
		Init:   true,
	}
	if !isFile(cfg.Stdout) || !isFile(cfg.Stderr) {
		// os/exec copies non-file writers from pipes in two goroutines and
		// serialises them only when both are the same comparable value; one
		// lock covers every case.
		var outMu sync.Mutex
		p.Stdout = &lockedWriter{mu: &outMu, w: cfg.Stdout}
		p.Stderr = &lockedWriter{mu: &outMu, w: cfg.Stderr}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tCreate := time.Since(t0)
	if err := m.onSpawner(func() error { return c.Start(p) }); err != nil {
		return nil, fmt.Errorf("start sandbox %s: %w", cfg.ID, err)
	}
	s.p = p
	if st, err := c.State(); err == nil {
		s.cgroups = st.CgroupPaths
	}
	// Registered before Exec so an OOM during the function's first
	// allocation is not missed.
	if s.oomCh, err = c.NotifyOOM(); err != nil {
		s.log.Warn("no OOM notification; relying on the oom_kill counter", "error", err)
	}
	go s.wait()
	tStart := time.Since(t0)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.Exec(); err != nil {
		return nil, fmt.Errorf("exec sandbox %s: %w", cfg.ID, err)
	}
	s.log.Debug("sandbox started", "netns", tNetns, "create", tCreate, "start", tStart, "exec", time.Since(t0))
	return s, nil
}

func (m *Manager) register(s *Sandbox) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	if _, ok := m.live[s.id]; ok {
		return kumo.Errorf(kumo.ErrConflict, "sandbox %s already exists", s.id)
	}
	m.live[s.id] = s
	return nil
}

func (m *Manager) forget(s *Sandbox) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live[s.id] == s {
		delete(m.live, s.id)
	}
}

// Close destroys every live sandbox and refuses new ones.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	live := make([]*Sandbox, 0, len(m.live))
	for _, s := range m.live {
		live = append(live, s)
	}
	m.mu.Unlock()

	errCh := make(chan error, len(live))
	for _, s := range live {
		go func() { errCh <- s.Destroy() }()
	}
	var errs []error
	for range live {
		if err := <-errCh; err != nil {
			errs = append(errs, err)
		}
	}
	m.removePrefix()
	m.stopOnce.Do(func() { close(m.stop) })
	return errors.Join(errs...)
}

// removePrefix removes the now empty prefix cgroups libcontainer created as
// parents. A sandbox of another manager with the same prefix would keep
// its parent busy; that is not an error.
func (m *Manager) removePrefix() {
	hierarchies, err := cgroupMounts()
	if err != nil {
		m.log.Debug("list cgroup mounts", "error", err)
		return
	}
	for _, h := range hierarchies {
		if err := unix.Rmdir(filepath.Join(h, m.prefix)); err != nil && !errors.Is(err, unix.ENOENT) {
			m.log.Debug("remove cgroup prefix", "hierarchy", h, "error", err)
		}
	}
}

// isFile reports whether w is an *os.File. A file (such as the write end of
// a pipe the caller reads) is handed to the process as its descriptor, with
// no copying goroutine in between, so the caller sees output in exactly the
// order the process wrote it relative to anything else written to that file.
func isFile(w io.Writer) bool {
	_, ok := w.(*os.File)
	return ok
}
