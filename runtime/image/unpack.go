package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the memory a zstd frame header can make the decoder
// reserve.
const maxZstdWindow = 64 << 20

// Unpack returns one read-only directory per layer of the image, lowest
// first, for use as overlay lower layers. Each layer is unpacked once per
// host into a cache keyed by its digest: into a scratch directory first,
// with the blob's digest verified while it streams, then synced and renamed
// into place, so a crash mid-unpack leaves nothing that looks complete.
// Concurrent calls for the same layer share one unpack.
//
// The directories belong to the store: callers must not write to them, and
// must keep the image's digest in GC's keep list while they use them.
func (s *Store) Unpack(ctx context.Context, digest v1.Hash) ([]string, error) {
	if err := checkDigest(digest); err != nil {
		return nil, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	si, err := s.image(ctx, digest)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(si.manifest.Layers))
	for _, desc := range si.manifest.Layers {
		dir, err := s.unpackLayer(ctx, desc)
		if err != nil {
			return nil, fmt.Errorf("unpack image %s: layer %s: %w", digest, desc.Digest, err)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

func (s *Store) unpackLayer(ctx context.Context, desc v1.Descriptor) (string, error) {
	dst := filepath.Join(s.layerDir, desc.Digest.Hex)
	s.touch(desc.Digest.Hex)
	for {
		if fi, err := os.Lstat(dst); err == nil && fi.IsDir() {
			return dst, nil
		}
		_, err, _ := s.unpacks.Do(desc.Digest.Hex, func() (any, error) {
			return nil, s.extractLayer(ctx, desc, dst)
		})
		// The shared unpack runs under the context of whichever caller
		// started it; if only that caller went away, the others try again.
		if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue
		}
		if err != nil {
			return "", err
		}
		return dst, nil
	}
}

func (s *Store) extractLayer(ctx context.Context, desc v1.Descriptor, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(s.tmpDir, "unpack-")
	if err != nil {
		return err
	}
	defer func() {
		if tmp != "" {
			if err := os.RemoveAll(tmp); err != nil {
				s.log.Warn("remove unpack scratch", logKeyPath, tmp, logKeyError, err)
			}
		}
	}()
	vr, err := s.openBlob(desc)
	if err != nil {
		return err
	}
	defer vr.Close()
	r, closeR, err := decompress(vr)
	if err != nil {
		return err
	}
	defer closeR()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := extractTar(ctx, root, r, s.log); err != nil {
		return err
	}
	// Nothing is trusted until the last byte of the blob is hashed.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	if err := vr.verified(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := syncFS(tmp); err != nil {
		return fmt.Errorf("sync unpacked layer: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		if fi, statErr := os.Lstat(dst); statErr == nil && fi.IsDir() {
			// Another process unpacked the same layer first.
			return nil
		}
		return err
	}
	tmp = ""
	s.log.Debug("unpacked layer", logKeyDigest, desc.Digest.String())
	return nil
}

// decompress sniffs the blob's first bytes rather than trusting the media
// type, the way ggcr does: registries are lax about layer media types.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(r, 1<<16)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip layer: %w", err)
		}
		return gz, func() { gz.Close() }, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return br, func() {}, nil
	}
}

// removeAllIn deletes dir by first renaming it into scratch space, so a
// crash half-way through never leaves a partial layer under its real name.
func (s *Store) removeAllIn(dir string) error {
	tmp, err := os.MkdirTemp(s.tmpDir, "gc-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(tmp, "x")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.RemoveAll(tmp)
}
