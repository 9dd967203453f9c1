package kumod

import (
	"context"
	"fmt"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/image"
)

// Image GC defaults. The grace period covers the gap between an image
// being stored and the function record that names it being written (a
// CreateFunction in flight), and a registry push between its blobs and its
// manifest.
const (
	DefaultGCInterval = 15 * time.Minute
	DefaultGCGrace    = 10 * time.Minute
)

// collector runs image garbage collection: periodically, and on demand
// through POST /kumo/v1/gc.
type collector struct {
	d    *Daemon
	mu   sync.Mutex // one collection at a time
	stop context.CancelFunc
	done chan struct{}
}

// collect keeps every image the desired state names, every image a mounted
// sandbox root uses and every tagged image (the registry's and the runtime
// base images), and removes the rest that is older than grace.
func (c *collector) collect(ctx context.Context, grace time.Duration) (image.GCStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if grace < 0 {
		grace = c.d.cfg.GCGrace
	}
	live, err := c.d.control.LiveImages(ctx)
	if err != nil {
		return image.GCStats{}, err
	}
	liveSet := make(map[string]bool, len(live))
	for _, h := range live {
		liveSet[h.String()] = true
	}
	keep := live
	for _, digest := range c.d.node.ReleaseUnused(liveSet) {
		h, err := v1.NewHash(digest)
		if err != nil {
			return image.GCStats{}, fmt.Errorf("gc: mounted image %q: %w", digest, err)
		}
		keep = append(keep, h)
	}
	tagged, err := c.d.images.Tagged(ctx)
	if err != nil {
		return image.GCStats{}, fmt.Errorf("gc: %w", err)
	}
	keep = append(keep, tagged...)
	stats, err := c.d.images.Collect(ctx, keep, grace)
	if err != nil {
		return stats, err
	}
	if stats.Blobs > 0 || stats.Layers > 0 {
		c.d.log.Info("image gc", "blobs", stats.Blobs, "bytes", stats.BlobBytes, "layers", stats.Layers, "kept_images", stats.Kept)
	}
	return stats, nil
}

// start runs collect every interval until stopped.
func (c *collector) start(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := c.collect(ctx, -1); err != nil && ctx.Err() == nil {
					c.d.log.Warn("image gc", "error", err)
				}
			}
		}
	}()
}

func (c *collector) close() {
	if c != nil && c.stop != nil {
		c.stop()
		<-c.done
	}
}
