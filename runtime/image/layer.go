package image

import (
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// tarLayer is an uncompressed tar whose digest was computed while it was
// written, so Digest, DiffID and Size are free and never re-read the bytes.
type tarLayer struct {
	digest v1.Hash
	size   int64
	data   io.ReaderAt
	closer io.Closer
}

var (
	_ v1.Layer  = (*tarLayer)(nil)
	_ io.Closer = (*tarLayer)(nil)
)

func (l *tarLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID equals Digest because the blob is the uncompressed tar itself.
func (l *tarLayer) DiffID() (v1.Hash, error) { return l.digest, nil }

func (l *tarLayer) Size() (int64, error) { return l.size, nil }

func (l *tarLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

func (l *tarLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.data, 0, l.size)), nil
}

func (l *tarLayer) Uncompressed() (io.ReadCloser, error) { return l.Compressed() }

// Close releases the scratch file behind a layer built by ZipLayer. It is
// optional: the file is already unlinked, and the runtime closes it when the
// layer becomes unreachable; Close just gives the space back sooner.
func (l *tarLayer) Close() error {
	if l.closer == nil {
		return nil
	}
	return l.closer.Close()
}
