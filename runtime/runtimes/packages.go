package runtimes

import (
	"archive/tar"
	"context"
	"crypto/md5" //nolint:gosec // dpkg's md5sums are what the packages were checked against; this is integrity, not security
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// leftOut are the trees of a package that a function never reads:
// documentation, and headers, which only a compiler reads and a sandbox
// has none (nodejs ships 54 MB of them).
var leftOut = []string{
	"/usr/share/doc", "/usr/share/doc-base", "/usr/share/man", "/usr/share/info",
	"/usr/share/lintian", "/usr/include",
}

// isLeftOut reports whether name is in one of the trees of leftOut or of
// the recipe's own LeaveOut.
func isLeftOut(name string, more []string) bool {
	for _, p := range slices.Concat(leftOut, more) {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// fileEntry is one path of the packages layer.
type fileEntry struct {
	typ    byte
	mode   int64
	target string // symlinks
	src    string // regular files: where to read them on the host
	size   int64
	md5    string // regular files: what dpkg recorded; "" for HostFiles
	pkg    string // the owner, for error messages
}

// packageSet is everything a recipe takes from the host: its files by
// image path (relative, no leading slash) and the installed version of
// each package.
type packageSet struct {
	files    map[string]*fileEntry
	versions map[string]string
}

// collect finds every file of r's packages, as dpkg installed them, and
// checks the packages' versions. Nothing is read yet beyond metadata.
func (d Dpkg) collect(ctx context.Context, r *Recipe) (*packageSet, error) {
	db, err := d.readStatus()
	if err != nil {
		return nil, err
	}
	var missing []string
	set := &packageSet{files: map[string]*fileEntry{}, versions: map[string]string{}}
	var pkgs []*installed
	for _, want := range r.Packages {
		p, ok := db.pkgs[want.Name]
		if !ok {
			missing = append(missing, want.Name)
			continue
		}
		if !strings.HasPrefix(p.upstream(), want.Version) {
			return nil, fmt.Errorf("runtime %s needs %s %s*, this host has %s", r.Runtime, want.Name, want.Version, p.Version)
		}
		pkgs = append(pkgs, p)
		set.versions[p.Name] = p.Version
	}
	if len(missing) > 0 {
		return nil, missingPackages(r.Runtime, missing)
	}
	diversions, err := d.readDiversions()
	if err != nil {
		return nil, err
	}
	filter := d.readPathFilter()

	lists := make([][]string, len(pkgs))
	// Directories by dpkg's account: every parent of a listed path. On a
	// merged-/usr host /lib is a symlink to usr/lib, but packages ship
	// /lib/x86_64-linux-gnu/…, so in the image it must be a directory.
	parents := map[string]bool{}
	for i, p := range pkgs {
		if lists[i], err = d.readList(p); err != nil {
			return nil, err
		}
		for _, name := range lists[i] {
			for dir := path.Dir(name); dir != "/"; dir = path.Dir(dir) {
				parents[dir] = true
			}
		}
	}
	for i, p := range pkgs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sums, err := d.readMD5s(p)
		if err != nil {
			return nil, err
		}
		for _, name := range lists[i] {
			if isLeftOut(name, r.LeaveOut) {
				continue
			}
			rel := strings.TrimPrefix(name, "/")
			if _, ok := set.files[rel]; ok {
				continue // a directory several packages share
			}
			src := name
			if dv, ok := diversions[name]; ok && dv.By != p.Name {
				// Someone else owns name; this package's file is at To.
				src = dv.To
			}
			e, err := d.entry(p.Name, name, src, sums[name], parents[name], filter)
			if err != nil {
				return nil, err
			}
			if e != nil {
				set.files[rel] = e
			}
		}
	}
	for _, name := range r.HostFiles {
		host := filepath.Join(d.Root, name)
		fi, err := os.Lstat(host)
		if err != nil {
			return nil, fmt.Errorf("runtime %s: read %s: %w", r.Runtime, host, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("runtime %s: %s is not a regular file", r.Runtime, host)
		}
		set.files[strings.TrimPrefix(name, "/")] = &fileEntry{typ: tar.TypeReg, mode: 0o644, src: host, size: fi.Size()}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Links)) {
		set.files[strings.TrimPrefix(name, "/")] = &fileEntry{typ: tar.TypeSymlink, mode: 0o777, target: r.Links[name]}
	}
	// Parents that only left-out or host paths imply.
	for _, name := range slices.Collect(maps.Keys(set.files)) {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if _, ok := set.files[dir]; !ok {
				set.files[dir] = &fileEntry{typ: tar.TypeDir, mode: 0o755}
			}
		}
	}
	return set, nil
}

// entry describes the listed path name of package pkg, read from src on
// the host; nil when dpkg was configured not to install it.
func (d Dpkg) entry(pkg, name, src, sum string, isParent bool, filter pathFilter) (*fileEntry, error) {
	host := filepath.Join(d.Root, src)
	fi, err := os.Lstat(host)
	switch {
	case errors.Is(err, fs.ErrNotExist) && isParent:
		return &fileEntry{typ: tar.TypeDir, mode: 0o755}, nil
	case errors.Is(err, fs.ErrNotExist) && filter.excluded(name):
		return nil, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("file %s of package %s is missing on this host; reinstall it with: apt-get install --reinstall -y %s", host, pkg, pkg)
	case err != nil:
		return nil, fmt.Errorf("read %s of package %s: %w", host, pkg, err)
	}
	m := fi.Mode()
	switch {
	case m.IsDir() || (m&fs.ModeSymlink != 0 && isParent):
		mode := int64(0o755)
		if m.IsDir() {
			mode = int64(m.Perm())
			if m&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
		}
		return &fileEntry{typ: tar.TypeDir, mode: mode}, nil
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return nil, fmt.Errorf("read %s of package %s: %w", host, pkg, err)
		}
		return &fileEntry{typ: tar.TypeSymlink, mode: 0o777, target: target}, nil
	case m.IsRegular():
		if sum == "" {
			return nil, fmt.Errorf("file %s of package %s has no checksum in dpkg's database", host, pkg)
		}
		// Permission bits only: setuid and setgid are dropped, as a
		// function runs with no_new_privs and an image has no business
		// carrying them.
		return &fileEntry{typ: tar.TypeReg, mode: int64(m.Perm()), src: host, size: fi.Size(), md5: sum, pkg: pkg}, nil
	default:
		return nil, fmt.Errorf("file %s of package %s is a %s, not a file, directory or symlink", host, pkg, m.Type())
	}
}

// write adds every entry to tw in name order, with fixed ownership and
// timestamps, verifying each package file against dpkg's md5 as it goes.
func (set *packageSet) write(ctx context.Context, tw *tar.Writer) error {
	buf := make([]byte, 256<<10)
	for _, name := range slices.Sorted(maps.Keys(set.files)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := set.files[name]
		hdr := &tar.Header{Typeflag: e.typ, Name: name, Mode: e.mode, ModTime: epoch, Linkname: e.target}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		if e.typ == tar.TypeReg {
			if err := copyVerified(tw, e, buf); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyVerified(w io.Writer, e *fileEntry, buf []byte) error {
	f, err := os.Open(e.src)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.src, err)
	}
	defer f.Close()
	h := md5.New() //nolint:gosec // see the import
	n, err := io.CopyBuffer(io.MultiWriter(w, h), io.LimitReader(f, e.size+1), buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.src, err)
	}
	if n != e.size {
		return fmt.Errorf("read %s: size changed while reading", e.src)
	}
	if e.md5 != "" && hex.EncodeToString(h.Sum(nil)) != e.md5 {
		return fmt.Errorf("file %s of package %s does not match dpkg's md5sum (modified or corrupted since it was installed); reinstall it with: apt-get install --reinstall -y %s", e.src, e.pkg, e.pkg)
	}
	return nil
}
