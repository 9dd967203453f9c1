package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func sha(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func TestPutBlob(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	body := []byte("hello registry")
	for _, tc := range []struct {
		name   string
		digest v1.Hash
		size   int64
		want   error
	}{
		{"wrong digest", sha([]byte("other")), -1, ErrDigestMismatch},
		{"wrong size", sha(body), int64(len(body)) + 1, ErrDigestMismatch},
		{"bad digest", v1.Hash{Algorithm: "sha256", Hex: "../../x"}, -1, kumo.ErrInvalidParameter},
		{"unknown size", sha(body), -1, nil},
		{"known size", sha(body), int64(len(body)), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.PutBlob(t.Context(), tc.digest, tc.size, bytes.NewReader(body))
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
				return
			}
			require.NoError(t, err)
		})
	}
	_, err := os.Stat(s.blobPath(sha([]byte("other"))))
	require.ErrorIs(t, err, os.ErrNotExist, "mismatched content is never stored")

	size, err := s.BlobSize(t.Context(), sha(body))
	require.NoError(t, err)
	require.Equal(t, int64(len(body)), size)
	rc, n, err := s.OpenBlob(t.Context(), sha(body))
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, body, got)
	require.Equal(t, size, n)

	_, err = s.BlobSize(t.Context(), sha([]byte("missing")))
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, _, err = s.OpenBlob(t.Context(), sha([]byte("missing")))
	require.ErrorIs(t, err, kumo.ErrNotFound)

	// A blob corrupted on disk fails as it is read, never ends cleanly.
	require.NoError(t, os.WriteFile(s.blobPath(sha(body)), []byte("hello regisTry"), 0o644))
	rc, _, err = s.OpenBlob(t.Context(), sha(body))
	require.NoError(t, err)
	_, err = io.ReadAll(rc)
	require.ErrorIs(t, err, errDigestMismatch)
	require.NoError(t, rc.Close())

	// Uploading it again repairs it.
	require.NoError(t, s.PutBlob(t.Context(), sha(body), -1, bytes.NewReader(body)))
	rc, _, err = s.OpenBlob(t.Context(), sha(body))
	require.NoError(t, err)
	got, err = io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, body, got)
	requireNoScratch(t, s)
}

func requireNoScratch(t *testing.T, s *Store) {
	t.Helper()
	left, err := os.ReadDir(s.tmpDir)
	require.NoError(t, err)
	require.Empty(t, left, "uploads leave nothing in scratch")
}

func TestUpload(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	whole := []byte("chunk one|chunk two")

	u, err := s.NewUpload(t.Context())
	require.NoError(t, err)
	n, err := u.Append(t.Context(), strings.NewReader("chunk one|"))
	require.NoError(t, err)
	require.EqualValues(t, 10, n)
	// A failed read keeps what arrived before it, so a client can resume.
	n, err = u.Append(t.Context(), io.MultiReader(strings.NewReader("chunk"), errReader{}))
	require.Error(t, err)
	require.EqualValues(t, 5, n)
	require.EqualValues(t, 15, u.Size())
	_, err = u.Append(t.Context(), strings.NewReader(" two"))
	require.NoError(t, err)
	require.ErrorIs(t, u.Commit(t.Context(), sha([]byte("nope"))), ErrDigestMismatch)
	require.NoError(t, u.Commit(t.Context(), sha(whole)), "a failed commit leaves the upload usable")
	require.NoError(t, u.Abort(), "abort after commit is a no-op")
	_, err = u.Append(t.Context(), strings.NewReader("more"))
	require.Error(t, err, "a committed upload takes no more")
	size, err := s.BlobSize(t.Context(), sha(whole))
	require.NoError(t, err)
	require.EqualValues(t, len(whole), size)

	ab, err := s.NewUpload(t.Context())
	require.NoError(t, err)
	_, err = ab.Append(t.Context(), strings.NewReader("abandoned"))
	require.NoError(t, err)
	require.NoError(t, ab.Abort())
	requireNoScratch(t, s)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// pushImage stores img's blobs the way a registry client would and returns
// its raw manifest and media type.
func pushImage(t *testing.T, s *Store, img v1.Image) ([]byte, types.MediaType) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	for _, l := range layers {
		d, err := l.Digest()
		require.NoError(t, err)
		rc, err := l.Compressed()
		require.NoError(t, err)
		require.NoError(t, s.PutBlob(t.Context(), d, -1, rc))
		require.NoError(t, rc.Close())
	}
	cfg, err := img.RawConfigFile()
	require.NoError(t, err)
	require.NoError(t, s.PutBlob(t.Context(), sha(cfg), int64(len(cfg)), bytes.NewReader(cfg)))
	raw, err := img.RawManifest()
	require.NoError(t, err)
	mt, err := img.MediaType()
	require.NoError(t, err)
	return raw, mt
}

func TestPutManifest(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStore(t)
	img, err := random.Image(256, 2)
	require.NoError(t, err)
	raw, mt := pushImage(t, s, img)

	missingLayer, err := random.Image(64, 1)
	require.NoError(t, err)
	rawMissing, err := missingLayer.RawManifest()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	m["config"].(map[string]any)["size"] = 1
	rawWrongSize, err := json.Marshal(m)
	require.NoError(t, err)
	index := func(d v1.Hash, size int64) []byte {
		b, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex,
			Manifests: []v1.Descriptor{{MediaType: mt, Digest: d, Size: size}}})
		require.NoError(t, err)
		return b
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		mt   types.MediaType
		want error
	}{
		{"not JSON", []byte("{"), types.OCIManifestSchema1, kumo.ErrInvalidParameter},
		{"schema 1", []byte(`{"schemaVersion":1}`), types.DockerManifestSchema2, kumo.ErrInvalidParameter},
		{"no config", []byte(`{"schemaVersion":2,"layers":[]}`), types.OCIManifestSchema1, kumo.ErrInvalidParameter},
		{"bad layer digest", []byte(`{"schemaVersion":2,"config":{"digest":"sha256:` + strings.Repeat("0", 64) + `","size":1},"layers":[{"digest":"sha256:../x","size":1}]}`), types.OCIManifestSchema1, kumo.ErrInvalidParameter},
		{"media type differs", raw, types.OCIManifestSchema1, kumo.ErrInvalidParameter},
		{"unsupported media type", raw, "application/vnd.docker.distribution.manifest.v1+json", kumo.ErrUnsupported},
		{"missing layer", rawMissing, mt, kumo.ErrNotFound},
		{"wrong blob size", rawWrongSize, mt, kumo.ErrInvalidParameter},
		{"index of missing manifest", index(sha([]byte("x")), 1), types.OCIImageIndex, kumo.ErrNotFound},
		{"too large", bytes.Repeat([]byte(" "), MaxManifestBytes+1), mt, kumo.ErrRequestTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutManifest(ctx, "team/app", "v1", tc.raw, tc.mt)
			require.ErrorIs(t, err, tc.want)
		})
	}

	desc, err := s.PutManifest(ctx, "team/app", "v1", raw, mt)
	require.NoError(t, err)
	digest, err := img.Digest()
	require.NoError(t, err)
	require.Equal(t, digest, desc.Digest)
	byDigest, err := s.PutManifest(ctx, "team/other", "", raw, mt)
	require.NoError(t, err)
	require.Equal(t, desc, byDigest)
	idx, err := s.PutManifest(ctx, "team/app", "multi", index(digest, desc.Size), types.OCIImageIndex)
	require.NoError(t, err)

	for _, tc := range []struct{ repo, ref string }{
		{"team/app", "v1"}, {"team/app", digest.String()}, {"team/other", digest.String()},
	} {
		got, gotDesc, err := s.Manifest(ctx, tc.repo, tc.ref)
		require.NoError(t, err, tc)
		require.Equal(t, raw, got)
		require.Equal(t, mt, gotDesc.MediaType)
	}
	_, err = s.ResolveManifest(ctx, "team/nope", digest.String())
	require.ErrorIs(t, err, kumo.ErrNotFound, "manifests belong to the repositories they were pushed to")
	_, err = s.ResolveManifest(ctx, "team/other", "v1")
	require.ErrorIs(t, err, kumo.ErrNotFound)
	got, err := s.ResolveManifest(ctx, "team/app", "multi")
	require.NoError(t, err)
	require.Equal(t, idx.Digest, got.Digest)
	require.Equal(t, types.OCIImageIndex, got.MediaType)

	tags, err := s.Tags(ctx, "team/app")
	require.NoError(t, err)
	require.Equal(t, []string{"multi", "v1"}, tags)
	tags, err = s.Tags(ctx, "team/other")
	require.NoError(t, err)
	require.Empty(t, tags, "a manifest pushed by digest is no tag")
	repos, err := s.Repositories(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"team/app", "team/other"}, repos)
	tagged, err := s.Tagged(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []v1.Hash{digest, digest, idx.Digest}, tagged, "GC's keep list has untagged pushes too")

	// Everything survives a reopen.
	s2, err := Open(s.dir)
	require.NoError(t, err)
	got2, _, err := s2.Manifest(ctx, "team/other", digest.String())
	require.NoError(t, err)
	require.Equal(t, raw, got2)

	require.NoError(t, s.DeleteManifest(ctx, "team/app", "v1"))
	require.ErrorIs(t, s.DeleteManifest(ctx, "team/app", "v1"), kumo.ErrNotFound)
	require.NoError(t, s.DeleteManifest(ctx, "team/other", digest.String()))
	_, _, err = s.Manifest(ctx, "team/other", digest.String())
	require.ErrorIs(t, err, kumo.ErrNotFound)
	_, _, err = s.Manifest(ctx, "team/app", "multi")
	require.NoError(t, err)

	// A tag written by Tag without a media type reads back with the
	// manifest's own.
	code, _ := putCode(t, s, zf{name: "bootstrap", body: "x", mode: 0o755})
	require.NoError(t, s.Tag(ctx, "kumo/code", "v1", v1.Descriptor{Digest: code}))
	_, codeDesc, err := s.Manifest(ctx, "kumo/code", "v1")
	require.NoError(t, err)
	require.Equal(t, types.OCIManifestSchema1, codeDesc.MediaType)
}

// TestCollectKeepsRegistryContent: GC with Tagged() as its keep list keeps
// indexes, the images they name and artifacts whose config is no image
// config, and drops them once they are deleted.
func TestCollectKeepsRegistryContent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openStore(t)
	idx, err := random.Index(128, 1, 2)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	var blobs []v1.Hash
	for _, d := range im.Manifests {
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		raw, mt := pushImage(t, s, img)
		_, err = s.PutManifest(ctx, "multi", "", raw, mt)
		require.NoError(t, err)
		blobs = append(blobs, d.Digest)
	}
	rawIdx, err := idx.RawManifest()
	require.NoError(t, err)
	idxDesc, err := s.PutManifest(ctx, "multi", "latest", rawIdx, types.OCIImageIndex)
	require.NoError(t, err)
	blobs = append(blobs, idxDesc.Digest)

	empty := []byte("{}")
	layer := []byte("artifact payload")
	require.NoError(t, s.PutBlob(ctx, sha(empty), 2, bytes.NewReader(empty)))
	require.NoError(t, s.PutBlob(ctx, sha(layer), -1, bytes.NewReader(layer)))
	art, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": types.OCIManifestSchema1, "artifactType": "application/x-test",
		"config": v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: sha(empty), Size: 2},
		"layers": []v1.Descriptor{{MediaType: "application/octet-stream", Digest: sha(layer), Size: int64(len(layer))}},
	})
	require.NoError(t, err)
	artDesc, err := s.PutManifest(ctx, "artifact", "v1", art, types.OCIManifestSchema1)
	require.NoError(t, err)
	blobs = append(blobs, artDesc.Digest, sha(empty), sha(layer))

	keep, err := s.Tagged(ctx)
	require.NoError(t, err)
	_, err = s.Collect(ctx, keep, 0)
	require.NoError(t, err)
	for _, b := range blobs {
		assert.FileExists(t, s.blobPath(b))
	}

	require.NoError(t, s.DeleteManifest(ctx, "multi", "latest"))
	for _, d := range im.Manifests {
		require.NoError(t, s.DeleteManifest(ctx, "multi", d.Digest.String()))
	}
	require.NoError(t, s.DeleteManifest(ctx, "artifact", artDesc.Digest.String()))
	keep, err = s.Tagged(ctx)
	require.NoError(t, err)
	require.Empty(t, keep)
	_, err = s.Collect(ctx, keep, 0)
	require.NoError(t, err)
	for _, b := range blobs {
		assert.NoFileExists(t, s.blobPath(b))
	}
}
