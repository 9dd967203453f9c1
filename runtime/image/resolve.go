package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Platform is the only platform this host runs images for.
func Platform() v1.Platform { return v1.Platform{OS: "linux", Architecture: goruntime.GOARCH} }

// ResolveImage returns the stored image that reference names in repo, as
// the host's registry would serve it (see Manifest): a tag of repo or a
// manifest digest repo holds. An index resolves to its image for Platform.
// It is how an ImageUri naming this host's own registry is found without
// going through HTTP.
func (s *Store) ResolveImage(ctx context.Context, repo, reference string) (v1.Image, error) {
	raw, desc, err := s.Manifest(ctx, repo, reference)
	if err != nil {
		return nil, err
	}
	mt, err := sniffMediaType(desc.MediaType, raw)
	if err != nil {
		return nil, fmt.Errorf("resolve %s@%s: %w", repo, desc.Digest, err)
	}
	if mt.IsIndex() {
		child, err := pickPlatform(raw)
		if err != nil {
			return nil, fmt.Errorf("resolve %s@%s: %w", repo, desc.Digest, err)
		}
		desc.Digest = child
	}
	return s.Image(ctx, desc.Digest)
}

// sniffMediaType trusts a descriptor's media type when it has one, else
// the manifest's own mediaType member, else its shape (OCI allows both to
// be missing).
func sniffMediaType(known types.MediaType, raw []byte) (types.MediaType, error) {
	if known != "" {
		return known, nil
	}
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Layers    json.RawMessage `json:"layers"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", kumo.Errorf(kumo.ErrUnsupported, "manifest is not JSON: %v", err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return types.OCIImageIndex, nil
	case probe.Layers != nil:
		return types.OCIManifestSchema1, nil
	}
	return "", kumo.Errorf(kumo.ErrUnsupported, "manifest has no media type")
}

// pickPlatform returns the digest of the image an index holds for
// Platform.
func pickPlatform(raw []byte) (v1.Hash, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, kumo.Errorf(kumo.ErrUnsupported, "index: %v", err)
	}
	d, err := platformManifest(idx)
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, nil
}

// platformManifest picks the image manifest for Platform from an index.
// Nested indexes are not followed: no image kumo runs needs them.
func platformManifest(idx *v1.IndexManifest) (v1.Descriptor, error) {
	want := Platform()
	var seen []string
	for _, d := range idx.Manifests {
		if d.Platform == nil {
			continue
		}
		seen = append(seen, d.Platform.String())
		if d.Platform.OS == want.OS && d.Platform.Architecture == want.Architecture && d.MediaType.IsImage() {
			return d, nil
		}
	}
	return v1.Descriptor{}, kumo.Errorf(kumo.ErrUnsupported, "the index has no %s image (it has %v)", want.String(), seen)
}
