package client

import (
	"context"
	"net/http"
	"net/url"
)

// Runtime is one managed runtime of a host and its base image.
type Runtime struct {
	Name string `json:"name"`
	// Digest is the base image's manifest digest; "" until built.
	Digest string `json:"digest,omitempty"`
	// Built says whether the host has a current base image; if not, the
	// first function of the runtime builds it.
	Built bool `json:"built"`
	// Packages are the Debian packages in the image ("name=version") once
	// built, their names before.
	Packages   []string `json:"packages"`
	Entrypoint []string `json:"entrypoint,omitempty"`
}

// Runtimes lists the host's managed runtimes.
func (c *Client) Runtimes(ctx context.Context) ([]Runtime, error) {
	var out []Runtime
	err := c.call(ctx, http.MethodGet, "/kumo/v1/runtimes", nil, &out)
	return out, err
}

// BuildRuntime builds a runtime's base image on the host unless a current
// one exists; force rebuilds it anyway.
func (c *Client) BuildRuntime(ctx context.Context, name string, force bool) (Runtime, error) {
	var out Runtime
	path := "/kumo/v1/runtimes/" + url.PathEscape(name) + "/build"
	if force {
		path += "?force=true"
	}
	err := c.call(ctx, http.MethodPost, path, nil, &out)
	return out, err
}
