package kumod

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/audit"
	"github.com/kumo-dev/kumo/runtime/internal/auth"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/invoke"
	"github.com/kumo-dev/kumo/runtime/internal/metrics"
	"github.com/kumo-dev/kumo/runtime/internal/node"
	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
	"github.com/kumo-dev/kumo/runtime/internal/server"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// Config is everything a host needs; cmd/kumo fills it from flags and
// KUMO_* variables.
type Config struct {
	Listen    string // default 127.0.0.1:9001
	DataDir   string // default /var/lib/kumo
	Region    string // default local
	AccountID string // default 000000000000
	NATSURL   string // external NATS; "" starts the embedded server
	// IdleTimeout is how long a warm sandbox is kept unused.
	IdleTimeout time.Duration
	// Concurrency is the account's concurrent execution limit.
	Concurrency int
	// ShutdownGrace bounds how long in-flight invocations may run after a
	// shutdown began; then their sandboxes are destroyed.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	// AsyncRetryDelay is the wait before the first retry of a failed
	// async event (Lambda: 1 minute); every async delay scales with it.
	AsyncRetryDelay time.Duration
	// GCInterval is how often unused images are collected (negative:
	// never, only on request); GCGrace protects what was written or used
	// more recently than that.
	GCInterval time.Duration
	GCGrace    time.Duration
	// Registry is an external OCI registry (host[:port][/path]) the host
	// pushes every function image it writes to, and pulls images it lacks
	// from; "" keeps images on this host only.
	Registry string
	// MaxImageBytes is the largest container image (PackageType Image)
	// accepted, uncompressed; default Lambda's 10 GB.
	MaxImageBytes int64
	// MaxBlobBytes bounds one blob pushed to the host's registry (/v2/);
	// default 10 GiB.
	MaxBlobBytes int64
}

func (c *Config) defaults() error {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:9001"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/kumo"
	}
	if c.Region == "" {
		c.Region = "local"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = node.DefaultIdleTimeout
	}
	if c.Concurrency == 0 {
		c.Concurrency = invoke.DefaultConcurrency
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.GCInterval == 0 {
		c.GCInterval = DefaultGCInterval
	}
	if c.GCGrace == 0 {
		c.GCGrace = DefaultGCGrace
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	scope := kumo.Scope{Region: c.Region, Account: c.AccountID}
	if _, err := scope.ParseFunctionName(scope.FunctionARN("probe")); err != nil {
		return fmt.Errorf("region %q or account id %q is not valid in an ARN: %w", c.Region, c.AccountID, err)
	}
	if c.Concurrency < 1 {
		return fmt.Errorf("concurrency must be at least 1, got %d", c.Concurrency)
	}
	if c.MaxImageBytes == 0 {
		c.MaxImageBytes = control.DefaultMaxImageBytes
	}
	if c.MaxImageBytes < 0 {
		return fmt.Errorf("max image bytes must be positive, got %d", c.MaxImageBytes)
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	c.DataDir = abs
	return nil
}

// Daemon is a running host.
type Daemon struct {
	cfg         Config
	log         *slog.Logger
	lock        *os.File
	creds       auth.Credentials
	credsPath   string
	created     bool
	store       *store.Store
	images      *image.Store
	sandboxes   *sandbox.Manager
	node        *node.Node
	invoke      *invoke.Service
	metrics     *metrics.Metrics
	control     *control.Service
	listener    net.Listener
	http        *http.Server
	stopWatch   context.CancelFunc
	watchDone   chan struct{}
	closeOnce   bool
	serveResult chan error
	audit       *audit.Log
	async       *asyncParts // async.go
	gc          *collector  // gc.go
	runtimes    *runtimes.Builder
}

// New starts every part of a host and listens, but serves nothing until
// Run. On error everything started so far is stopped again.
func New(ctx context.Context, cfg Config) (_ *Daemon, retErr error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger}
	defer func() {
		if retErr != nil {
			d.teardown(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := d.takeLock(); err != nil {
		return nil, err
	}
	var err error
	d.credsPath = filepath.Join(cfg.DataDir, "credentials")
	d.creds, d.created, err = auth.LoadOrCreate(d.credsPath)
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	sealer, checkKey, err := openSealer(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	d.store, err = store.Open(ctx, store.Config{Dir: cfg.DataDir, URL: cfg.NATSURL}, store.WithLogger(d.log.With("component", "store")), store.WithSealer(sealer))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := checkKey(ctx, d.store); err != nil {
		return nil, err
	}
	d.audit = audit.New(d.store, audit.WithLogger(d.log.With("component", "audit")))
	d.images, err = image.Open(filepath.Join(cfg.DataDir, "images"), image.WithLogger(d.log.With("component", "image")))
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	d.runtimes, err = runtimes.New(d.images, runtimes.WithLogger(d.log.With("component", "runtimes")))
	if err != nil {
		return nil, err
	}
	d.sandboxes, err = sandbox.New(filepath.Join(cfg.DataDir, "sandboxes"),
		sandbox.WithLogger(d.log.With("component", "sandbox")),
		sandbox.WithCgroupPrefix(cgroupPrefix(cfg.DataDir)))
	if err != nil {
		return nil, fmt.Errorf("start sandbox manager: %w", err)
	}
	scope := kumo.Scope{Region: cfg.Region, Account: cfg.AccountID}
	remote, mirror, err := d.openRemote()
	if err != nil {
		return nil, err
	}
	nodeOpts := []node.Option{node.WithLogger(d.log.With("component", "node")), node.WithIdleTimeout(cfg.IdleTimeout)}
	if mirror != nil {
		nodeOpts = append(nodeOpts, node.WithFetcher(mirror))
	}
	d.node, err = node.New(d.sandboxes, d.images, scope, filepath.Join(cfg.DataDir, "rootfs"), nodeOpts...)
	if err != nil {
		return nil, fmt.Errorf("start node: %w", err)
	}
	d.metrics = metrics.New()
	if err := d.openQueue(ctx); err != nil {
		return nil, err
	}
	d.invoke = invoke.New(d.node, d.store, scope, invoke.WithLogger(d.log.With("component", "invoke")),
		invoke.WithConcurrency(cfg.Concurrency), invoke.WithRecorder(d.metrics), invoke.WithEnqueuer(d.async.queue))
	imageOpts := []control.Option{
		control.WithImageSource(remote),
		control.WithLocalImages(d.isLocalRegistry, d.images),
		control.WithMaxImageBytes(cfg.MaxImageBytes),
	}
	if mirror != nil {
		imageOpts = append(imageOpts, control.WithMirror(mirror))
	}
	imageOpts = append(imageOpts, control.WithRuntimes(runtimes.Supported()))
	d.control = control.New(d.store, baseImages{d.images, d.runtimes}, scope, append(imageOpts,
		control.WithLogger(d.log.With("component", "control")),
		control.WithChangeHook(func(name string, f *kumo.Function) {
			d.invoke.Observe(name, f)
			if f == nil {
				d.metrics.Forget(name)
			}
		}),
		control.WithAliasHook(d.invoke.ObserveAlias),
		control.WithVersionHook(d.invoke.ObserveVersion),
		control.WithLimits(control.Limits{ConcurrentExecutions: cfg.Concurrency, UnreservedMinimum: unreservedMinimum(cfg.Concurrency)}))...)
	if err := d.watch(ctx); err != nil {
		return nil, err
	}
	if err := d.control.WatchAccess(ctx); err != nil { // function URLs and policies
		return nil, err
	}
	if err := d.startAsync(ctx, scope); err != nil {
		return nil, err
	}
	d.gc = &collector{d: d}
	verifier := auth.NewVerifier(d.creds, cfg.Region, "lambda")
	reg, err := d.openRegistry() // registry.go
	if err != nil {
		return nil, err
	}
	api := server.New(d.control, d.invoke, logAdapter{d.store}, verifier, server.WithLogger(d.log.With("component", "server")), server.WithMetrics(d.metrics.Handler()), server.WithAuditor(d.audit),
		server.WithEventConfigs(d.async.configs), server.WithRuntimes(d.runtimes),
		server.WithCollector(func(ctx context.Context, grace time.Duration) (any, error) { return d.gc.collect(ctx, grace) }),
		server.WithRegistry(reg))
	d.listener, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	d.http = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	return d, nil
}

// unreservedMinimum is what reservations must leave unreserved: Lambda's
// 100, or a tenth of a smaller account limit, so a small host can still
// reserve.
func unreservedMinimum(limit int) int { return min(100, max(limit/10, 1)) }

// cgroupPrefix is unique per data dir, so two hosts on one machine (tests
// do this) never clean up each other's sandboxes.
func cgroupPrefix(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return "kumo-" + hex.EncodeToString(sum[:])[:10]
}

// takeLock makes sure only one host uses a data dir.
func (d *Daemon) takeLock() error {
	f, err := os.OpenFile(filepath.Join(d.cfg.DataDir, "kumo.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		_ = f.Close()
		return fmt.Errorf("data dir %s is in use by another kumo server: %w", d.cfg.DataDir, err)
	}
	d.lock = f
	return nil
}

// watch feeds the invoke path's copy of the desired state from the store.
func (d *Daemon) watch(ctx context.Context) error {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	events, err := d.store.WatchFunctions(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch functions: %w", err)
	}
	d.stopWatch = cancel
	d.watchDone = make(chan struct{})
	aliases, err := d.store.WatchAliases(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("watch aliases: %w", err)
	}
	go func() {
		defer close(d.watchDone)
		for events != nil || aliases != nil {
			select {
			case ev, ok := <-events:
				if !ok {
					events = nil
					continue
				}
				d.invoke.Observe(ev.Name, ev.Function)
			case ev, ok := <-aliases:
				if !ok {
					aliases = nil
					continue
				}
				d.invoke.ObserveAlias(ev.Function, ev.Name, ev.Alias)
			}
		}
	}()
	return nil
}

// Addr is the address the API listens on.
func (d *Daemon) Addr() string { return d.listener.Addr().String() }

// Credentials returns the host's key pair and the file holding it.
func (d *Daemon) Credentials() (auth.Credentials, string) { return d.creds, d.credsPath }

// CreatedCredentials reports whether this start wrote a new credentials file.
func (d *Daemon) CreatedCredentials() bool { return d.created }

// Exports are the shell lines that point the aws CLI at this host.
func (d *Daemon) Exports() []string {
	return []string{
		"export AWS_SHARED_CREDENTIALS_FILE=" + d.credsPath,
		"export AWS_PROFILE=kumo",
		"export AWS_ENDPOINT_URL_LAMBDA=http://" + d.Addr(),
		"export AWS_REGION=" + d.cfg.Region,
		// aws CLI v1 reads only AWS_DEFAULT_REGION.
		"export AWS_DEFAULT_REGION=" + d.cfg.Region,
	}
}

// Run serves until ctx is cancelled, then shuts down: no new requests,
// in-flight invocations get ShutdownGrace to finish, then every sandbox is
// destroyed and the store is closed.
func (d *Daemon) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- d.http.Serve(d.listener) }()
	if d.cfg.GCInterval > 0 {
		d.gc.start(d.cfg.GCInterval)
	}
	d.log.Info("kumo server listening", "addr", d.Addr(), "data_dir", d.cfg.DataDir, "seccomp", d.sandboxes.SeccompEnabled())
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutdownErr := d.shutdown()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return errors.Join(fmt.Errorf("serve: %w", serveErr), shutdownErr)
	}
	return shutdownErr
}

func (d *Daemon) shutdown() error {
	d.log.Info("kumo server shutting down")
	graceCtx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownGrace)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- d.http.Shutdown(graceCtx) }()
	var errs []error
	select {
	case err := <-shutdownDone:
		if err != nil {
			errs = append(errs, err)
		}
	case <-graceCtx.Done():
	}
	// Whatever still runs now is cut short: its sandbox is destroyed and its
	// caller gets an error response before the connection closes.
	errs = append(errs, d.teardown(context.Background()))
	_ = d.http.Close()
	return errors.Join(errs...)
}

// teardown stops everything New started, in reverse order.
func (d *Daemon) teardown(ctx context.Context) error {
	if d.closeOnce {
		return nil
	}
	d.closeOnce = true
	var errs []error
	if d.stopWatch != nil {
		d.stopWatch()
		<-d.watchDone
	}
	// Sandboxes go first: anything still running past the grace period is
	// killed, which ends its invocation at once; then the node has nothing
	// to wait for and unmounts the roots.
	d.stopAsync()
	d.gc.close()
	if d.node != nil {
		d.node.Stopping()
	}
	if d.sandboxes != nil {
		errs = append(errs, d.sandboxes.Close())
	}
	if d.node != nil {
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		errs = append(errs, d.node.Close(nctx))
		cancel()
	}
	d.waitAsync(ctx) // before the invoke path closes: workers still write logs
	if d.invoke != nil {
		d.invoke.Close()
	}
	if d.listener != nil {
		_ = d.listener.Close()
	}
	if d.audit != nil {
		// After the listener: every answered call's record is queued.
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		errs = append(errs, d.audit.Close(actx))
		cancel()
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	if d.lock != nil {
		_ = d.lock.Close()
	}
	return errors.Join(errs...)
}

// Close stops a daemon that was created but never Run.
func (d *Daemon) Close() error { return d.teardown(context.Background()) }

// logAdapter turns store log records into the server's wire records.
type logAdapter struct{ s *store.Store }

func (a logAdapter) ReadLogs(ctx context.Context, function string, after uint64, limit int) ([]server.LogRecord, error) {
	recs, err := a.s.ReadLogs(ctx, function, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]server.LogRecord, len(recs))
	for i, r := range recs {
		out[i] = wireRecord(r)
	}
	return out, nil
}

func (a logAdapter) FollowLogs(ctx context.Context, function string, after uint64) (<-chan server.LogRecord, error) {
	in, err := a.s.FollowLogs(ctx, function, after)
	if err != nil {
		return nil, err
	}
	out := make(chan server.LogRecord)
	go func() {
		defer close(out)
		for r := range in {
			select {
			case out <- wireRecord(r):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func wireRecord(r store.LogRecord) server.LogRecord {
	return server.LogRecord{Seq: r.Seq, Time: r.Time, RequestID: r.RequestID, Data: string(r.Data)}
}

// Init hands control to libcontainer when the binary was re-executed as a
// sandbox's init process. Every binary that runs a host calls it from an
// init function, before anything else happens.
func Init() { sandbox.Init() }
