package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kumo-dev/kumo/runtime/internal/store"
)

// Stream is the part of the store holding audit records.
type Stream interface {
	AppendAudit(ctx context.Context, data []byte) (uint64, error)
	ReadAudit(ctx context.Context, afterSeq uint64, limit int) ([]store.AuditRecord, error)
	FollowAudit(ctx context.Context, afterSeq uint64) (<-chan store.AuditRecord, error)
}

const (
	// DefaultQueue is how many records may wait for the writer before new
	// ones are dropped.
	DefaultQueue = 4096
	// writeTimeout bounds one append, so a stuck engine cannot wedge the
	// writer forever; Close bounds the flush as a whole.
	writeTimeout = 5 * time.Second
)

// Option configures a Log.
type Option func(*Log)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(g *Log) {
		if l != nil {
			g.log = l
		}
	}
}

// WithQueue sets how many records may wait for the writer; at least 1.
func WithQueue(n int) Option {
	return func(g *Log) {
		if n > 0 {
			g.queue = n
		}
	}
}

// Log records control-plane calls to a Stream. Record never blocks: when
// the queue is full the record is dropped and counted. It is safe for
// concurrent use.
type Log struct {
	stream Stream
	log    *slog.Logger
	queue  int

	mu     sync.RWMutex // guards closed against Record sending on a closed ch
	closed bool
	ch     chan Record
	done   chan struct{}
	stop   context.CancelFunc
	ctx    context.Context

	written  atomic.Uint64
	dropped  atomic.Uint64
	failed   atomic.Uint64
	reported uint64 // drops already logged; writer goroutine only
}

// New starts a Log writing to stream.
func New(stream Stream, opts ...Option) *Log {
	g := &Log{stream: stream, log: slog.New(slog.DiscardHandler), queue: DefaultQueue, done: make(chan struct{})}
	for _, o := range opts {
		o(g)
	}
	g.ch = make(chan Record, g.queue)
	// The writer's context outlives every request; Close cancels it only
	// when the flush runs out of time.
	g.ctx, g.stop = context.WithCancel(context.Background())
	go g.run()
	return g
}

// Record queues r for writing. It never blocks; a record that does not fit
// the queue, or comes after Close, is dropped and counted.
func (g *Log) Record(r Record) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		g.dropped.Add(1)
		return
	}
	select {
	case g.ch <- r:
	default:
		g.dropped.Add(1)
	}
}

// Stats are counts since New.
type Stats struct {
	Written, Dropped, Failed uint64
}

// Stats returns how many records were written, dropped because the queue
// was full or the log closed, and lost to write errors.
func (g *Log) Stats() Stats {
	return Stats{Written: g.written.Load(), Dropped: g.dropped.Load(), Failed: g.failed.Load()}
}

// Close stops accepting records and writes the queued ones; when ctx ends
// first, the rest are counted as failed and Close returns ctx's error.
func (g *Log) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.ch)
	}
	g.mu.Unlock()
	select {
	case <-g.done:
		g.reportLoss()
		return nil
	case <-ctx.Done():
		g.stop()
		<-g.done
		g.reportLoss()
		return fmt.Errorf("flush audit log: %w", ctx.Err())
	}
}

func (g *Log) run() {
	defer close(g.done)
	for r := range g.ch {
		g.write(r)
	}
}

func (g *Log) write(r Record) {
	if g.ctx.Err() != nil {
		g.failed.Add(1)
		return
	}
	data, err := Encode(r)
	if err != nil {
		g.failed.Add(1)
		g.log.Error("audit record not written", "operation", r.Operation, "request_id", r.RequestID, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(g.ctx, writeTimeout)
	_, err = g.stream.AppendAudit(ctx, data)
	cancel()
	if err != nil {
		g.failed.Add(1)
		if !errors.Is(err, context.Canceled) {
			g.log.Error("audit record not written", "operation", r.Operation, "request_id", r.RequestID, "error", err)
		}
		return
	}
	g.written.Add(1)
	g.reportLoss()
}

// reportLoss logs drops once per burst rather than once per record, so a
// flood does not also flood the log.
func (g *Log) reportLoss() {
	if d := g.dropped.Load(); d > g.reported {
		g.log.Warn("audit records dropped: queue full", "dropped", d-g.reported, "dropped_total", d)
		g.reported = d
	}
}

// Read returns up to limit records after sequence after, oldest first.
func (g *Log) Read(ctx context.Context, after uint64, limit int) ([]Record, error) {
	stored, err := g.stream.ReadAudit(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(stored))
	for _, s := range stored {
		out = append(out, decodeStored(s))
	}
	return out, nil
}

// Follow sends the records after sequence after, then new ones, until ctx
// ends.
func (g *Log) Follow(ctx context.Context, after uint64) (<-chan Record, error) {
	in, err := g.stream.FollowAudit(ctx, after)
	if err != nil {
		return nil, err
	}
	out := make(chan Record)
	go func() {
		defer close(out)
		for s := range in {
			select {
			case out <- decodeStored(s):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// decodeStored turns a stored message into a record; one that does not
// decode is still shown, by its sequence, rather than silently skipped.
func decodeStored(s store.AuditRecord) Record {
	r, err := Decode(s.Data)
	if err != nil {
		r = Record{Time: s.Time, Operation: "Undecodable", ErrorCode: "UndecodableRecord"}
	}
	r.Seq = s.Seq
	return r
}
