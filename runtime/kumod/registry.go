package kumod

import (
	"fmt"

	"github.com/kumo-dev/kumo/runtime/internal/registry"
)

// openRegistry builds the host's OCI registry over the image store,
// authenticated with the host's key pair; the server mounts it at /v2/.
func (d *Daemon) openRegistry() (*registry.Registry, error) {
	maxBlob := d.cfg.MaxBlobBytes
	if maxBlob == 0 {
		maxBlob = registry.DefaultMaxBlobSize
	}
	reg, err := registry.New(d.images, d.creds,
		registry.WithLogger(d.log.With("component", "registry")),
		registry.WithMaxBlobSize(maxBlob))
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	return reg, nil
}
