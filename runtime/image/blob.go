package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// maxMetadataBytes bounds manifests and configs read into memory, so a
// hostile blob cannot make the store allocate without limit.
const maxMetadataBytes = 4 << 20

// checkDigest rejects anything but a well-formed sha256 digest. Digests end
// up in file paths, so a Hex of "../x" must never get that far.
func checkDigest(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return kumo.InvalidParameter("invalid image digest %q: must be sha256:<64 hex digits>", h.String())
	}
	for _, c := range h.Hex {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return kumo.InvalidParameter("invalid image digest %q: must be sha256:<64 hex digits>", h.String())
		}
	}
	return nil
}

func (s *Store) blobPath(h v1.Hash) string { return filepath.Join(s.blobDir, h.Hex) }

// readBlob reads a small blob whole and verifies it against its digest.
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	f, err := os.Open(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, kumo.NotFound("blob %s not found", h)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", h, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", h, err)
	}
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("read blob %s: larger than %d bytes", h, maxMetadataBytes)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != h.Hex {
		return nil, fmt.Errorf("read blob %s: %w", h, errDigestMismatch)
	}
	return b, nil
}

var errDigestMismatch = errors.New("content does not match digest (corrupted blob)")

// verifyingReader hashes what it reads and turns the final io.EOF into an
// error when the bytes do not match the expected digest and size, so no
// consumer can reach a clean end of a corrupted blob.
type verifyingReader struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	want v1.Hash
	size int64 // -1 when unknown
	n    int64
	err  error
	ok   bool
}

func newVerifyingReader(rc io.ReadCloser, want v1.Hash, size int64) *verifyingReader {
	return &verifyingReader{r: rc, c: rc, h: sha256.New(), want: want, size: size}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = fmt.Errorf("blob %s: longer than %d bytes: %w", v.want, v.size, errDigestMismatch)
		return 0, v.err
	}
	if errors.Is(err, io.EOF) {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex || (v.size >= 0 && v.n != v.size) {
			v.err = fmt.Errorf("blob %s: read sha256:%s (%d bytes): %w", v.want, got, v.n, errDigestMismatch)
			return n, v.err
		}
		v.ok = true
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error {
	if v.c == nil {
		return nil
	}
	return v.c.Close()
}

// verified drains what is left and reports whether the whole blob matched.
// Consumers such as tar readers stop before the end of the stream, and a
// blob is only known to be good once its last byte has been hashed.
func (v *verifyingReader) verified() error {
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if !v.ok {
		return fmt.Errorf("blob %s: not read to the end", v.want)
	}
	return nil
}

// ctxReader lets a long copy notice cancellation between reads.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeBlob stores r under digest h, verifying the bytes as they are
// written: a caller's layer that lies about its digest must not poison the
// content-addressed store. A blob that is already present is re-hashed and
// replaced if it turns out to be corrupted.
func (s *Store) writeBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error {
	if err := checkDigest(h); err != nil {
		return err
	}
	dst := s.blobPath(h)
	s.touch(h.Hex)
	if ok, err := s.blobIntact(ctx, h); err != nil {
		return err
	} else if ok {
		return nil
	}
	f, err := os.CreateTemp(s.tmpDir, "blob-")
	if err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	vr := &verifyingReader{r: ctxReader{ctx, r}, h: sha256.New(), want: h, size: size}
	if _, err := io.Copy(f, vr); err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	if !vr.ok {
		return fmt.Errorf("write blob %s: source did not end", h)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("write blob %s: %w", h, err)
	}
	s.markVerified(h)
	return nil
}

// blobIdentity tells a file apart from a replacement or a rewrite.
type blobIdentity struct {
	ino, size int64
	mtime     int64
}

func identityOf(fi os.FileInfo) (blobIdentity, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return blobIdentity{}, false
	}
	return blobIdentity{ino: int64(st.Ino), size: fi.Size(), mtime: fi.ModTime().UnixNano()}, true
}

// markVerified remembers that the blob file for h was hashed and found
// right, so that storing it again (every CreateFunction stores its base
// image's layers again) need not re-read megabytes. Readers still verify
// blobs as they stream them, so a later corruption is caught on use.
func (s *Store) markVerified(h v1.Hash) {
	fi, err := os.Stat(s.blobPath(h))
	if err != nil {
		return
	}
	if id, ok := identityOf(fi); ok {
		s.verified.Store(h, id)
	}
}

func (s *Store) knownIntact(h v1.Hash) bool {
	v, ok := s.verified.Load(h)
	if !ok {
		return false
	}
	fi, err := os.Stat(s.blobPath(h))
	if err != nil {
		s.verified.Delete(h)
		return false
	}
	id, ok := identityOf(fi)
	return ok && id == v.(blobIdentity)
}

// writeBytes is writeBlob for manifests and configs.
func (s *Store) writeBytes(ctx context.Context, h v1.Hash, b []byte) error {
	return s.writeBlob(ctx, h, int64(len(b)), bytes.NewReader(b))
}

// blobIntact reports whether h is on disk with the right content.
func (s *Store) blobIntact(ctx context.Context, h v1.Hash) (bool, error) {
	if s.knownIntact(h) {
		return true, nil
	}
	f, err := os.Open(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check blob %s: %w", h, err)
	}
	defer f.Close()
	vr := newVerifyingReader(f, h, -1)
	if _, err := io.Copy(io.Discard, ctxReader{ctx, vr}); err != nil {
		if errors.Is(err, errDigestMismatch) {
			s.log.Warn("replacing corrupted blob", logKeyDigest, h.String())
			return false, nil
		}
		return false, fmt.Errorf("check blob %s: %w", h, err)
	}
	s.markVerified(h)
	return true, nil
}
