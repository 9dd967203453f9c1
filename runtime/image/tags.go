package image

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// annotationRefName is the OCI image-layout annotation that names a
// manifest in index.json. kumo writes "REPOSITORY:TAG" there, so the layout
// stays readable by other OCI tools and the registry's tags survive a
// restart with the blobs they name.
const annotationRefName = "org.opencontainers.image.ref.name"

// Tag points repo:tag at the stored manifest desc describes (an image or an
// index), replacing whatever it named before. The manifest blob must
// already be in the store.
func (s *Store) Tag(ctx context.Context, repo, tag string, desc v1.Descriptor) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkDigest(desc.Digest); err != nil {
		return err
	}
	if repo == "" || tag == "" || strings.ContainsAny(repo, ": \x00") || strings.ContainsAny(tag, ":/ \x00") {
		return kumo.InvalidParameter("invalid image reference %q:%q", repo, tag)
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	ok, err := s.blobIntact(ctx, desc.Digest)
	if err != nil {
		return fmt.Errorf("tag %s:%s: %w", repo, tag, err)
	}
	if !ok {
		return kumo.NotFound("manifest %s not found", desc.Digest)
	}
	name := repo + ":" + tag
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	m.Manifests = slices.DeleteFunc(m.Manifests, func(d v1.Descriptor) bool { return d.Annotations[annotationRefName] == name })
	desc.Annotations = map[string]string{annotationRefName: name}
	desc.Platform = nil
	desc.URLs = nil
	m.Manifests = append(m.Manifests, desc)
	return s.writeIndex(m)
}

// Untag removes repo:tag. Removing a tag that does not exist is not an error.
func (s *Store) Untag(ctx context.Context, repo, tag string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := repo + ":" + tag
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	n := len(m.Manifests)
	m.Manifests = slices.DeleteFunc(m.Manifests, func(d v1.Descriptor) bool { return d.Annotations[annotationRefName] == name })
	if len(m.Manifests) == n {
		return nil
	}
	return s.writeIndex(m)
}

// Lookup returns the descriptor repo:tag points at, or a kumo.ErrNotFound
// error.
func (s *Store) Lookup(ctx context.Context, repo, tag string) (v1.Descriptor, error) {
	name := repo + ":" + tag
	manifests, err := s.indexManifests(ctx)
	if err != nil {
		return v1.Descriptor{}, err
	}
	for _, d := range manifests {
		if d.Annotations[annotationRefName] == name {
			return d, nil
		}
	}
	return v1.Descriptor{}, kumo.NotFound("%s not found", name)
}

// Tags lists the tags of repo, sorted.
func (s *Store) Tags(ctx context.Context, repo string) ([]string, error) {
	manifests, err := s.indexManifests(ctx)
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, d := range manifests {
		r, t, ok := strings.Cut(d.Annotations[annotationRefName], ":")
		if ok && r == repo {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return slices.Compact(tags), nil
}

// Tagged returns every tagged manifest digest, for GC's keep list.
func (s *Store) Tagged(ctx context.Context) ([]v1.Hash, error) {
	manifests, err := s.indexManifests(ctx)
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, d := range manifests {
		if strings.Contains(d.Annotations[annotationRefName], ":") {
			out = append(out, d.Digest)
		}
	}
	return out, nil
}

// indexManifests returns the descriptors index.json lists now.
func (s *Store) indexManifests(ctx context.Context) ([]v1.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	return m.Manifests, nil
}
