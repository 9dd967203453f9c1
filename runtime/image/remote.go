package image

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Remote pulls images from and pushes them to OCI registries with
// go-containerregistry. Registries on loopback and private addresses are
// spoken to over plain HTTP, as ggcr does; others over HTTPS.
type Remote struct {
	keychain  authn.Keychain
	transport http.RoundTripper
}

// RemoteOption configures a Remote.
type RemoteOption func(*Remote) error

// WithKeychain sets where credentials come from. The default is
// authn.DefaultKeychain: the Docker config file ($DOCKER_CONFIG/config.json
// or ~/.docker/config.json) and the credential helpers it names.
func WithKeychain(k authn.Keychain) RemoteOption {
	return func(r *Remote) error {
		if k == nil {
			return errors.New("WithKeychain: nil keychain")
		}
		r.keychain = k
		return nil
	}
}

// WithTransport sets the HTTP transport (tests, proxies).
func WithTransport(t http.RoundTripper) RemoteOption {
	return func(r *Remote) error {
		if t == nil {
			return errors.New("WithTransport: nil transport")
		}
		r.transport = t
		return nil
	}
}

// NewRemote returns a Remote.
func NewRemote(opts ...RemoteOption) (*Remote, error) {
	r := &Remote{keychain: authn.DefaultKeychain, transport: remote.DefaultTransport}
	for _, o := range opts {
		if err := o(r); err != nil {
			return nil, fmt.Errorf("new remote: %w", err)
		}
	}
	return r, nil
}

func (r *Remote) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(r.keychain),
		remote.WithTransport(r.transport),
		remote.WithUserAgent("kumo"),
	}
}

// Image returns the image ref names. An index resolves to its image for
// Platform. Only the manifest is fetched now; blobs are fetched as they are
// read, so pass the result to Store.Write to copy it in. The error is
// kumo.ErrNotFound when the registry has no such image, kumo.ErrAccessDenied
// when it refused the credentials, and kumo.ErrUnsupported for an index
// without a Platform image or a manifest that is not an image.
func (r *Remote) Image(ctx context.Context, ref name.Reference) (v1.Image, error) {
	desc, err := remote.Get(ref, r.options(ctx)...)
	if err != nil {
		return nil, classifyRemote(ref, err)
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, classifyRemote(ref, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, classifyRemote(ref, err)
		}
		d, err := platformManifest(im)
		if err != nil {
			return nil, err
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return nil, classifyRemote(ref, err)
		}
		return img, nil
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return nil, classifyRemote(ref, err)
		}
		return img, nil
	}
	return nil, kumo.Errorf(kumo.ErrUnsupported, "%s has media type %q, which is not an image or an index", ref, desc.MediaType)
}

// Push writes img to ref, uploading only the blobs the registry lacks.
func (r *Remote) Push(ctx context.Context, ref name.Reference, img v1.Image) error {
	if err := remote.Write(ref, img, r.options(ctx)...); err != nil {
		return fmt.Errorf("push %s: %w", ref, classifyRemote(ref, err))
	}
	return nil
}

// classifyRemote gives registry errors kumo's sentinels, keeping the
// registry's own words.
func classifyRemote(ref name.Reference, err error) error {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return fmt.Errorf("%s: %w", ref, err)
	}
	switch terr.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w: %w", ref, kumo.ErrNotFound, err)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %w: %w", ref, kumo.ErrAccessDenied, err)
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return fmt.Errorf("%s: %w: %w", ref, kumo.ErrNotFound, err)
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return fmt.Errorf("%s: %w: %w", ref, kumo.ErrAccessDenied, err)
		}
	}
	return fmt.Errorf("%s: %w", ref, err)
}
