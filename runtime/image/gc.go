package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// GC removes blobs and unpacked layers that no image in keep reaches, and
// drops every other image from index.json. keep must name every image a
// caller may still use, including those whose unpacked layers back running
// sandboxes. A kept image that is missing is skipped; one that cannot be
// read aborts GC before anything is deleted, because its blobs cannot be
// told apart from garbage.
func (s *Store) GC(ctx context.Context, keep []v1.Hash) error {
	for _, h := range keep {
		if err := checkDigest(h); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()

	live := map[string]bool{}
	kept := map[v1.Hash]bool{}
	for _, h := range keep {
		si, err := s.image(ctx, h)
		if errors.Is(err, kumo.ErrNotFound) {
			s.log.Warn("gc: kept image is missing", logKeyDigest, h.String())
			continue
		}
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		kept[h] = true
		live[h.Hex] = true
		live[si.manifest.Config.Digest.Hex] = true
		for _, l := range si.manifest.Layers {
			live[l.Digest.Hex] = true
		}
	}

	if err := s.pruneIndex(kept); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	blobs, err := os.ReadDir(s.blobDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range blobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if live[e.Name()] || checkDigest(v1.Hash{Algorithm: "sha256", Hex: e.Name()}) != nil {
			continue
		}
		if err := os.Remove(filepath.Join(s.blobDir, e.Name())); err != nil {
			return fmt.Errorf("gc: remove blob %s: %w", e.Name(), err)
		}
		s.log.Debug("gc: removed blob", logKeyDigest, "sha256:"+e.Name())
	}
	layers, err := os.ReadDir(s.layerDir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	for _, e := range layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		if live[e.Name()] {
			continue
		}
		if err := s.removeAllIn(filepath.Join(s.layerDir, e.Name())); err != nil {
			return fmt.Errorf("gc: remove unpacked layer %s: %w", e.Name(), err)
		}
		s.log.Debug("gc: removed unpacked layer", logKeyDigest, "sha256:"+e.Name())
	}
	return nil
}

func (s *Store) pruneIndex(kept map[v1.Hash]bool) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	n := len(m.Manifests)
	m.Manifests = slices.DeleteFunc(m.Manifests, func(d v1.Descriptor) bool { return !kept[d.Digest] })
	if len(m.Manifests) == n {
		return nil
	}
	return s.writeIndex(m)
}
