package kumod

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// baseImages is the host's image store whose base images are the managed
// runtimes' (package runtimes), built from the host's Debian packages on
// first use and tagged kumo/runtimes/<runtime>:latest, so the host's /v2/
// registry serves them too.
type baseImages struct {
	*image.Store
	runtimes *runtimes.Builder
}

func (b baseImages) BaseImage(ctx context.Context, runtime string) (v1.Image, error) {
	return b.runtimes.BaseImage(ctx, runtime)
}
