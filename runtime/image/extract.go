package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// OCI whiteout markers: ".wh.x" deletes x from lower layers, and
// ".wh..wh..opq" hides everything below its directory.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// extractor writes one layer's tar into root. It never follows a link:
// parents are checked with Lstat and must be real directories, existing
// paths are removed before they are recreated, and files are created with
// O_EXCL. Only regular files, directories, symlinks, hard links within the
// layer and whiteouts are created; devices and FIFOs are skipped, setuid,
// setgid and sticky bits on files are dropped, ownership is the unpacking
// user's (root on a host), and extended attributes are ignored (so a layer
// cannot grant file capabilities).
type extractor struct {
	ctx  context.Context
	root *os.Root
	log  *slog.Logger
	// dirs holds paths verified to be real directories.
	dirs map[string]bool
	meta []dirMeta
}

// dirMeta is applied once all entries are written, deepest first, so a
// read-only directory does not stop its own children being created.
type dirMeta struct {
	name  string
	mode  fs.FileMode
	mtime time.Time
}

func extractTar(ctx context.Context, root *os.Root, r io.Reader, log *slog.Logger) error {
	x := &extractor{ctx: ctx, root: root, log: log, dirs: map[string]bool{}}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer tar: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	return x.finish()
}

// cleanTarName makes a tar name relative to the layer root. Absolute names
// are neutralised (as GNU tar does) and ".." is refused outright: no layer
// kumo accepts has a reason to contain it.
func cleanTarName(n string) (string, error) {
	if strings.ContainsRune(n, 0) {
		return "", errors.New("name contains NUL")
	}
	n = strings.TrimLeft(n, "/")
	for _, c := range strings.Split(n, "/") {
		if c == ".." {
			return "", errors.New("name contains \"..\"")
		}
	}
	n = path.Clean("/" + n)[1:]
	if n == "" {
		return ".", nil
	}
	return n, nil
}

func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := cleanTarName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." {
		// The layer root is always a plain 0755 directory.
		return nil
	}
	if base := path.Base(name); strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(name, base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(name, hdr)
	case tar.TypeReg:
		return x.file(name, hdr, tr)
	case tar.TypeSymlink:
		return x.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		return x.hardlink(name, hdr.Linkname)
	default:
		// Devices and FIFOs have no business in a function's tree, and
		// the sandbox gets its own /dev.
		x.log.Debug("skip layer entry", logKeyEntry, name, logKeyType, string(hdr.Typeflag))
		return nil
	}
}

// parents makes sure every ancestor of name is a real directory, creating
// missing ones when create is set.
func (x *extractor) parents(name string, create bool) error {
	dir := path.Dir(name)
	if dir == "." || x.dirs[dir] {
		return nil
	}
	if err := x.parents(dir, create); err != nil {
		return err
	}
	fi, err := x.root.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := x.root.Mkdir(dir, 0o755); err != nil {
			return err
		}
	case err != nil:
		return err
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("parent %q is a symlink; refusing to write through it", dir)
	case !fi.IsDir():
		return fmt.Errorf("parent %q is not a directory", dir)
	}
	x.dirs[dir] = true
	return nil
}

// replace removes whatever is at name, except a directory when keepDir is
// set; it reports whether a directory was kept.
func (x *extractor) replace(name string, keepDir bool) (bool, error) {
	fi, err := x.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		if keepDir {
			return true, nil
		}
		clear(x.dirs)
	}
	return false, x.root.RemoveAll(name)
}

func (x *extractor) dir(name string, hdr *tar.Header) error {
	if err := x.parents(name, true); err != nil {
		return err
	}
	kept, err := x.replace(name, true)
	if err != nil {
		return err
	}
	if !kept {
		if err := x.root.Mkdir(name, 0o755); err != nil {
			return err
		}
	}
	x.dirs[name] = true
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	if hdr.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	x.meta = append(x.meta, dirMeta{name: name, mode: mode, mtime: hdr.ModTime})
	return nil
}

func (x *extractor) file(name string, hdr *tar.Header, tr io.Reader) error {
	if err := x.parents(name, true); err != nil {
		return err
	}
	if _, err := x.replace(name, false); err != nil {
		return err
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, ctxReader{x.ctx, tr}); err != nil {
		f.Close()
		return err
	}
	// Permission bits only: setuid and setgid never survive unpacking.
	if err := f.Chmod(fs.FileMode(hdr.Mode) & fs.ModePerm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return x.root.Chtimes(name, hdr.ModTime, hdr.ModTime)
}

// symlink creates the link as is: it is only ever resolved inside the
// sandbox's mount namespace, never on the host.
func (x *extractor) symlink(name, target string) error {
	if target == "" {
		return errors.New("symlink with an empty target")
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	if _, err := x.replace(name, false); err != nil {
		return err
	}
	return x.root.Symlink(target, name)
}

// hardlink links to a regular file already extracted from this layer.
func (x *extractor) hardlink(name, linkname string) error {
	target, err := cleanTarName(linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if target == "." {
		return errors.New("hard link to the layer root")
	}
	if err := x.parents(target, false); err != nil {
		return fmt.Errorf("hard link target %q: %w", target, err)
	}
	fi, err := x.root.Lstat(target)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", target, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("hard link target %q is not a regular file", target)
	}
	if err := x.parents(name, true); err != nil {
		return err
	}
	if _, err := x.replace(name, false); err != nil {
		return err
	}
	return x.root.Link(target, name)
}

func (x *extractor) whiteout(name, base string) error {
	dir := path.Dir(name)
	if base == whiteoutOpaque {
		if err := x.parents(name, true); err != nil {
			return err
		}
		return x.markOpaque(dir)
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." || strings.HasPrefix(victim, whiteoutPrefix) {
		return fmt.Errorf("invalid whiteout %q", base)
	}
	target := path.Join(dir, victim)
	if err := x.parents(target, true); err != nil {
		return err
	}
	if _, err := x.replace(target, false); err != nil {
		return err
	}
	return x.markDeleted(dir, victim)
}

func (x *extractor) finish() error {
	slices.SortStableFunc(x.meta, func(a, b dirMeta) int {
		return strings.Count(b.name, "/") - strings.Count(a.name, "/")
	})
	for _, m := range x.meta {
		if err := x.root.Chmod(m.name, m.mode); err != nil {
			return fmt.Errorf("layer entry %q: %w", m.name, err)
		}
		if err := x.root.Chtimes(m.name, m.mtime, m.mtime); err != nil {
			return fmt.Errorf("layer entry %q: %w", m.name, err)
		}
	}
	return nil
}
