package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/singleflight"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// epoch is the timestamp of everything kumo generates itself (configs,
// history, synthesised directories), so identical inputs give identical
// digests.
var epoch = time.Unix(0, 0).UTC()

// Store is the host's content-addressed image store: an OCI image layout
// under dir/oci, the unpacked-layer cache under dir/layers and scratch space
// under dir/tmp (on the same file system, so finished work is renamed into
// place). One process owns a store directory at a time: Open clears the
// scratch space left by a crash.
type Store struct {
	dir       string
	layoutDir string
	blobDir   string
	layerDir  string
	tmpDir    string
	log       *slog.Logger

	// Host files copied into base images. Tests point them elsewhere.
	caBundle    string
	zoneinfoDir string

	// gcMu lets Put, Image, BaseImage and Unpack run together while GC
	// waits for them to finish, so GC never deletes a blob that is being
	// written or read.
	gcMu    sync.RWMutex
	indexMu sync.Mutex
	unpacks singleflight.Group

	// verified maps blob digests to the identity of the file that was
	// last hashed and found right (see markVerified).
	verified sync.Map
	// recent maps blob and layer digest hexes to when they were last
	// written or reused (Collect's grace period).
	recent sync.Map

	// bases caches built base images (a few MB each) by runtime.
	baseMu sync.Mutex
	bases  map[string]v1.Image
}

// Option configures a Store.
type Option func(*options) error

type options struct {
	log *slog.Logger
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		o.log = l
		return nil
	}
}

// Open opens (creating if needed) the store rooted at dir.
func Open(dir string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", dir, err)
	}
	s := &Store{
		dir:         abs,
		layoutDir:   filepath.Join(abs, "oci"),
		blobDir:     filepath.Join(abs, "oci", "blobs", "sha256"),
		layerDir:    filepath.Join(abs, "layers"),
		tmpDir:      filepath.Join(abs, "tmp"),
		log:         o.log,
		caBundle:    "/etc/ssl/certs/ca-certificates.crt",
		zoneinfoDir: "/usr/share/zoneinfo",
		bases:       map[string]v1.Image{},
	}
	if _, err := os.Stat(filepath.Join(s.layoutDir, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if _, err := layout.Write(s.layoutDir, empty.Index); err != nil {
			return nil, fmt.Errorf("open image store %s: create layout: %w", abs, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", abs, err)
	}
	// Anything in tmp is an unpack, blob or index write that a crash
	// interrupted; none of it was renamed into place, so none of it counts.
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return nil, fmt.Errorf("open image store %s: clear scratch: %w", abs, err)
	}
	for _, d := range []string{s.blobDir, s.layerDir, s.tmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open image store %s: %w", abs, err)
		}
	}
	return s, nil
}

// Put appends layers to base, writes the image (every blob digest-verified
// as it is written) into the layout, records it in index.json and returns
// its manifest digest.
func (s *Store) Put(ctx context.Context, base v1.Image, layers ...v1.Layer) (v1.Hash, error) {
	if base == nil {
		return v1.Hash{}, errors.New("put image: nil base image")
	}
	adds := make([]mutate.Addendum, 0, len(layers))
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{
			Layer:   l,
			History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kumo"},
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	return s.put(ctx, img, nil)
}

func (s *Store) put(ctx context.Context, img v1.Image, annotations map[string]string) (v1.Hash, error) {
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	for i, l := range layers {
		if err := s.writeLayer(ctx, l); err != nil {
			return v1.Hash{}, fmt.Errorf("put image: layer %d: %w", i, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	if err := s.writeBytes(ctx, cfgName, rawCfg); err != nil {
		return v1.Hash{}, fmt.Errorf("put image: config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("put image: %w", err)
	}
	// The manifest goes last: once it exists, everything it names does.
	if err := s.writeBytes(ctx, digest, rawManifest); err != nil {
		return v1.Hash{}, fmt.Errorf("put image: manifest: %w", err)
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(rawManifest)), Digest: digest, Annotations: annotations}
	if err := s.addToIndex(desc); err != nil {
		return v1.Hash{}, fmt.Errorf("put image %s: %w", digest, err)
	}
	return digest, nil
}

func (s *Store) writeLayer(ctx context.Context, l v1.Layer) error {
	d, err := l.Digest()
	if err != nil {
		return err
	}
	size, err := l.Size()
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.writeBlob(ctx, d, size, rc)
}

// Image returns the stored image with manifest digest digest. Its manifest
// and config are verified now; its layer blobs are verified as they are
// read, so a corrupted layer surfaces as a read error, never as bad content.
func (s *Store) Image(ctx context.Context, digest v1.Hash) (v1.Image, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	return s.openImage(ctx, digest)
}

func (s *Store) openImage(ctx context.Context, digest v1.Hash) (v1.Image, error) {
	si, err := s.image(ctx, digest)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(si)
}

// storedImage is the partial.CompressedImageCore of an image in the layout.
type storedImage struct {
	s           *Store
	rawManifest []byte
	manifest    *v1.Manifest
	rawConfig   []byte
	diffIDs     map[v1.Hash]v1.Hash
}

func (s *Store) image(ctx context.Context, digest v1.Hash) (*storedImage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	raw, err := s.readBlob(digest)
	if errors.Is(err, kumo.ErrNotFound) {
		return nil, kumo.NotFound("image %s not found", digest)
	}
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", digest, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("open image %s: %w", digest, err)
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIManifestSchema1
	}
	if m.SchemaVersion != 2 || (m.MediaType != types.OCIManifestSchema1 && m.MediaType != types.DockerManifestSchema2) {
		return nil, kumo.InvalidParameter("%s is not an image manifest (media type %q)", digest, m.MediaType)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := checkDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("open image %s: %w", digest, err)
		}
	}
	rawCfg, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return nil, fmt.Errorf("open image %s: config: %w", digest, err)
	}
	if int64(len(rawCfg)) != m.Config.Size {
		return nil, fmt.Errorf("open image %s: config is %d bytes, manifest says %d", digest, len(rawCfg), m.Config.Size)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("open image %s: config: %w", digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("open image %s: %d layers but %d diff IDs", digest, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	diffIDs := make(map[v1.Hash]v1.Hash, len(m.Layers))
	for i, l := range m.Layers {
		diffIDs[l.Digest] = cfg.RootFS.DiffIDs[i]
	}
	return &storedImage{s: s, rawManifest: raw, manifest: m, rawConfig: rawCfg, diffIDs: diffIDs}, nil
}

var _ partial.CompressedImageCore = (*storedImage)(nil)

func (i *storedImage) MediaType() (types.MediaType, error) { return i.manifest.MediaType, nil }
func (i *storedImage) RawManifest() ([]byte, error)        { return i.rawManifest, nil }
func (i *storedImage) RawConfigFile() ([]byte, error)      { return i.rawConfig, nil }

func (i *storedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &storedLayer{s: i.s, desc: i.manifest.Config}, nil
	}
	for _, d := range i.manifest.Layers {
		if d.Digest == h {
			return &storedLayer{s: i.s, desc: d, diffID: i.diffIDs[h]}, nil
		}
	}
	return nil, kumo.NotFound("layer %s not found in image", h)
}

// storedLayer is one blob of a stored image.
type storedLayer struct {
	s      *Store
	desc   v1.Descriptor
	diffID v1.Hash
}

var _ partial.WithDiffID = (*storedLayer)(nil)

func (l *storedLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storedLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *storedLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storedLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	return l.s.openBlob(l.desc)
}

// openBlob opens a blob for streaming with digest and size verification.
func (s *Store) openBlob(desc v1.Descriptor) (*verifyingReader, error) {
	f, err := os.Open(s.blobPath(desc.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, kumo.NotFound("blob %s not found", desc.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", desc.Digest, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %w", desc.Digest, err)
	}
	if fi.Size() != desc.Size {
		f.Close()
		return nil, fmt.Errorf("open blob %s: %d bytes on disk, %d expected: %w", desc.Digest, fi.Size(), desc.Size, errDigestMismatch)
	}
	return newVerifyingReader(f, desc.Digest, desc.Size), nil
}

func (s *Store) indexPath() string { return filepath.Join(s.layoutDir, "index.json") }

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	defer f.Close()
	m, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	return m, nil
}

// writeIndex replaces index.json atomically: ggcr's layout writes it in
// place, and a torn index.json would make the layout unreadable to tools.
func (s *Store) writeIndex(m *v1.IndexManifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	f, err := os.CreateTemp(s.tmpDir, "index-")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := os.Rename(f.Name(), s.indexPath()); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

func (s *Store) addToIndex(desc v1.Descriptor) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	if slices.ContainsFunc(m.Manifests, func(d v1.Descriptor) bool { return d.Digest == desc.Digest }) {
		return nil
	}
	m.Manifests = append(m.Manifests, desc)
	return s.writeIndex(m)
}
