package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Mirror keeps function images in an external registry (`--registry`), so
// that hosts sharing it can run functions whose images another host built
// or pulled. Function NAME's images live in REGISTRY/kumo/functions/NAME,
// tagged with the version they belong to.
type Mirror struct {
	prefix string
	store  *Store
	remote *Remote
}

// NewMirror returns a Mirror for registry, a host[:port] optionally
// followed by a path ("registry.example.com/team").
func NewMirror(registry string, store *Store, r *Remote) (*Mirror, error) {
	registry = strings.TrimSuffix(registry, "/")
	if _, err := name.NewRepository(registry+"/kumo/functions/probe", name.StrictValidation); err != nil {
		return nil, fmt.Errorf("registry %q: %w", registry, err)
	}
	return &Mirror{prefix: registry + "/kumo/functions/", store: store, remote: r}, nil
}

// repoComponentRE is a repository path component as the distribution spec
// allows it. It compiles on first use: the daemon binary is re-executed as
// every sandbox's init, so package initialisation must stay cheap.
var repoComponentRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$`)
})

// Repository is where function's images live. Lambda function names may
// hold upper case letters and separators where a repository name may not;
// such names are replaced by a hash, so two functions never share one.
func (m *Mirror) Repository(function string) (name.Repository, error) {
	comp := function
	if !repoComponentRE().MatchString(comp) {
		sum := sha256.Sum256([]byte(function))
		comp = "fn-" + hex.EncodeToString(sum[:])[:24]
	}
	return name.NewRepository(m.prefix+comp, name.StrictValidation)
}

// Push uploads the stored image digest as function's image, tagged tag
// ("latest" for $LATEST, the number for a published version).
func (m *Mirror) Push(ctx context.Context, function, tag string, digest v1.Hash) error {
	repo, err := m.Repository(function)
	if err != nil {
		return err
	}
	img, err := m.store.Image(ctx, digest)
	if err != nil {
		return fmt.Errorf("push image of function %s: %w", function, err)
	}
	if err := m.remote.Push(ctx, repo.Tag(tag), img); err != nil {
		return fmt.Errorf("push image of function %s: %w", function, err)
	}
	return nil
}

// Fetch copies function's image digest from the registry into the store.
func (m *Mirror) Fetch(ctx context.Context, function string, digest v1.Hash) error {
	repo, err := m.Repository(function)
	if err != nil {
		return err
	}
	img, err := m.remote.Image(ctx, repo.Digest(digest.String()))
	if err != nil {
		return fmt.Errorf("fetch image of function %s: %w", function, err)
	}
	got, err := m.store.Write(ctx, img)
	if err != nil {
		return fmt.Errorf("fetch image of function %s: %w", function, err)
	}
	if got != digest {
		return fmt.Errorf("fetch image of function %s: registry returned %s for %s", function, got, digest)
	}
	return nil
}
