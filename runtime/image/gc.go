package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// GC is Collect with no grace period.
func (s *Store) GC(ctx context.Context, keep []v1.Hash) error {
	_, err := s.Collect(ctx, keep, 0)
	return err
}

// GCStats counts what one collection removed.
type GCStats struct {
	Blobs      int   `json:"blobs"`
	BlobBytes  int64 `json:"blobBytes"`
	Layers     int   `json:"layers"`
	Kept       int   `json:"kept"`
	Images     int   `json:"images"`
	GraceSkips int   `json:"graceSkips"`
}

// Collect removes blobs and unpacked layers that no image in keep reaches,
// and drops every other untagged image from index.json. keep must name
// every image a caller may still use, including those whose unpacked layers
// back running sandboxes. A kept image that is missing is skipped; one that
// cannot be read aborts the collection before anything is deleted, because
// its blobs cannot be told apart from garbage.
//
// A blob or unpacked layer written or reused within grace survives even
// when nothing keeps it: a CreateFunction stores its image before the
// function record that names it, and a registry client uploads blobs
// before the manifest that names them.
func (s *Store) Collect(ctx context.Context, keep []v1.Hash, grace time.Duration) (GCStats, error) {
	var stats GCStats
	for _, h := range keep {
		if err := checkDigest(h); err != nil {
			return stats, fmt.Errorf("gc: %w", err)
		}
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	cutoff := time.Now().Add(-grace)
	fresh := func(hex string, fi os.FileInfo) bool {
		if grace <= 0 {
			return false
		}
		if t, ok := s.recent.Load(hex); ok && t.(time.Time).After(cutoff) {
			return true
		}
		return fi != nil && fi.ModTime().After(cutoff)
	}

	live := map[string]bool{}
	kept := map[v1.Hash]bool{}
	for _, h := range keep {
		// Tagged registry content may be an index or an artifact, not
		// only an image (registry.go).
		if err := s.keepManifest(ctx, h, live, kept); err != nil {
			return stats, fmt.Errorf("gc: %w", err)
		}
	}

	stats.Kept = len(kept)
	removedImages, err := s.pruneIndex(kept, func(d v1.Descriptor) bool { return fresh(d.Digest.Hex, nil) })
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	stats.Images = removedImages
	blobs, err := os.ReadDir(s.blobDir)
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	for _, e := range blobs {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if live[e.Name()] || checkDigest(v1.Hash{Algorithm: "sha256", Hex: e.Name()}) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed under us
		}
		if fresh(e.Name(), fi) {
			stats.GraceSkips++
			continue
		}
		if err := os.Remove(filepath.Join(s.blobDir, e.Name())); err != nil {
			return stats, fmt.Errorf("gc: remove blob %s: %w", e.Name(), err)
		}
		s.verified.Delete(v1.Hash{Algorithm: "sha256", Hex: e.Name()})
		stats.Blobs++
		stats.BlobBytes += fi.Size()
		s.log.Debug("gc: removed blob", logKeyDigest, "sha256:"+e.Name())
	}
	layers, err := os.ReadDir(s.layerDir)
	if err != nil {
		return stats, fmt.Errorf("gc: %w", err)
	}
	for _, e := range layers {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if live[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil && fresh(e.Name(), fi) {
			stats.GraceSkips++
			continue
		}
		if err := s.removeAllIn(filepath.Join(s.layerDir, e.Name())); err != nil {
			return stats, fmt.Errorf("gc: remove unpacked layer %s: %w", e.Name(), err)
		}
		stats.Layers++
		s.log.Debug("gc: removed unpacked layer", logKeyDigest, "sha256:"+e.Name())
	}
	return stats, nil
}

// touch records that blob or unpacked layer hex was just written or
// reused, for Collect's grace period.
func (s *Store) touch(hex string) { s.recent.Store(hex, time.Now()) }

// pruneIndex drops index entries that are neither kept, tagged nor fresh,
// and returns how many it dropped.
func (s *Store) pruneIndex(kept map[v1.Hash]bool, fresh func(v1.Descriptor) bool) (int, error) {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return 0, err
	}
	n := len(m.Manifests)
	m.Manifests = slices.DeleteFunc(m.Manifests, func(d v1.Descriptor) bool {
		return !kept[d.Digest] && !strings.Contains(d.Annotations[annotationRefName], ":") && !fresh(d)
	})
	if len(m.Manifests) == n {
		return 0, nil
	}
	return n - len(m.Manifests), s.writeIndex(m)
}
