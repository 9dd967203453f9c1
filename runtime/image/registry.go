package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// This file holds what the host's OCI registry (runtime/internal/registry)
// needs from the store. Blobs are global to the store, as in most
// registries, so a layer pushed to one repository can be mounted into any
// other. Manifests belong to repositories through index.json: "REPO:TAG"
// names a tag (tags.go) and "REPO@sha256:HEX" records a manifest pushed by
// digest, so it stays retrievable without a tag and, because the name
// contains a colon, [Store.Tagged] lists it for GC's keep list too.

// ErrDigestMismatch is wrapped by errors for uploaded content whose digest
// or size differs from what the uploader claimed.
var ErrDigestMismatch = errors.New("content does not match its digest")

// MaxManifestBytes bounds a manifest pushed to the registry; it is also the
// limit on every manifest the store reads back.
const MaxManifestBytes = maxMetadataBytes

// BlobSize returns the size of the stored blob h, or a kumo.ErrNotFound
// error. It does not hash the blob: readers verify content as they stream.
// It counts as a reuse for GC's grace period: a registry client that finds
// a blob present skips uploading it and names it in a manifest soon after.
func (s *Store) BlobSize(ctx context.Context, h v1.Hash) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := checkDigest(h); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, kumo.NotFound("blob %s not found", h)
	}
	if err != nil {
		return 0, fmt.Errorf("stat blob %s: %w", h, err)
	}
	s.touch(h.Hex)
	return fi.Size(), nil
}

// OpenBlob opens the stored blob h for streaming and returns its size. The
// reader verifies digest and size as it goes: a corrupted blob ends in an
// error, never in a clean io.EOF.
func (s *Store) OpenBlob(ctx context.Context, h v1.Hash) (io.ReadCloser, int64, error) {
	size, err := s.BlobSize(ctx, h)
	if err != nil {
		return nil, 0, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	r, err := s.openBlob(v1.Descriptor{Digest: h, Size: size})
	if err != nil {
		return nil, 0, err
	}
	return r, size, nil
}

// PutBlob stores the blob h read from r. size is the expected length, or
// -1 when unknown. Content that does not match h (or size) is discarded
// and the error wraps ErrDigestMismatch. Unlike Put, PutBlob holds no store
// lock while it reads r, so a slow uploader cannot stall GC and everyone
// waiting behind it.
func (s *Store) PutBlob(ctx context.Context, h v1.Hash, size int64, r io.Reader) error {
	if err := checkDigest(h); err != nil {
		return err
	}
	u, err := s.NewUpload(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = u.Abort() }()
	if _, err := u.Append(ctx, r); err != nil {
		return fmt.Errorf("put blob %s: %w", h, err)
	}
	if size >= 0 && u.Size() != size {
		return fmt.Errorf("put blob %s: %d bytes, expected %d: %w", h, u.Size(), size, ErrDigestMismatch)
	}
	return u.Commit(ctx, h)
}

// Upload is a blob being received in pieces, kept as a file in the store's
// scratch space (so it does not outlive the process: Open clears scratch)
// with a running SHA-256 of what the file holds. An Upload is not safe for
// concurrent use; the registry serialises requests per upload session.
type Upload struct {
	s    *Store
	path string
	h    hash.Hash
	size int64
	err  error // sticky: the file no longer matches size and h
	done bool
}

// NewUpload starts an empty upload.
func (s *Store) NewUpload(ctx context.Context) (*Upload, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.tmpDir, "upload-")
	if err != nil {
		return nil, fmt.Errorf("start upload: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return nil, fmt.Errorf("start upload: %w", err)
	}
	return &Upload{s: s, path: f.Name(), h: sha256.New()}, nil
}

// Size is how many bytes the upload holds.
func (u *Upload) Size() int64 { return u.size }

// Append copies r to the end of the upload and returns how many bytes it
// took. Bytes received before an error stay appended (a client may resume
// from Size), unless the error was writing them, in which case the file is
// cut back to the bytes that were hashed.
func (u *Upload) Append(ctx context.Context, r io.Reader) (int64, error) {
	if err := u.usable(); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(u.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, fmt.Errorf("append to upload: %w", err)
	}
	w := &hashingWriter{f: f, h: u.h}
	n, copyErr := io.CopyBuffer(w, ctxReader{ctx, r}, make([]byte, 256<<10))
	u.size += w.n
	if w.err != nil {
		// A failed write may have left bytes past what was hashed.
		if err := f.Truncate(u.size); err != nil {
			u.err = fmt.Errorf("upload is damaged: %w", err)
		}
	}
	if err := f.Close(); err != nil && copyErr == nil {
		u.err = fmt.Errorf("upload is damaged: %w", err)
		copyErr = u.err
	}
	if copyErr != nil {
		return n, fmt.Errorf("append to upload: %w", copyErr)
	}
	return n, nil
}

// hashingWriter writes to a file and hashes exactly the bytes the file took.
type hashingWriter struct {
	f   *os.File
	h   hash.Hash
	n   int64
	err error
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Commit checks the upload against h and moves it into the store. On a
// mismatch the error wraps ErrDigestMismatch and the upload is left as it
// was, for the caller to Abort.
func (u *Upload) Commit(ctx context.Context, h v1.Hash) error {
	if err := checkDigest(h); err != nil {
		return err
	}
	if err := u.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if got := hex.EncodeToString(u.h.Sum(nil)); got != h.Hex {
		return fmt.Errorf("commit blob %s: received sha256:%s (%d bytes): %w", h, got, u.size, ErrDigestMismatch)
	}
	f, err := os.OpenFile(u.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("commit blob %s: %w", h, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("commit blob %s: %w", h, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("commit blob %s: %w", h, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("commit blob %s: %w", h, err)
	}
	// The content is verified, so replacing an existing (possibly
	// corrupted) copy is always right, and a rename never tears it.
	u.s.gcMu.RLock()
	err = os.Rename(u.path, u.s.blobPath(h))
	u.s.gcMu.RUnlock()
	if err != nil {
		return fmt.Errorf("commit blob %s: %w", h, err)
	}
	u.done = true
	u.s.touch(h.Hex)
	u.s.markVerified(h)
	return nil
}

// Abort discards the upload. It is safe to call after Commit.
func (u *Upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	if err := os.Remove(u.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort upload: %w", err)
	}
	return nil
}

func (u *Upload) usable() error {
	if u.done {
		return errors.New("upload already finished")
	}
	return u.err
}

// Manifest media types the registry accepts.
var manifestTypes = []types.MediaType{
	types.OCIManifestSchema1, types.OCIImageIndex,
	types.DockerManifestSchema2, types.DockerManifestList,
}

// manifestDoc is the part of an image manifest or index that names other
// content.
type manifestDoc struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     types.MediaType `json:"mediaType"`
	Config        *v1.Descriptor  `json:"config"`
	Layers        []v1.Descriptor `json:"layers"`
	Manifests     []v1.Descriptor `json:"manifests"`
}

// PutManifest stores raw, a manifest of media type mt pushed to repo, after
// checking that it parses and that every blob or manifest it names is
// stored with the size it claims. With a tag, repo:tag then names it;
// without one it is recorded as repo@digest, so it can be fetched by digest
// and is on GC's keep list. Errors: kumo.ErrInvalidParameter (malformed or
// unsupported), kumo.ErrNotFound (names missing content),
// kumo.ErrRequestTooLarge.
func (s *Store) PutManifest(ctx context.Context, repo, tag string, raw []byte, mt types.MediaType) (v1.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return v1.Descriptor{}, err
	}
	if len(raw) > MaxManifestBytes {
		return v1.Descriptor{}, kumo.Errorf(kumo.ErrRequestTooLarge, "manifest is %d bytes, the limit is %d", len(raw), MaxManifestBytes)
	}
	if repo == "" || strings.ContainsAny(repo, ":@ \x00") || strings.ContainsAny(tag, ":@/ \x00") {
		return v1.Descriptor{}, kumo.InvalidParameter("invalid image reference %q:%q", repo, tag)
	}
	doc, err := parseManifest(raw, mt)
	if err != nil {
		return v1.Descriptor{}, err
	}
	sum := sha256.Sum256(raw)
	desc := v1.Descriptor{
		MediaType: mt,
		Size:      int64(len(raw)),
		Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
	}
	name := repo + "@" + desc.Digest.String()
	if tag != "" {
		name = repo + ":" + tag
	}
	// Held from the check of what the manifest names until it is recorded,
	// so GC cannot remove those blobs in between.
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	if err := s.checkReferences(doc); err != nil {
		return v1.Descriptor{}, err
	}
	if err := s.writeBytes(ctx, desc.Digest, raw); err != nil {
		return v1.Descriptor{}, fmt.Errorf("put manifest %s: %w", desc.Digest, err)
	}
	if err := s.setRefName(name, desc); err != nil {
		return v1.Descriptor{}, fmt.Errorf("put manifest %s: %w", name, err)
	}
	return desc, nil
}

func parseManifest(raw []byte, mt types.MediaType) (*manifestDoc, error) {
	if !slices.Contains(manifestTypes, mt) {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "manifest media type %q is not supported", mt)
	}
	var doc manifestDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, kumo.InvalidParameter("manifest is not valid JSON: %v", err)
	}
	if doc.SchemaVersion != 2 {
		return nil, kumo.InvalidParameter("manifest schemaVersion is %d, must be 2", doc.SchemaVersion)
	}
	if doc.MediaType != "" && doc.MediaType != mt {
		return nil, kumo.InvalidParameter("manifest mediaType %q does not match content type %q", doc.MediaType, mt)
	}
	switch mt {
	case types.OCIImageIndex, types.DockerManifestList:
		if doc.Config != nil || doc.Layers != nil {
			return nil, kumo.InvalidParameter("an index has no config or layers")
		}
		for i, d := range doc.Manifests {
			if err := checkDescriptor(d); err != nil {
				return nil, kumo.InvalidParameter("manifests[%d]: %v", i, err)
			}
		}
	default:
		if doc.Manifests != nil {
			return nil, kumo.InvalidParameter("an image manifest has no manifests list")
		}
		if doc.Config == nil {
			return nil, kumo.InvalidParameter("image manifest has no config")
		}
		if err := checkDescriptor(*doc.Config); err != nil {
			return nil, kumo.InvalidParameter("config: %v", err)
		}
		for i, d := range doc.Layers {
			if err := checkDescriptor(d); err != nil {
				return nil, kumo.InvalidParameter("layers[%d]: %v", i, err)
			}
		}
	}
	return &doc, nil
}

func checkDescriptor(d v1.Descriptor) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// foreign reports whether a layer is one registries do not hold (Windows
// base layers fetched from their URLs), which a manifest may name without
// it being pushed.
func foreign(d v1.Descriptor) bool {
	return len(d.URLs) > 0 && !d.MediaType.IsDistributable()
}

// checkReferences makes sure everything doc names is stored, with the size
// doc gives it. The caller holds gcMu.
func (s *Store) checkReferences(doc *manifestDoc) error {
	var refs []v1.Descriptor
	if doc.Config != nil {
		refs = append(refs, *doc.Config)
	}
	for _, d := range doc.Layers {
		if !foreign(d) {
			refs = append(refs, d)
		}
	}
	refs = append(refs, doc.Manifests...)
	for _, d := range refs {
		fi, err := os.Stat(s.blobPath(d.Digest))
		if errors.Is(err, fs.ErrNotExist) {
			return kumo.NotFound("blob %s is not in the registry", d.Digest)
		}
		if err != nil {
			return fmt.Errorf("check blob %s: %w", d.Digest, err)
		}
		if fi.Size() != d.Size {
			return kumo.InvalidParameter("blob %s is %d bytes, the manifest says %d", d.Digest, fi.Size(), d.Size)
		}
	}
	return nil
}

// setRefName points the ref name at desc: a tag moves, a repo@digest entry
// is written once. The caller holds gcMu.
func (s *Store) setRefName(name string, desc v1.Descriptor) error {
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	if i := slices.IndexFunc(m.Manifests, func(d v1.Descriptor) bool { return d.Annotations[annotationRefName] == name }); i >= 0 {
		if m.Manifests[i].Digest == desc.Digest && m.Manifests[i].MediaType == desc.MediaType {
			return nil
		}
		m.Manifests = slices.Delete(m.Manifests, i, i+1)
	}
	desc.Annotations = map[string]string{annotationRefName: name}
	m.Manifests = append(m.Manifests, desc)
	return s.writeIndex(m)
}

// refRepo returns the repository of an index.json ref name written by the
// registry or Tag ("REPO:TAG" or "REPO@DIGEST").
func refRepo(name string) (string, bool) {
	i := strings.IndexAny(name, ":@")
	if i <= 0 {
		return "", false
	}
	return name[:i], true
}

// inRepo reports whether the index entry d belongs to repo.
func inRepo(d v1.Descriptor, repo string) bool {
	r, ok := refRepo(d.Annotations[annotationRefName])
	return ok && r == repo
}

// ResolveManifest finds the manifest repo holds under ref, a tag or a
// digest ("sha256:..."), and returns its descriptor (digest, size and the
// media type it was pushed with). A digest resolves only if repo has it
// tagged or pushed by digest. Missing: a kumo.ErrNotFound error.
func (s *Store) ResolveManifest(ctx context.Context, repo, ref string) (v1.Descriptor, error) {
	if err := ctx.Err(); err != nil {
		return v1.Descriptor{}, err
	}
	var match func(v1.Descriptor) bool
	if strings.Contains(ref, ":") {
		h, err := v1.NewHash(ref)
		if err != nil {
			return v1.Descriptor{}, kumo.InvalidParameter("invalid image digest %q", ref)
		}
		if err := checkDigest(h); err != nil {
			return v1.Descriptor{}, err
		}
		match = func(d v1.Descriptor) bool { return d.Digest == h && inRepo(d, repo) }
	} else {
		name := repo + ":" + ref
		match = func(d v1.Descriptor) bool { return d.Annotations[annotationRefName] == name }
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, err
	}
	if i := slices.IndexFunc(m.Manifests, match); i >= 0 {
		d := m.Manifests[i]
		d.Annotations = nil
		return d, nil
	}
	return v1.Descriptor{}, kumo.NotFound("manifest %s in %s not found", ref, repo)
}

// Manifest returns the raw manifest repo holds under ref (see
// ResolveManifest) and its descriptor; the bytes are digest-verified.
func (s *Store) Manifest(ctx context.Context, repo, ref string) ([]byte, v1.Descriptor, error) {
	desc, err := s.ResolveManifest(ctx, repo, ref)
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	raw, err := s.readBlob(desc.Digest)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	if desc.MediaType == "" {
		// Tagged by Tag with a bare descriptor: the manifest says what it is.
		desc.MediaType = types.OCIManifestSchema1
		var doc manifestDoc
		if json.Unmarshal(raw, &doc) == nil {
			switch {
			case doc.MediaType != "":
				desc.MediaType = doc.MediaType
			case doc.Manifests != nil:
				desc.MediaType = types.OCIImageIndex
			}
		}
	}
	return raw, desc, nil
}

// DeleteManifest removes ref from repo: a tag is untagged; a digest loses
// every tag of repo that names it and its repo@digest entry. The blobs stay
// until GC, since other repositories and functions may use them.
func (s *Store) DeleteManifest(ctx context.Context, repo, ref string) error {
	desc, err := s.ResolveManifest(ctx, repo, ref)
	if err != nil {
		return err
	}
	drop := func(d v1.Descriptor) bool { return d.Annotations[annotationRefName] == repo+":"+ref }
	if strings.Contains(ref, ":") {
		drop = func(d v1.Descriptor) bool { return d.Digest == desc.Digest && inRepo(d, repo) }
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	m, err := s.readIndex()
	if err != nil {
		return err
	}
	n := len(m.Manifests)
	m.Manifests = slices.DeleteFunc(m.Manifests, drop)
	if len(m.Manifests) == n {
		return kumo.NotFound("manifest %s in %s not found", ref, repo)
	}
	return s.writeIndex(m)
}

// Repositories lists the repositories that hold a tag or a manifest pushed
// by digest, sorted.
func (s *Store) Repositories(ctx context.Context) ([]string, error) {
	manifests, err := s.indexManifests(ctx)
	if err != nil {
		return nil, err
	}
	var repos []string
	for _, d := range manifests {
		if r, ok := refRepo(d.Annotations[annotationRefName]); ok {
			repos = append(repos, r)
		}
	}
	slices.Sort(repos)
	return slices.Compact(repos), nil
}

// HasRepository reports whether repo holds any tag or manifest.
func (s *Store) HasRepository(ctx context.Context, repo string) (bool, error) {
	repos, err := s.Repositories(ctx)
	if err != nil {
		return false, err
	}
	_, found := slices.BinarySearch(repos, repo)
	return found, nil
}

// maxIndexDepth bounds how deeply GC follows indexes naming indexes.
const maxIndexDepth = 8

// keepManifest marks manifest h and everything it names live for Collect,
// following indexes, which the registry stores next to image manifests, and
// without parsing configs, so OCI artifacts pushed to the registry are kept
// too. A missing manifest is skipped with a warning; one that cannot be
// read or parsed is an error, because what it names cannot be told apart
// from garbage. The caller holds gcMu.
func (s *Store) keepManifest(ctx context.Context, h v1.Hash, live map[string]bool, kept map[v1.Hash]bool) error {
	return s.keepManifestDepth(ctx, h, live, kept, 0)
}

func (s *Store) keepManifestDepth(ctx context.Context, h v1.Hash, live map[string]bool, kept map[v1.Hash]bool, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if kept[h] {
		return nil
	}
	if depth > maxIndexDepth {
		return fmt.Errorf("manifest %s: indexes nested more than %d deep", h, maxIndexDepth)
	}
	raw, err := s.readBlob(h)
	if errors.Is(err, kumo.ErrNotFound) {
		s.log.Warn("gc: kept image is missing", logKeyDigest, h.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("kept manifest %s: %w", h, err)
	}
	var doc manifestDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("kept manifest %s: %w", h, err)
	}
	if doc.Config == nil && doc.Layers == nil && doc.Manifests == nil {
		return fmt.Errorf("kept manifest %s: neither an image manifest nor an index", h)
	}
	kept[h] = true
	live[h.Hex] = true
	if doc.Config != nil {
		live[doc.Config.Digest.Hex] = true
	}
	for _, l := range doc.Layers {
		live[l.Digest.Hex] = true
	}
	for _, m := range doc.Manifests {
		if err := checkDigest(m.Digest); err != nil {
			return fmt.Errorf("kept index %s: %w", h, err)
		}
		if err := s.keepManifestDepth(ctx, m.Digest, live, kept, depth+1); err != nil {
			return err
		}
	}
	return nil
}
