package kumod

import (
	"fmt"
	"net"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
)

// DefaultMaxImageBytes is Config.MaxImageBytes's default: Lambda's 10 GB.
const DefaultMaxImageBytes = control.DefaultMaxImageBytes

// openRemote sets up pulling container images from registries (with the
// Docker config file's credentials) and, with Config.Registry, the mirror
// every function image is pushed to.
func (d *Daemon) openRemote() (*image.Remote, *image.Mirror, error) {
	remote, err := image.NewRemote()
	if err != nil {
		return nil, nil, err
	}
	if d.cfg.Registry == "" {
		return remote, nil, nil
	}
	mirror, err := image.NewMirror(d.cfg.Registry, d.images, remote)
	if err != nil {
		return nil, nil, fmt.Errorf("--registry: %w", err)
	}
	return remote, mirror, nil
}

// isLocalRegistry reports whether an ImageUri's registry is this host's
// own /v2/: the listen address, or a loopback name with its port. Such
// images are read from the image store directly.
func (d *Daemon) isLocalRegistry(registry string) bool {
	if d.listener == nil {
		return false
	}
	addr := d.Addr()
	if registry == addr {
		return true
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	host, rport, err := net.SplitHostPort(registry)
	if err != nil || rport != port {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
