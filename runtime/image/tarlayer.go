package image

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TarLayer runs write on a tar.Writer whose bytes stream into an unlinked
// scratch file in the store's directory, hashed on the way, and returns the
// result as an uncompressed layer. Large layers (a JVM is ~200 MB) never sit
// in memory, and Put later copies them on the same file system. write must
// produce a reproducible tar if the caller wants a reproducible digest;
// TarLayer closes the writer (the tar's end-of-archive blocks) itself. The
// layer implements io.Closer, which gives the scratch space back at once.
func (s *Store) TarLayer(ctx context.Context, write func(tw *tar.Writer) error) (v1.Layer, error) {
	l, err := writeTarLayer(ctx, s.tmpDir, "tar layer", write)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// writeTarLayer is TarLayer with its scratch file in scratchDir; what
// names the layer in errors. write's own errors come back unwrapped.
func writeTarLayer(ctx context.Context, scratchDir, what string, write func(tw *tar.Writer) error) (_ *tarLayer, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(scratchDir, "layer-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Unlinked at once: nothing is left behind however this ends, and the
	// open file keeps the bytes until the layer is dropped or closed.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	tw := tar.NewWriter(bw)
	if err := write(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &tarLayer{
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))},
		size:   cw.n,
		data:   f,
		closer: f,
	}, nil
}

// PutImage writes img as it is (its layers, config and manifest, every
// blob digest-verified as it is written) into the layout, records it in
// index.json and returns its manifest digest. Unlike Put it adds nothing,
// so an image built with its own history and labels keeps them.
func (s *Store) PutImage(ctx context.Context, img v1.Image) (v1.Hash, error) {
	if img == nil {
		return v1.Hash{}, fmt.Errorf("put image: nil image")
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	return s.put(ctx, img, nil)
}
