package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/require"
)

// registryRef names repo:tag (or repo@digest) in h's own registry.
func (h *host) registryRef(t *testing.T, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(strings.TrimPrefix(h.endpoint, "http://")+"/"+ref, name.Insecure)
	require.NoError(t, err)
	return r
}

// registryAuth is how a registry client logs in: the host's key pair.
func (h *host) registryAuth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: h.creds.AccessKeyID, Password: h.creds.SecretAccessKey})
}

// requirePull pulls ref from h and checks it is digest and every layer.
func requirePull(t *testing.T, h *host, ref string, want v1.Hash) {
	t.Helper()
	img, err := remote.Image(h.registryRef(t, ref), h.registryAuth())
	require.NoError(t, err, ref)
	got, err := img.Digest()
	require.NoError(t, err)
	require.Equal(t, want, got, ref)
	require.NoError(t, validate.Image(img), ref)
}

func TestRootRegistry_PushPull(t *testing.T) {
	h := sharedHost(t)
	repo := "e2e/" + uniqueName("registry")
	img, err := random.Image(64<<10, 3)
	require.NoError(t, err)
	digest, err := img.Digest()
	require.NoError(t, err)

	// Without credentials the push is refused (ggcr follows the Basic
	// challenge and has nothing to answer it with).
	require.Error(t, remote.Write(h.registryRef(t, repo+":v1"), img))
	require.NoError(t, remote.Write(h.registryRef(t, repo+":v1"), img, h.registryAuth()))
	require.NoError(t, remote.Write(h.registryRef(t, repo+":v2"), img, h.registryAuth()))
	requirePull(t, h, repo+":v1", digest)
	requirePull(t, h, repo+"@"+digest.String(), digest)
	tags, err := remote.List(h.registryRef(t, repo+":v1").Context(), h.registryAuth())
	require.NoError(t, err)
	require.Equal(t, []string{"v1", "v2"}, tags)

	// The Lambda API on the same listener still takes SigV4.
	res := h.aws(t, "list-functions")
	require.Equal(t, 0, res.rc, res.stderr)

	// A private host keeps what was pushed across a restart, including a
	// multi-platform index, and a garbage collection with no grace period
	// keeps all of it.
	dir := newDataDir(t)
	h1 := newHost(t, dir)
	require.NoError(t, remote.Write(h1.registryRef(t, "keep/image:v1"), img, h1.registryAuth()))
	idx, err := random.Index(4096, 2, 2)
	require.NoError(t, err)
	idxDigest, err := idx.Digest()
	require.NoError(t, err)
	require.NoError(t, remote.WriteIndex(h1.registryRef(t, "keep/index:latest"), idx, h1.registryAuth()))
	require.NoError(t, h1.stop())

	h2 := newHost(t, dir)
	h2.gc(t, "--grace", "0s")
	requirePull(t, h2, "keep/image:v1", digest)
	pulled, err := remote.Index(h2.registryRef(t, "keep/index:latest"), h2.registryAuth())
	require.NoError(t, err)
	got, err := pulled.Digest()
	require.NoError(t, err)
	require.Equal(t, idxDigest, got)
	require.NoError(t, validate.Index(pulled))
	tags, err = remote.List(h2.registryRef(t, "keep/image:v1").Context(), h2.registryAuth())
	require.NoError(t, err)
	require.Equal(t, []string{"v1"}, tags)
}
