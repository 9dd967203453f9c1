package kumod

import (
	"context"
	"fmt"
	"time"

	"github.com/kumo-dev/kumo/runtime/internal/async"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// asyncParts are the pieces of asynchronous invocation: the queue the
// invoke path writes Event invocations to, the workers that run them and
// the event-invoke config operations.
type asyncParts struct {
	queue   *async.Queue
	worker  *async.Worker
	configs *control.EventConfigs
}

// openQueue makes sure the async stream exists; it comes before the invoke
// path, which writes to it.
func (d *Daemon) openQueue(ctx context.Context) error {
	q, err := async.NewQueue(ctx, d.store.JetStream(), 1, async.WithQueueLogger(d.log.With("component", "async")))
	if err != nil {
		return fmt.Errorf("open async queue: %w", err)
	}
	d.async = &asyncParts{queue: q}
	return nil
}

// startAsync starts the workers; it comes after the invoke path, which
// runs the events.
func (d *Daemon) startAsync(ctx context.Context, scope kumo.Scope) error {
	d.async.configs = control.NewEventConfigs(d.control, d.store)
	d.async.worker = async.NewWorker(d.async.queue, d.invoke, d.store, scope,
		async.WithLogger(d.log.With("component", "async")),
		async.WithSlots(d.cfg.Concurrency),
		async.WithRetryDelay(d.cfg.AsyncRetryDelay),
		async.WithRecorder(d.metrics))
	d.metrics.SetAsyncQueue(d.async.queue.PendingByFunction)
	if err := d.async.worker.Start(ctx); err != nil {
		d.async.worker = nil
		return fmt.Errorf("start async workers: %w", err)
	}
	return nil
}

// stopAsync stops taking events; the ones running end with their
// sandboxes, unacknowledged, so they run again after a restart.
func (d *Daemon) stopAsync() {
	if d.async != nil && d.async.worker != nil {
		d.async.worker.Stop()
	}
}

// waitAsync waits for the workers to settle what they hold; it must come
// before the invoke path closes.
func (d *Daemon) waitAsync(ctx context.Context) {
	if d.async != nil && d.async.worker != nil {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d.async.worker.Wait(wctx)
		cancel()
	}
}
