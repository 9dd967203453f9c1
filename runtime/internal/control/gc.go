package control

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// LiveImages lists every image the platform's desired state still names:
// each function's $LATEST and published versions, and each layer version.
// Image GC keeps these (and whatever sandboxes run) and may remove the rest.
func (s *Service) LiveImages(ctx context.Context) ([]v1.Hash, error) {
	fns, err := s.store.ListFunctions(ctx)
	if err != nil {
		return nil, fmt.Errorf("list live images: %w", err)
	}
	var out []v1.Hash
	add := func(what, digest string) error {
		if digest == "" {
			return nil
		}
		h, err := v1.NewHash(digest)
		if err != nil {
			return fmt.Errorf("list live images: %s: %w", what, err)
		}
		out = append(out, h)
		return nil
	}
	for _, f := range fns {
		if err := add("function "+f.Name, f.ImageDigest); err != nil {
			return nil, err
		}
		versions, err := s.store.ListVersions(ctx, f.Name)
		if err != nil {
			return nil, fmt.Errorf("list live images: versions of %s: %w", f.Name, err)
		}
		for _, v := range versions {
			if err := add("function "+f.Name+":"+v.Version, v.ImageDigest); err != nil {
				return nil, err
			}
		}
	}
	lvs, err := s.store.ListLayerVersions(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list live images: layers: %w", err)
	}
	for _, lv := range lvs {
		if err := add(fmt.Sprintf("layer %s:%d", lv.Name, lv.Version), lv.ImageDigest); err != nil {
			return nil, err
		}
	}
	return out, nil
}
