package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Images gives the unpacked layers of an image, lowest first.
type Images interface {
	Unpack(ctx context.Context, digest v1.Hash) ([]string, error)
	Image(ctx context.Context, digest v1.Hash) (v1.Image, error)
}

// Sandboxes starts sandboxes.
type Sandboxes interface {
	Create(ctx context.Context, cfg sandbox.Config) (*sandbox.Sandbox, error)
}

// Defaults.
const (
	DefaultIdleTimeout = 5 * time.Minute
	// InitTimeout bounds the init phase (until the runtime's first /next),
	// as Lambda bounds on-demand init to 10 seconds.
	InitTimeout = 10 * time.Second
	// logHeadBytes and logTailBytes bound what is kept of one invocation's
	// output.
	logHeadBytes = 256 * 1024
	logTailBytes = 64 * 1024
	flushTimeout = 200 * time.Millisecond
)

// Node runs invocations in sandboxes on this machine.
type Node struct {
	sandboxes   Sandboxes
	images      Images
	scope       kumo.Scope
	rootfsDir   string
	idleTimeout time.Duration
	freezeDelay time.Duration
	log         *slog.Logger

	// stopping is set when the host starts killing sandboxes on shutdown.
	stopping atomic.Bool

	mu      sync.Mutex
	pools   map[string]*pool // by function name
	mounts  map[string]string
	configs map[string]v1.Config // image config by image digest
	users   map[string]int       // instances holding each mounted root
	closed  bool
	busy    sync.WaitGroup

	// Container images (images.go): where missing images come from, and
	// the lowest layer of every root.
	fetcher  Fetcher
	scaffold string

	stopReaper context.CancelFunc
	reaperDone chan struct{}
}

// Option configures a Node.
type Option func(*Node)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(n *Node) { n.log = l } }

// DefaultFreezeDelay is how long an idle instance runs before it is frozen.
const DefaultFreezeDelay = 100 * time.Millisecond

// WithFreezeDelay sets how long an idle instance runs before it is frozen.
func WithFreezeDelay(d time.Duration) Option { return func(n *Node) { n.freezeDelay = d } }

// WithIdleTimeout sets how long an unused warm instance is kept.
func WithIdleTimeout(d time.Duration) Option { return func(n *Node) { n.idleTimeout = d } }

// New returns a Node. rootfsDir holds the read-only overlay mounts that
// compose each image's layers; mounts left there by a crashed daemon are
// removed.
func New(sandboxes Sandboxes, images Images, scope kumo.Scope, rootfsDir string, opts ...Option) (*Node, error) {
	n := &Node{
		sandboxes:   sandboxes,
		images:      images,
		scope:       scope,
		rootfsDir:   rootfsDir,
		idleTimeout: DefaultIdleTimeout,
		freezeDelay: DefaultFreezeDelay,
		log:         slog.New(slog.DiscardHandler),
		pools:       map[string]*pool{},
		mounts:      map[string]string{},
		configs:     map[string]v1.Config{},
		users:       map[string]int{},
	}
	for _, o := range opts {
		o(n)
	}
	if err := os.MkdirAll(rootfsDir, 0o700); err != nil {
		return nil, fmt.Errorf("create rootfs dir: %w", err)
	}
	if err := unmountChildren(rootfsDir); err != nil {
		return nil, err
	}
	var err error
	if n.scaffold, err = makeScaffold(rootfsDir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.stopReaper = cancel
	n.reaperDone = make(chan struct{})
	go n.reap(ctx)
	return n, nil
}

// unmountChildren removes every mount point directly under dir.
func unmountChildren(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read rootfs dir: %w", err)
	}
	for _, e := range entries {
		if e.Name() == scaffoldName {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount leftover rootfs %s: %w", p, err)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove leftover rootfs %s: %w", p, err)
		}
	}
	return nil
}

// Invocation is what the node needs to run one event.
type Invocation struct {
	RequestID     string
	Payload       []byte
	InvokedARN    string
	ClientContext string
	TraceID       string
	Version       string
}

// Outcome is one invocation's result.
type Outcome struct {
	Payload []byte
	// ErrorType is "" on success, else the function's or the platform's
	// errorType (Sandbox.Timedout, Runtime.ExitError, …).
	ErrorType string
	// Log is the invocation's log text, from START to REPORT, preceded by
	// the init phase's output on a cold start.
	Log      []byte
	Cold     bool
	Init     time.Duration
	Duration time.Duration
}

// Run runs inv on a warm instance of fn, or on a new one.
func (n *Node) Run(ctx context.Context, fn *kumo.Function, inv Invocation) (Outcome, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return Outcome{}, kumo.Errorf(kumo.ErrServiceUnavailable, "the host is shutting down")
	}
	p := n.poolFor(fn)
	n.busy.Add(1)
	n.mu.Unlock()
	defer n.busy.Done()

	inst := n.takeReady(ctx, p)
	cold := inst == nil
	var initLog []byte
	var initDur time.Duration
	if cold {
		var err error
		var out Outcome
		inst, out, err = n.start(ctx, fn, inv)
		if err != nil || inst == nil {
			return out, err
		}
		initLog, initDur = inst.initLog, inst.initDuration
	}
	out := inst.run(ctx, inv, cold)
	if inst.dead && n.stopping.Load() {
		// Killed by the shutdown, not by anything the function did: the
		// caller gets a service error, not a function error.
		inst.destroy()
		return Outcome{}, kumo.Errorf(kumo.ErrServiceUnavailable, "the host shut down while the invocation was running")
	}
	out.Cold = cold
	out.Init = initDur
	if cold {
		out.Log = append(initLog, out.Log...)
	}
	if inst.reusable() {
		n.park(p, inst)
	} else {
		inst.destroy()
	}
	return out, nil
}

// readyWait bounds how long a warm instance may take to come back to /next
// after its last answer; one that takes longer is replaced.
const readyWait = 2 * time.Second

// takeReady returns a warm instance whose runtime is parked in /next, or nil.
// An instance that answered and then died (aws-lambda-go exits after
// reporting a panic) is destroyed here instead of receiving the event.
func (n *Node) takeReady(ctx context.Context, p *pool) *instance {
	for {
		inst := p.take()
		if inst == nil {
			return nil
		}
		wctx, cancel := context.WithTimeout(ctx, readyWait)
		ready := make(chan error, 1)
		go func() { ready <- inst.api.WaitReady(wctx) }()
		var err error
		select {
		case err = <-ready:
		case <-inst.sb.Exited():
			err = errExited
		}
		cancel()
		if err == nil {
			return inst
		}
		n.log.Debug("discard warm instance that is not ready", "sandbox_id", inst.id, "error", err)
		inst.destroy()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// park returns a warm instance to its pool at once, so a back-to-back
// invocation finds it, and freezes it freezeDelay later unless an
// invocation took it first. Freezing is off the caller's path, and the
// delay keeps bursts of invocations from freezing and thawing a sandbox
// between each: on cgroup v1 a freeze can take 10-50 ms (the freezer
// retries and sleeps while tasks are still FREEZING), and the next
// invocation would wait for it.
func (n *Node) park(p *pool, inst *instance) {
	inst.parkMu.Lock()
	inst.idle = true
	inst.lastUsed = time.Now()
	inst.parkMu.Unlock()
	if !p.put(inst) {
		inst.destroy()
		return
	}
	inst.parkMu.Lock()
	inst.freezeTimer = time.AfterFunc(n.freezeDelay, func() {
		inst.parkMu.Lock()
		defer inst.parkMu.Unlock()
		if !inst.idle || inst.frozen {
			return
		}
		if err := inst.sb.Pause(); err != nil {
			// The next take sees a running, idle instance and uses it as
			// is; the reaper or the next failure removes a broken one.
			n.log.Warn("freeze sandbox", "sandbox_id", inst.id, "error", err)
			return
		}
		inst.frozen = true
	})
	inst.parkMu.Unlock()
}

// poolKey names the pool of one version of a function: instances never
// serve two versions, as in Lambda.
func poolKey(name, version string) string { return name + ":" + version }

func (n *Node) poolFor(fn *kumo.Function) *pool {
	key := poolKey(fn.Name, fn.VersionName())
	p := n.pools[key]
	if p == nil || p.revision != fn.RevisionID {
		if p != nil {
			go p.retire()
		}
		p = &pool{revision: fn.RevisionID}
		n.pools[key] = p
	}
	return p
}

// Forget retires the warm instances of a function version that changed or
// was deleted ("" for every version of the function), unless they run
// keepRevision; instances still running finish and are then destroyed.
func (n *Node) Forget(name, version, keepRevision string) {
	n.mu.Lock()
	var retired []*pool
	for key, p := range n.pools {
		match := key == poolKey(name, version) || version == "" && strings.HasPrefix(key, name+":")
		if match && p.revision != keepRevision {
			delete(n.pools, key)
			retired = append(retired, p)
		}
	}
	n.mu.Unlock()
	for _, p := range retired {
		p.retire()
	}
}

// Prepare unpacks and mounts a function's image in the background, so the
// first invocation after a create or an update does not wait for it.
func (n *Node) Prepare(fn *kumo.Function) {
	n.mu.Lock()
	_, ready := n.mounts[fn.ImageDigest]
	closed := n.closed
	n.mu.Unlock()
	if ready || closed || fn.ImageDigest == "" {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := n.ensureImage(ctx, fn); err != nil {
			n.log.Warn("prepare function image", "function", fn.Name, "error", err)
			return
		}
		if _, err := n.rootfs(ctx, fn.ImageDigest, false); err != nil {
			n.log.Warn("prepare function image", "function", fn.Name, "error", err)
		}
	}()
}

// Stats counts live instances, for tests and metrics.
type Stats struct{ Idle int }

// Stats returns the current counts.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	var s Stats
	for _, p := range n.pools {
		s.Idle += p.size()
	}
	return s
}

func (n *Node) reap(ctx context.Context) {
	defer close(n.reaperDone)
	every := min(max(n.idleTimeout/4, 100*time.Millisecond), 30*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		pools := make([]*pool, 0, len(n.pools))
		for _, p := range n.pools {
			pools = append(pools, p)
		}
		n.mu.Unlock()
		cutoff := time.Now().Add(-n.idleTimeout)
		for _, p := range pools {
			for _, inst := range p.expired(cutoff) {
				n.log.Debug("reap idle sandbox", "sandbox_id", inst.id)
				inst.destroy()
			}
		}
	}
}

// Stopping tells the node that sandboxes are about to be killed by a
// shutdown, so invocations they were running fail as a service error.
func (n *Node) Stopping() { n.stopping.Store(true) }

// Close waits for running invocations (bounded by ctx), then destroys every
// sandbox and unmounts every rootfs.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.stopReaper()
	<-n.reaperDone
	done := make(chan struct{})
	go func() { n.busy.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	n.mu.Lock()
	pools := n.pools
	n.pools = map[string]*pool{}
	n.mu.Unlock()
	for _, p := range pools {
		p.retire()
	}
	var errs []error
	n.mu.Lock()
	for digest, dir := range n.mounts {
		if !strings.HasPrefix(dir, n.rootfsDir+"/") {
			delete(n.mounts, digest) // a single-layer image is used in place
			continue
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount rootfs %s: %w", dir, err))
		}
		_ = os.Remove(dir)
		delete(n.mounts, digest)
	}
	n.mu.Unlock()
	return errors.Join(errs...)
}

// rootfs returns the read-only root of an image: an overlay of its
// unpacked layers, mounted once per image and shared by its sandboxes.
// With use set the caller holds the root until releaseRoot, and
// ReleaseUnused leaves it mounted.
func (n *Node) rootfs(ctx context.Context, digest string, use bool) (string, error) {
	n.mu.Lock()
	dir, ok := n.mounts[digest]
	if ok && use {
		n.users[digest]++
	}
	n.mu.Unlock()
	if ok {
		return dir, nil
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return "", fmt.Errorf("parse image digest %q: %w", digest, err)
	}
	layers, err := n.images.Unpack(ctx, h)
	if err != nil {
		return "", fmt.Errorf("unpack image %s: %w", digest, err)
	}
	// The scaffold goes under every image: an image without the sandbox's
	// mount points still gets them (images.go).
	layers = append([]string{n.scaffold}, layers...)
	n.mu.Lock()
	defer n.mu.Unlock()
	if dir, ok := n.mounts[digest]; ok {
		if use {
			n.users[digest]++
		}
		return dir, nil
	}
	if n.closed {
		return "", kumo.Errorf(kumo.ErrServiceUnavailable, "the host is shutting down")
	}
	if use {
		n.users[digest]++
	}
	if len(layers) == 1 {
		n.mounts[digest] = layers[0]
		return layers[0], nil
	}
	dir = filepath.Join(n.rootfsDir, h.Hex[:20])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		n.dropUser(digest, use)
		return "", fmt.Errorf("create rootfs mount point: %w", err)
	}
	lower := make([]string, len(layers))
	for i, l := range layers {
		lower[len(layers)-1-i] = l // overlayfs lists the top layer first
	}
	if err := unix.Mount("overlay", dir, "overlay", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "lowerdir="+strings.Join(lower, ":")); err != nil {
		n.dropUser(digest, use)
		return "", fmt.Errorf("mount rootfs of image %s: %w", digest, err)
	}
	n.mounts[digest] = dir
	return dir, nil
}

// dropUser undoes a use count taken by rootfs; n.mu is held.
func (n *Node) dropUser(digest string, use bool) {
	if !use {
		return
	}
	if n.users[digest]--; n.users[digest] <= 0 {
		delete(n.users, digest)
	}
}

// releaseRoot gives back a hold rootfs(…, true) took.
func (n *Node) releaseRoot(digest string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropUser(digest, true)
}

// ReleaseUnused unmounts the roots of images that no sandbox uses and
// keep does not name, so image GC can reclaim their layers. It returns the
// images still mounted.
func (n *Node) ReleaseUnused(keep map[string]bool) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var mounted []string
	for digest, dir := range n.mounts {
		if keep[digest] || n.users[digest] > 0 || n.closed {
			mounted = append(mounted, digest)
			continue
		}
		if strings.HasPrefix(dir, n.rootfsDir+"/") {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				n.log.Warn("unmount unused rootfs", "image", digest, "error", err)
				mounted = append(mounted, digest)
				continue
			}
			_ = os.Remove(dir)
		}
		delete(n.mounts, digest)
		delete(n.configs, digest)
	}
	return mounted
}

// findBootstrap looks for the runtime entry point where Lambda does.
func findBootstrap(rootfs string) (string, error) {
	candidates := []string{"/var/task/bootstrap", "/opt/bootstrap"}
	for _, c := range candidates {
		fi, err := os.Lstat(filepath.Join(rootfs, c))
		if err != nil {
			continue
		}
		// A symlink is resolved inside the sandbox, never on the host.
		if fi.Mode()&os.ModeSymlink != 0 || fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("Couldn't find valid bootstrap(s): [%s]", strings.Join(candidates, " ")) //nolint:staticcheck // Lambda's own message
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
