package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Fetcher copies a function's image into the host's image store from where
// the host that wrote it put it (image.Mirror: the `--registry`).
type Fetcher interface {
	Fetch(ctx context.Context, function string, digest v1.Hash) error
}

// WithFetcher makes the node fetch images it lacks before unpacking them.
func WithFetcher(f Fetcher) Option { return func(n *Node) { n.fetcher = f } }

// ensureImage fetches fn's image when the store lacks it and a Fetcher is
// set: another host wrote it, or GC took it.
func (n *Node) ensureImage(ctx context.Context, fn *kumo.Function) error {
	if n.fetcher == nil || fn.ImageDigest == "" {
		return nil
	}
	n.mu.Lock()
	_, mounted := n.mounts[fn.ImageDigest]
	n.mu.Unlock()
	if mounted {
		return nil
	}
	h, err := v1.NewHash(fn.ImageDigest)
	if err != nil {
		return fmt.Errorf("parse image digest %q: %w", fn.ImageDigest, err)
	}
	_, err = n.images.Image(ctx, h)
	if err == nil || !errors.Is(err, kumo.ErrNotFound) {
		return err
	}
	n.log.Info("fetching function image from the registry", "function", fn.Name, "image", fn.ImageDigest)
	if err := n.fetcher.Fetch(ctx, fn.Name, h); err != nil {
		return fmt.Errorf("function %s: image %s is not on this host: %w", fn.Name, fn.ImageDigest, err)
	}
	return nil
}

// scaffoldName is the directory under the rootfs dir that holds the
// scaffold; unmountChildren leaves it alone.
const scaffoldName = ".scaffold"

// makeScaffold (re)creates the lowest layer of every sandbox root: the
// mount points the sandbox needs (/proc, /dev, /sys, /tmp) and Lambda's
// usual directories. Zip functions' base images have them already; a
// container image built FROM scratch does not, and the root is read-only.
func makeScaffold(rootfsDir string) (string, error) {
	dir := filepath.Join(rootfsDir, scaffoldName)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove old scaffold: %w", err)
	}
	dirs := []struct {
		name string
		mode fs.FileMode
	}{
		{".", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o777 | fs.ModeSticky},
		{"etc", 0o755}, {"opt", 0o755}, {"var", 0o755}, {"var/task", 0o755}, {"var/runtime", 0o755},
	}
	for _, d := range dirs {
		p := filepath.Join(dir, d.name)
		if err := os.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("create scaffold: %w", err)
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return "", fmt.Errorf("create scaffold: %w", err)
		}
	}
	return dir, nil
}

// checkWorkingDir makes sure cwd is a directory of the image. Symlinks
// are resolved inside the image's root only; one that leaves it (an
// absolute link) is left for the sandbox to resolve.
func checkWorkingDir(rootfs, cwd string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	fi, err := root.Stat(inRoot(cwd))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("chdir %s: no such file or directory", cwd)
	case err == nil && !fi.IsDir():
		return fmt.Errorf("chdir %s: not a directory", cwd)
	}
	return nil
}

// checkEntrypoint makes sure an absolute argv[0] exists in the image and,
// unless it is a symlink (resolved in the sandbox), is executable.
// Relative ones are looked up in the image's PATH when the process starts.
func checkEntrypoint(rootfs, argv0 string) error {
	if !filepath.IsAbs(argv0) {
		return nil
	}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer root.Close()
	fi, err := root.Lstat(inRoot(argv0))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("fork/exec %s: no such file or directory", argv0)
	case err != nil || fi.Mode()&fs.ModeSymlink != 0:
		return nil
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("fork/exec %s: permission denied", argv0)
	}
	return nil
}

// inRoot turns an absolute path of the image into one relative to its root.
func inRoot(p string) string {
	rel := strings.TrimPrefix(filepath.Clean(p), "/")
	if rel == "" {
		return "."
	}
	return rel
}
