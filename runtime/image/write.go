package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	goruntime "runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// WriteOption configures Write.
type WriteOption func(*writeOptions)

type writeOptions struct {
	maxBytes int64
}

// WithMaxBytes bounds the images Write accepts, the way Lambda bounds
// container images (10 GB uncompressed): the layers' sizes as the manifest
// declares them are checked before anything is copied, and the layers'
// uncompressed contents are counted as they are checked. Zero means no
// limit.
func WithMaxBytes(n int64) WriteOption {
	return func(o *writeOptions) { o.maxBytes = n }
}

// TooLargeError is Write's answer to an image over its WithMaxBytes limit.
type TooLargeError struct {
	Limit int64
	// Size is how many bytes had been counted when the limit was passed:
	// the image is at least this large.
	Size int64
	// Uncompressed tells a limit passed by the layers' contents from one
	// passed by the sizes the manifest declares.
	Uncompressed bool
}

func (e *TooLargeError) Error() string {
	what := "compressed layers"
	if e.Uncompressed {
		what = "uncompressed layers"
	}
	return fmt.Sprintf("image is larger than %d bytes: at least %d bytes of %s", e.Limit, e.Size, what)
}

// Unwrap classifies the error as a bad parameter: the caller chose the image.
func (e *TooLargeError) Unwrap() error { return kumo.ErrInvalidParameter }

// layerMediaTypes are the layer kinds kumo can unpack. Foreign
// (Windows) layers and anything else are refused before they are fetched.
var layerMediaTypes = []types.MediaType{
	types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer,
	types.DockerLayer, types.DockerUncompressedLayer,
}

// Write copies img into the store as it is, so its manifest digest is
// unchanged: the same manifest, config and layer bytes, each verified
// against its digest as it is written, and records it in index.json. It
// is how images from elsewhere (a registry) come in; Put builds new ones.
//
// Write refuses what kumo cannot run: an index (resolve it first), a
// manifest other than OCI or Docker schema 2, a config for another OS or
// architecture, unknown layer media types, and layers whose contents do not
// match the config's diff IDs. Those errors are kumo.ErrUnsupported; an
// image over WithMaxBytes is a *TooLargeError.
//
// Layers already in the store are not fetched again, but every layer is
// decompressed once to count and verify its contents: a small blob can
// hide a huge tar.
func (s *Store) Write(ctx context.Context, img v1.Image, opts ...WriteOption) (v1.Hash, error) {
	var o writeOptions
	for _, opt := range opts {
		opt(&o)
	}
	if img == nil {
		return v1.Hash{}, errors.New("write image: nil image")
	}
	m, rawManifest, err := checkWritable(img)
	if err != nil {
		return v1.Hash{}, err
	}
	sum := sha256.Sum256(rawManifest)
	digest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if d, err := img.Digest(); err != nil || d != digest {
		return v1.Hash{}, fmt.Errorf("write image: manifest digest %s does not match its bytes (%s): %w", d, digest, errDigestMismatch)
	}
	var declared int64
	for _, l := range m.Layers {
		declared += l.Size
	}
	if o.maxBytes > 0 && declared > o.maxBytes {
		return v1.Hash{}, &TooLargeError{Limit: o.maxBytes, Size: declared}
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s: config: %w", digest, err)
	}
	if int64(len(rawCfg)) != m.Config.Size || len(rawCfg) > maxMetadataBytes {
		return v1.Hash{}, kumo.Errorf(kumo.ErrUnsupported, "image %s: config is %d bytes, manifest says %d", digest, len(rawCfg), m.Config.Size)
	}
	cfg, err := checkConfig(rawCfg, m)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("image %s: %w", digest, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s: %w", digest, err)
	}
	if len(layers) != len(m.Layers) {
		return v1.Hash{}, fmt.Errorf("write image %s: %d layers, manifest lists %d", digest, len(layers), len(m.Layers))
	}

	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	var unpacked int64
	for i, l := range layers {
		desc := m.Layers[i]
		if err := s.writeRemoteLayer(ctx, desc, l); err != nil {
			return v1.Hash{}, fmt.Errorf("write image %s: layer %s: %w", digest, desc.Digest, err)
		}
		n, err := s.checkLayerContents(ctx, desc, cfg.RootFS.DiffIDs[i], o.maxBytes-unpacked, o.maxBytes > 0)
		unpacked += n
		var tooLarge *TooLargeError
		if errors.As(err, &tooLarge) {
			return v1.Hash{}, &TooLargeError{Limit: o.maxBytes, Size: unpacked, Uncompressed: true}
		}
		if err != nil {
			return v1.Hash{}, fmt.Errorf("write image %s: layer %s: %w", digest, desc.Digest, err)
		}
	}
	if err := s.writeBytes(ctx, m.Config.Digest, rawCfg); err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s: config: %w", digest, err)
	}
	// The manifest goes last: once it exists, everything it names does.
	if err := s.writeBytes(ctx, digest, rawManifest); err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s: manifest: %w", digest, err)
	}
	desc := v1.Descriptor{MediaType: m.MediaType, Size: int64(len(rawManifest)), Digest: digest}
	if err := s.addToIndex(desc); err != nil {
		return v1.Hash{}, fmt.Errorf("write image %s: %w", digest, err)
	}
	s.log.Debug("wrote image", logKeyDigest, digest.String())
	return digest, nil
}

// checkWritable reads and checks img's manifest.
func checkWritable(img v1.Image) (*v1.Manifest, []byte, error) {
	mt, err := img.MediaType()
	if err != nil {
		return nil, nil, fmt.Errorf("write image: %w", err)
	}
	if mt != types.OCIManifestSchema1 && mt != types.DockerManifestSchema2 {
		return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "manifest media type %q is not an OCI or Docker schema 2 image manifest", mt)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("write image: manifest: %w", err)
	}
	if len(raw) > maxMetadataBytes {
		return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "manifest is larger than %d bytes", maxMetadataBytes)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("write image: manifest: %w", err)
	}
	if m.SchemaVersion != 2 {
		return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "manifest schema version %d is not 2", m.SchemaVersion)
	}
	if m.MediaType == "" {
		m.MediaType = mt
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if err := checkDigest(d.Digest); err != nil {
			return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "manifest names %q: only sha256 digests are supported", d.Digest)
		}
		if d.Size < 0 {
			return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "manifest gives %s a negative size", d.Digest)
		}
	}
	for _, l := range m.Layers {
		if !isLayerMediaType(l.MediaType) {
			return nil, nil, kumo.Errorf(kumo.ErrUnsupported, "layer %s has media type %q", l.Digest, l.MediaType)
		}
	}
	return m, raw, nil
}

func isLayerMediaType(mt types.MediaType) bool {
	for _, t := range layerMediaTypes {
		if mt == t {
			return true
		}
	}
	return false
}

// checkConfig parses the config and checks it is for this host's platform
// and matches the manifest.
func checkConfig(raw []byte, m *v1.Manifest) (*v1.ConfigFile, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "config: %v", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "image is for OS %q, not linux", cfg.OS)
	}
	if cfg.Architecture != "" && cfg.Architecture != goruntime.GOARCH {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "image is for architecture %q, not %s", cfg.Architecture, goruntime.GOARCH)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "%d layers but %d diff IDs in the config", len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for _, d := range cfg.RootFS.DiffIDs {
		if err := checkDigest(d); err != nil {
			return nil, kumo.Errorf(kumo.ErrUnsupported, "config names diff ID %q: only sha256 digests are supported", d)
		}
	}
	return cfg, nil
}

// writeRemoteLayer stores a layer's blob unless an intact copy is there
// already, in which case the source is never opened (for a registry, no
// download).
func (s *Store) writeRemoteLayer(ctx context.Context, desc v1.Descriptor, l v1.Layer) error {
	if ok, err := s.blobIntact(ctx, desc.Digest); err != nil {
		return err
	} else if ok {
		s.touch(desc.Digest.Hex)
		return nil
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return s.writeBlob(ctx, desc.Digest, desc.Size, rc)
}

// checkLayerContents decompresses a stored layer, checks that its contents
// hash to diffID and are a tar archive that unpacking will accept (see
// checkTar), and returns their size. With limited set it stops with a
// *TooLargeError once more than budget bytes came out.
func (s *Store) checkLayerContents(ctx context.Context, desc v1.Descriptor, diffID v1.Hash, budget int64, limited bool) (int64, error) {
	vr, err := s.openBlob(desc)
	if err != nil {
		return 0, err
	}
	defer vr.Close()
	r, closeR, err := decompress(vr)
	if err != nil {
		return 0, kumo.Errorf(kumo.ErrUnsupported, "layer %s: %v", desc.Digest, err)
	}
	defer closeR()
	var src io.Reader = ctxReader{ctx, r}
	if limited {
		src = io.LimitReader(src, max(budget, 0)+1)
	}
	cr := &countingReader{r: src}
	h := sha256.New()
	tee := io.TeeReader(cr, h)
	tarErr := checkTar(tee)
	_, err = io.Copy(io.Discard, tee) // the end-of-archive padding counts too
	switch {
	case limited && cr.n > budget:
		return cr.n, &TooLargeError{Size: cr.n, Uncompressed: true}
	case err != nil && (errors.Is(err, errDigestMismatch) || ctx.Err() != nil):
		return cr.n, err
	case err != nil:
		return cr.n, kumo.Errorf(kumo.ErrUnsupported, "layer %s: %v", desc.Digest, err)
	case tarErr != nil:
		return cr.n, kumo.Errorf(kumo.ErrUnsupported, "layer %s: %v", desc.Digest, tarErr)
	}
	if err := vr.verified(); err != nil {
		return cr.n, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return cr.n, kumo.Errorf(kumo.ErrUnsupported, "layer %s: contents hash to sha256:%s, the config says %s", desc.Digest, got, diffID)
	}
	return cr.n, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// checkTar refuses, when an image comes in, the layers unpacking would
// refuse when the function first starts: entries that are not a tar
// archive, names with "..", and hard links to anything but a regular file
// earlier in the same layer (one that leaves the layer included). What
// unpacking neutralises instead (absolute names and symlinks, devices,
// setuid bits) is let through.
func checkTar(r io.Reader) error {
	tr := tar.NewReader(r)
	regular := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a valid tar archive: %w", err)
		}
		name, err := cleanTarName(hdr.Name)
		if err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			regular[name] = true
		case tar.TypeLink:
			target, err := cleanTarName(hdr.Linkname)
			if err != nil {
				return fmt.Errorf("entry %q: hard link target %q: %w", hdr.Name, hdr.Linkname, err)
			}
			if !regular[target] {
				return fmt.Errorf("entry %q: hard link to %q, which is not a regular file earlier in the layer", hdr.Name, hdr.Linkname)
			}
			regular[name] = true
		default:
			delete(regular, name)
		}
	}
}
