package image

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func TestBaseImageIsReproducible(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	first, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	requireValidImage(t, first)
	d1, err := first.Digest()
	require.NoError(t, err)

	again, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	d2, err := again.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, d2)

	// A second store built from the same host files agrees.
	other := openStore(t)
	other.caBundle, other.zoneinfoDir = s.caBundle, s.zoneinfoDir
	fresh, err := other.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	d3, err := fresh.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, d3)

	al2, err := s.BaseImage(t.Context(), "provided.al2")
	require.NoError(t, err)
	requireValidImage(t, al2)
	d4, err := al2.Digest()
	require.NoError(t, err)
	assert.NotEqual(t, d1, d4, "the runtime label differs")
	l1, err := first.Layers()
	require.NoError(t, err)
	l4, err := al2.Layers()
	require.NoError(t, err)
	h1, err := l1[0].Digest()
	require.NoError(t, err)
	h4, err := l4[0].Digest()
	require.NoError(t, err)
	assert.Equal(t, h1, h4, "both runtimes share one root layer")
	cfg, err := al2.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "provided.al2", cfg.Config.Labels[LabelRuntime])
	assert.Equal(t, epoch, cfg.Created.Time.UTC())
	assert.Contains(t, cfg.Config.Env, "LAMBDA_TASK_ROOT=/var/task")
}

func TestBaseImageContents(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	base, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	d, err := base.Digest()
	require.NoError(t, err)
	dirs, err := s.Unpack(t.Context(), d)
	require.NoError(t, err)
	require.Len(t, dirs, 1)
	root := dirs[0]

	for _, dir := range []string{"var/task", "var/runtime", "opt", "dev", "proc", "sys", "etc", "usr/bin", "bin", "lib64", "usr/share/zoneinfo/Europe"} {
		fi, err := os.Lstat(filepath.Join(root, dir))
		require.NoError(t, err, dir)
		assert.Equal(t, fs.ModeDir|0o755, fi.Mode(), dir)
	}
	fi, err := os.Lstat(filepath.Join(root, "tmp"))
	require.NoError(t, err)
	assert.Equal(t, fs.ModeDir|fs.ModeSticky|0o777, fi.Mode())

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err, name)
		return string(b)
	}
	assert.Contains(t, read("etc/passwd"), "root:x:0:0:")
	assert.Contains(t, read("etc/passwd"), "sbx_user1051:x:993:990:")
	assert.Contains(t, read("etc/group"), "root:x:0:")
	assert.Contains(t, read("etc/group"), ":x:990:")
	assert.Contains(t, read("etc/hosts"), "127.0.0.1\tlocalhost")
	assert.Contains(t, read("etc/nsswitch.conf"), "hosts: files dns")
	assert.Empty(t, read("etc/resolv.conf"))
	ca, err := os.ReadFile(s.caBundle)
	require.NoError(t, err)
	assert.Equal(t, string(ca), read("etc/ssl/certs/ca-certificates.crt"))
	assert.Equal(t, "TZif2 utc", read("usr/share/zoneinfo/UTC"))
	assert.Equal(t, "TZif2 paris", read("usr/share/zoneinfo/Europe/Paris"))

	links := map[string]string{
		"etc/localtime":                   "/usr/share/zoneinfo/UTC",
		"etc/pki/tls/certs/ca-bundle.crt": "/etc/ssl/certs/ca-certificates.crt",
		"usr/share/zoneinfo/Zulu":         "UTC",
	}
	for name, want := range links {
		got, err := os.Readlink(filepath.Join(root, name))
		require.NoError(t, err, name)
		assert.Equal(t, want, got, name)
	}
	fi, err = os.Stat(filepath.Join(root, "etc/passwd"))
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), fi.Mode())
	assert.True(t, epoch.Equal(fi.ModTime()))
}

func TestBaseImageWithoutHostFiles(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	s.caBundle = filepath.Join(t.TempDir(), "absent.crt")
	s.zoneinfoDir = filepath.Join(t.TempDir(), "absent")
	base, err := s.BaseImage(t.Context(), "provided.al2")
	require.NoError(t, err)
	requireValidImage(t, base)
	layers, err := base.Layers()
	require.NoError(t, err)
	_, entries := readLayer(t, layers[0])
	for _, name := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/pki/tls/certs/ca-bundle.crt", "etc/localtime", "usr/share/zoneinfo/"} {
		assert.NotContains(t, entries, name)
	}
	assert.Contains(t, entries, "etc/passwd")
}

// TestBaseImageFromHost builds from the real host files, the way kumod does.
func TestBaseImageFromHost(t *testing.T) {
	t.Parallel()
	s, err := Open(t.TempDir())
	require.NoError(t, err)
	base, err := s.BaseImage(t.Context(), "provided.al2023")
	require.NoError(t, err)
	requireValidImage(t, base)
	layers, err := base.Layers()
	require.NoError(t, err)
	_, entries := readLayer(t, layers[0])
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		assert.Contains(t, entries, "etc/ssl/certs/ca-certificates.crt")
	}
	if _, err := os.Stat("/usr/share/zoneinfo/UTC"); err == nil {
		assert.Contains(t, entries, "usr/share/zoneinfo/UTC")
		assert.Contains(t, entries, "etc/localtime")
	}
}

func TestBaseImageUnknownRuntime(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	for _, rt := range []string{"python3.12", "", "provided", "PROVIDED.AL2023"} {
		_, err := s.BaseImage(t.Context(), rt)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, rt)
		var ke *kumo.Error
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, "Value "+rt+" at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [provided.al2, provided.al2023]", ke.Message)
	}
}

func TestSupportedRuntimes(t *testing.T) {
	t.Parallel()
	got := SupportedRuntimes()
	assert.Equal(t, []string{"provided.al2", "provided.al2023"}, got)
	got[0] = "mutated"
	assert.Equal(t, "provided.al2", SupportedRuntimes()[0], "callers get a copy")
}
