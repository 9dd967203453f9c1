package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	functionsBucket = "kumo_functions"
	logStream       = "KUMO_LOGS"
	logSubjectPre   = "kumo.logs."

	// maxPayload is the NATS message limit (headers + body). The spike
	// measured 6 MiB sync payloads fine at 8 MiB; above 8 MiB the server
	// warns.
	maxPayload = 8 << 20

	defaultLogMaxBytes       = 256 << 20
	defaultLogMaxPerFunction = 10000

	// defaultStartTimeout bounds waiting for the embedded server when ctx
	// carries no deadline.
	defaultStartTimeout = 10 * time.Second
	closeTimeout        = 10 * time.Second
)

// Config says where the state lives.
type Config struct {
	// Dir is the data directory; the embedded JetStream store lives in
	// Dir/nats. Required when URL is empty.
	Dir string
	// URL names an external NATS server or cluster. Empty means embedded.
	URL string
	// Replicas of the bucket and stream; 0 means 1. Use 3 on a cluster.
	Replicas int
	// LogMaxBytes bounds the whole log stream; 0 means 256 MiB.
	LogMaxBytes int64
	// LogMaxPerFunction bounds the log messages kept per function; 0 means
	// 10000.
	LogMaxPerFunction int64
	// AuditMaxBytes and AuditMaxMsgs bound the audit stream; 0 means
	// 64 MiB and 200000 records.
	AuditMaxBytes int64
	AuditMaxMsgs  int64
}

// Option configures Open.
type Option func(*options)

type options struct {
	log    *slog.Logger
	sealer Sealer
}

// WithLogger sets the logger for the store and the embedded server.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Store is kumo's connection to JetStream. It is safe for concurrent use.
type Store struct {
	log  *slog.Logger
	srv  *server.Server // nil when connected to an external server
	nc   *nats.Conn
	js   jetstream.JetStream
	kv   jetstream.KeyValue
	logs jetstream.Stream
	// versions and aliases hold published versions and aliases.
	versions jetstream.KeyValue
	aliases  jetstream.KeyValue
	closed   chan struct{} // closed by the connection's closed handler
	done     chan struct{} // closed when Close starts, stops watchers

	closeOnce sync.Once
	closeErr  error

	// sealer seals environments at rest; nil stores them in clear.
	sealer Sealer

	eventConfigs jetstream.KeyValue // event-invoke configs (eventconfig.go)

	access accessBuckets // function URL configs and policies (access.go)

	layers jetstream.KeyValue // layer versions and their counters (layers.go)
}

// Open starts the embedded server (or connects to cfg.URL) and makes sure
// the functions bucket and the log stream exist with cfg's settings.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}

	s := &Store{
		log:    o.log,
		sealer: o.sealer,
		closed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	connOpts := []nats.Option{
		nats.Name("kumo"),
		nats.ClosedHandler(func(*nats.Conn) { close(s.closed) }),
	}
	if cfg.URL == "" {
		s.srv, err = startEmbedded(ctx, filepath.Join(cfg.Dir, "nats"), o.log)
		if err != nil {
			return nil, err
		}
		connOpts = append(connOpts, nats.InProcessServer(s.srv))
	} else {
		connOpts = append(connOpts, nats.MaxReconnects(-1))
	}

	s.nc, err = nats.Connect(cfg.URL, connOpts...)
	if err != nil {
		s.shutdownServer()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if err := s.setup(ctx, cfg); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" && c.Dir == "" {
		return c, errors.New("store config: Dir is required for the embedded server")
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		return c, fmt.Errorf("store config: replicas %d out of range 1..5", c.Replicas)
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.URL == "" && c.Replicas != 1 {
		return c, fmt.Errorf("store config: the embedded single-node server cannot hold %d replicas", c.Replicas)
	}
	if c.LogMaxBytes < 0 || c.LogMaxPerFunction < 0 {
		return c, errors.New("store config: log bounds must not be negative")
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = defaultLogMaxBytes
	}
	if c.LogMaxPerFunction == 0 {
		c.LogMaxPerFunction = defaultLogMaxPerFunction
	}
	return c, nil
}

func startEmbedded(ctx context.Context, dir string, log *slog.Logger) (*server.Server, error) {
	// Create the directory ourselves so an unusable data dir is reported
	// plainly instead of as a JetStream start failure.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create nats store dir: %w", err)
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "kumo",
		DontListen: true,
		JetStream:  true,
		StoreDir:   dir,
		// The default fsync every 2 minutes lost acknowledged writes under
		// Jepsen; a single host must not.
		SyncAlways: true,
		MaxPayload: maxPayload,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("configure nats server: %w", err)
	}
	nl := &natsLogger{log: log.With("component", "nats")}
	// Without our logger the server's Fatalf either does nothing or calls
	// log.Fatalf and exits the whole process.
	srv.SetLoggerV2(nl, false, false, false)
	srv.Start()
	// Start returns early, without JetStream and without ever becoming
	// ready, when enabling JetStream fails (e.g. an unwritable store); it
	// reports that only through Fatalf.
	if msg := nl.fatal.Load(); msg != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start nats server in %s: %s", dir, *msg)
	}

	timeout := defaultStartTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start nats server in %s: not ready within %s", dir, timeout)
	}
	// Never run on without JetStream: the state would silently be gone.
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("start nats server in %s: jetstream not enabled", dir)
	}
	return srv, nil
}

func (s *Store) setup(ctx context.Context, cfg Config) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	s.js = js
	s.kv, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      functionsBucket,
		Description: "kumo function desired state, one JSON document per function name",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", functionsBucket, err)
	}
	s.logs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              logStream,
		Description:       "kumo function logs, one subject per function",
		Subjects:          []string{logSubjectPre + "*"},
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxBytes:          cfg.LogMaxBytes,
		MaxMsgsPerSubject: cfg.LogMaxPerFunction,
		MaxMsgSize:        maxLogMsgSize,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", logStream, err)
	}
	if err := s.setupVersions(ctx, cfg.Replicas); err != nil {
		return err
	}
	if err := s.setupEventConfigs(ctx, cfg); err != nil {
		return err
	}
	if err := s.setupAccess(ctx, cfg.Replicas); err != nil {
		return err
	}
	if err := s.setupAudit(ctx, cfg); err != nil {
		return err
	}
	if err := s.setupLayers(ctx, cfg.Replicas); err != nil {
		return err
	}
	return nil
}

// JetStream is the escape hatch for features that need their own streams
// (the async invoke queue, for one).
func (s *Store) JetStream() jetstream.JetStream { return s.js }

// Close drains the connection, stops watchers and followers and, when the
// server is embedded, shuts it down and waits for it. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if err := s.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			s.closeErr = fmt.Errorf("drain nats connection: %w", err)
			s.nc.Close()
		}
		select {
		case <-s.closed:
		case <-time.After(closeTimeout):
			s.nc.Close()
			s.closeErr = errors.Join(s.closeErr, errors.New("drain nats connection: timed out"))
		}
		s.shutdownServer()
	})
	return s.closeErr
}

func (s *Store) shutdownServer() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

// natsLogger routes the embedded server's logging into slog. Its Fatalf
// records the message instead of exiting, so Open can report it.
type natsLogger struct {
	log   *slog.Logger
	fatal atomic.Pointer[string]
}

var _ server.Logger = (*natsLogger)(nil)

// Notices are the startup banner and routine chatter: debug, not info.
func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.fatal.Store(&msg)
	l.log.Error(msg, "fatal", true)
}
