package runtimes_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/kumo"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// requireDpkg skips on machines without a dpkg database (a non-Debian
// developer machine); on Debian, a missing package fails the test with the
// apt-get line that fixes it.
func requireDpkg(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("needs a Debian host: no /var/lib/dpkg/status")
	}
}

// buildCounter counts "built runtime image" log records, i.e. builds.
type buildCounter struct {
	slog.Handler
	n *atomic.Int64
}

func (c buildCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "built runtime image" {
		c.n.Add(1)
	}
	return nil
}

func (c buildCounter) Enabled(context.Context, slog.Level) bool { return true }

func newBuilder(t *testing.T, opts ...runtimes.Option) (*runtimes.Builder, *image.Store, *atomic.Int64) {
	t.Helper()
	store, err := image.Open(t.TempDir())
	require.NoError(t, err)
	n := &atomic.Int64{}
	opts = append([]runtimes.Option{runtimes.WithLogger(slog.New(buildCounter{Handler: slog.DiscardHandler, n: n}))}, opts...)
	b, err := runtimes.New(store, opts...)
	require.NoError(t, err)
	return b, store, n
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	require.NoError(t, err)
	return d.String()
}

func TestSupported(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"java17", "nodejs20.x", "provided.al2", "provided.al2023", "python3.11", "ruby3.1"}, runtimes.Supported())
}

func TestUnsupportedRuntime(t *testing.T) {
	t.Parallel()
	b, _, _ := newBuilder(t)
	for _, rt := range []string{"dotnet8", "java21", "python3.12", "nodejs18.x", "ruby3.2", "provided", ""} {
		_, err := b.BaseImage(t.Context(), rt)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, rt)
		var ke *kumo.Error
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, "The runtime parameter of "+rt+" is not supported by this kumo host. Supported runtimes: "+
			"[java17, nodejs20.x, provided.al2, provided.al2023, python3.11, ruby3.1]; other runtimes can run as container images (PackageType Image)", ke.Message)
		_, err = b.Build(t.Context(), rt, false)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, rt)
	}
}

// TestBuildIsReproducible builds each runtime in two fresh stores and
// gets the same digest, and checks the image's config.
func TestBuildIsReproducible(t *testing.T) {
	requireDpkg(t)
	for _, rt := range runtimes.Supported() {
		t.Run(rt, func(t *testing.T) {
			if testing.Short() && rt == "java17" {
				t.Skip("java17 copies ~200 MB twice")
			}
			began := time.Now()
			b1, _, _ := newBuilder(t)
			img, err := b1.BaseImage(t.Context(), rt)
			require.NoError(t, err)
			t.Logf("%s: built in %s", rt, time.Since(began).Round(time.Millisecond))
			require.NoError(t, validate.Image(img, validate.Fast))
			b2, _, _ := newBuilder(t)
			again, err := b2.BaseImage(t.Context(), rt)
			require.NoError(t, err)
			assert.Equal(t, digestOf(t, img), digestOf(t, again))

			cfg, err := img.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, rt, cfg.Config.Labels[image.LabelRuntime])
			assert.Len(t, cfg.Config.Labels[runtimes.LabelRecipe], 64)
			assert.Contains(t, cfg.Config.Labels[runtimes.LabelPackages], "libc6=2.")
			assert.Equal(t, "/var/task", cfg.Config.WorkingDir)
			assert.Equal(t, time.Unix(0, 0).UTC(), cfg.Created.UTC())
			for _, e := range image.BaseEnv() {
				assert.Contains(t, cfg.Config.Env, e)
			}
			layers, err := img.Layers()
			require.NoError(t, err)
			if strings.HasPrefix(rt, "provided.") {
				assert.Empty(t, cfg.Config.Entrypoint)
				assert.Len(t, layers, 2, "skeleton and packages")
			} else {
				assert.NotEmpty(t, cfg.Config.Entrypoint)
				assert.Len(t, layers, 3, "skeleton, packages and client")
			}
		})
	}
}

func TestEntrypointsAndEnv(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	b, _, _ := newBuilder(t)
	want := map[string]struct {
		entrypoint []string
		env        string
	}{
		"python3.11": {[]string{"/usr/bin/python3.11", "/var/runtime/bootstrap.py"}, ""},
		"nodejs20.x": {[]string{"/usr/bin/node", "/var/runtime/index.mjs"}, "NODE_PATH=/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task"},
		"ruby3.1":    {[]string{"/usr/bin/ruby3.1", "/var/runtime/bootstrap.rb"}, "GEM_PATH=/var/task/vendor/bundle/ruby/3.1.0:/opt/ruby/gems/3.1.0"},
		"java17":     {[]string{"/var/runtime/bootstrap"}, ""},
	}
	infos, err := b.List(t.Context())
	require.NoError(t, err)
	require.Len(t, infos, len(runtimes.Supported()))
	for _, info := range infos {
		assert.False(t, info.Built, info.Name)
		assert.Empty(t, info.Digest, info.Name)
		assert.Contains(t, info.Packages, "libc6", info.Name)
		assert.Equal(t, want[info.Name].entrypoint, info.Entrypoint, info.Name)
	}
	for rt, w := range want {
		if rt == "java17" && testing.Short() {
			continue
		}
		img, err := b.BaseImage(t.Context(), rt)
		require.NoError(t, err, rt)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, w.entrypoint, cfg.Config.Entrypoint, rt)
		if w.env != "" {
			assert.Contains(t, cfg.Config.Env, w.env, rt)
		}
	}
}

// TestBaseImageOneBuild: concurrent first uses build once; later uses and
// List find the tagged image; a stale tag (another recipe) is rebuilt and
// force rebuilds to the same digest.
func TestBaseImageOneBuild(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	b, store, builds := newBuilder(t)
	const rt = "provided.al2023"
	var wg sync.WaitGroup
	digests := make([]string, 6)
	for i := range digests {
		wg.Go(func() {
			img, err := b.BaseImage(t.Context(), rt)
			if assert.NoError(t, err) {
				digests[i] = digestOf(t, img)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(1), builds.Load())
	for _, d := range digests {
		assert.Equal(t, digests[0], d)
	}
	desc, err := store.Lookup(t.Context(), runtimes.Repository(rt), runtimes.Tag)
	require.NoError(t, err)
	assert.Equal(t, digests[0], desc.Digest.String())

	infos, err := b.List(t.Context())
	require.NoError(t, err)
	for _, info := range infos {
		if info.Name != rt {
			continue
		}
		assert.True(t, info.Built)
		assert.Equal(t, digests[0], info.Digest)
		assert.Contains(t, info.Packages[0], "=")
	}
	info, err := b.Build(t.Context(), rt, false)
	require.NoError(t, err)
	assert.Equal(t, digests[0], info.Digest)
	assert.Equal(t, int64(1), builds.Load(), "a current image is not rebuilt")
	info, err = b.Build(t.Context(), rt, true)
	require.NoError(t, err)
	assert.Equal(t, digests[0], info.Digest)
	assert.Equal(t, int64(2), builds.Load(), "force rebuilds")

	// Point the tag at an image of no recipe (the minimal base): it is
	// replaced on next use.
	old, err := store.BaseImage(t.Context(), rt)
	require.NoError(t, err)
	oldDigest, err := old.Digest()
	require.NoError(t, err)
	raw, err := old.RawManifest()
	require.NoError(t, err)
	mt, err := old.MediaType()
	require.NoError(t, err)
	require.NoError(t, store.Tag(t.Context(), runtimes.Repository(rt), runtimes.Tag, v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: oldDigest}))
	img, err := b.BaseImage(t.Context(), rt)
	require.NoError(t, err)
	assert.Equal(t, digests[0], digestOf(t, img))
	assert.Equal(t, int64(3), builds.Load())
}

// TestClientFilesInImage: each client's files land under /var/runtime in
// their own top layer, with their content, and executables stay
// executable.
func TestClientFilesInImage(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	b, store, _ := newBuilder(t)
	for rt, lang := range map[string]string{"python3.11": "python", "nodejs20.x": "nodejs", "ruby3.1": "ruby", "java17": "java"} {
		if rt == "java17" && testing.Short() {
			continue
		}
		img, err := b.BaseImage(t.Context(), rt)
		require.NoError(t, err, rt)
		d, err := img.Digest()
		require.NoError(t, err)
		dirs, err := store.Unpack(t.Context(), d)
		require.NoError(t, err)
		require.Len(t, dirs, 3)
		top := dirs[2]
		src := filepath.Join(lang, "var-runtime")
		n := 0
		err = filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
			require.NoError(t, err)
			if de.IsDir() && de.Name() == "__pycache__" {
				return fs.SkipDir
			}
			if de.IsDir() || strings.HasSuffix(p, ".pyc") {
				return nil // go:embed carries no empty directories
			}
			rel, err := filepath.Rel(src, p)
			require.NoError(t, err)
			got := filepath.Join(top, "var/runtime", rel)
			fi, err := os.Lstat(got)
			require.NoError(t, err, "%s: %s missing from /var/runtime", rt, rel)
			n++
			want, err := os.ReadFile(p)
			require.NoError(t, err)
			have, err := os.ReadFile(got)
			require.NoError(t, err)
			assert.Equal(t, want, have, "%s: %s", rt, rel)
			srcInfo, err := de.Info()
			require.NoError(t, err)
			if srcInfo.Mode()&0o111 != 0 {
				assert.Equal(t, fs.FileMode(0o755), fi.Mode().Perm(), "%s: %s is executable in the source tree", rt, rel)
			} else if !strings.HasPrefix(string(want), "#!") {
				assert.Equal(t, fs.FileMode(0o644), fi.Mode().Perm(), "%s: %s", rt, rel)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Positive(t, n, rt)
		// Only /var/runtime is in the client layer.
		entries, err := os.ReadDir(top)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		assert.Equal(t, "var", entries[0].Name())
	}
}

// copyDpkg copies the host's dpkg database (the status file, the info
// files of pkgs, the diversions) and the files of pkgs into a new admin
// dir and root, for tests that break them.
func copyDpkg(t *testing.T, pkgs []string) runtimes.Dpkg {
	t.Helper()
	admin, root := t.TempDir(), t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(admin, "info"), 0o755))
	for _, name := range []string{"status", "diversions"} {
		b, err := os.ReadFile(filepath.Join("/var/lib/dpkg", name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(admin, name), b, 0o644))
	}
	for _, pkg := range pkgs {
		infos, err := filepath.Glob(filepath.Join("/var/lib/dpkg/info", pkg+"[.:]*"))
		require.NoError(t, err)
		require.NotEmpty(t, infos, pkg)
		for _, info := range infos {
			b, err := os.ReadFile(info)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(admin, "info", filepath.Base(info)), b, 0o644))
			if !strings.HasSuffix(info, ".list") {
				continue
			}
			for name := range strings.Lines(string(b)) {
				name = strings.TrimSpace(name)
				fi, err := os.Lstat(name)
				if err != nil || name == "/." {
					continue
				}
				dst := filepath.Join(root, name)
				require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
				if st, err := os.Stat(name); err == nil && st.IsDir() {
					// A directory, or a merged-/usr symlink to one
					// (/bin → usr/bin): the copy is a plain tree.
					require.NoError(t, os.MkdirAll(dst, 0o755))
					continue
				}
				switch {
				case fi.Mode()&fs.ModeSymlink != 0:
					target, err := os.Readlink(name)
					require.NoError(t, err)
					_ = os.Remove(dst)
					require.NoError(t, os.Symlink(target, dst))
				default:
					data, err := os.ReadFile(name)
					require.NoError(t, err)
					require.NoError(t, os.WriteFile(dst, data, fi.Mode().Perm()))
				}
			}
		}
	}
	return runtimes.Dpkg{AdminDir: admin, Root: root}
}

func recipePackages(t *testing.T, rt string) []string {
	t.Helper()
	b, _, _ := newBuilder(t)
	infos, err := b.List(t.Context())
	require.NoError(t, err)
	for _, info := range infos {
		if info.Name == rt {
			return info.Packages
		}
	}
	t.Fatalf("no runtime %s", rt)
	return nil
}

// TestBuildFromCopy builds from a copy of the database and files, the way
// the failure tests below start, and gets the host's image.
func TestBuildFromCopy(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	const rt = "provided.al2023"
	d := copyDpkg(t, recipePackages(t, rt))
	fromCopy, _, _ := newBuilder(t, runtimes.WithDpkg(d))
	img, err := fromCopy.BaseImage(t.Context(), rt)
	require.NoError(t, err)
	fromHost, _, _ := newBuilder(t)
	want, err := fromHost.BaseImage(t.Context(), rt)
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, want), digestOf(t, img))
}

func TestBuildRejectsModifiedFile(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	const rt = "provided.al2023"
	d := copyDpkg(t, recipePackages(t, rt))
	// Same size, one byte different: only the checksum can tell.
	dash := filepath.Join(d.Root, "bin/dash")
	b, err := os.ReadFile(dash)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(dash, b, 0o755))
	builder, store, _ := newBuilder(t, runtimes.WithDpkg(d))
	_, err = builder.BaseImage(t.Context(), rt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file "+dash+" of package dash does not match dpkg's md5sum")
	assert.Contains(t, err.Error(), "apt-get install --reinstall -y dash")
	_, err = store.Lookup(t.Context(), runtimes.Repository(rt), runtimes.Tag)
	require.ErrorIs(t, err, kumo.ErrNotFound, "nothing is tagged")
}

func TestBuildRejectsMissingFile(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	const rt = "provided.al2023"
	d := copyDpkg(t, recipePackages(t, rt))
	gone := filepath.Join(d.Root, "bin/dash")
	require.NoError(t, os.Remove(gone))
	builder, _, _ := newBuilder(t, runtimes.WithDpkg(d))
	_, err := builder.BaseImage(t.Context(), rt)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "file "+gone+" of package dash is missing on this host; reinstall it with: apt-get install --reinstall -y dash")
}

func TestBuildMissingPackage(t *testing.T) {
	requireDpkg(t)
	t.Parallel()
	d := copyDpkg(t, nil)
	// Drop the stanzas of two packages from the status file.
	status := filepath.Join(d.AdminDir, "status")
	b, err := os.ReadFile(status)
	require.NoError(t, err)
	var kept []string
	for stanza := range strings.SplitSeq(string(b), "\n\n") {
		if strings.HasPrefix(stanza, "Package: python3.11\n") || strings.HasPrefix(stanza, "Package: media-types\n") {
			continue
		}
		kept = append(kept, stanza)
	}
	require.NoError(t, os.WriteFile(status, []byte(strings.Join(kept, "\n\n")), 0o644))
	builder, _, _ := newBuilder(t, runtimes.WithDpkg(d))
	_, err = builder.Build(t.Context(), "python3.11", false)
	require.ErrorIs(t, err, kumo.ErrServiceUnavailable)
	var ke *kumo.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, "runtime python3.11 cannot be built on this host: package(s) media-types, python3.11 not installed; install them with: apt-get install -y media-types python3.11", ke.Message)
}
