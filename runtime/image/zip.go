package image

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	kflate "github.com/klauspost/compress/flate"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

const (
	maxZipNameBytes      = 4096
	maxZipComponentBytes = 255
	maxSymlinkHops       = 40

	// Zip "version made by" hosts whose external attributes carry a unix
	// mode in their high 16 bits.
	zipCreatorUnix  = 3
	zipCreatorMacOS = 19
)

// ZipStats describes what a zip unpacked to.
type ZipStats struct {
	// Files counts regular files and symlinks (not directories).
	Files int
	// UnzippedBytes is the number of bytes actually decompressed.
	UnzippedBytes int64
}

// ZipLayer validates a zip (Lambda's rules, strictly) and converts it into
// an uncompressed tar layer whose files live under prefix ("var/task" for
// function code, "opt" for Lambda layers). The tar is streamed to an
// unlinked scratch file in os.TempDir; use Store.ZipLayer to keep it on the
// store's file system instead.
//
// The result is deterministic: the same zip bytes always give the same layer
// digest (sorted entries, uid/gid 0, normalised modes, the zip's own mtimes,
// epoch for directories the zip does not list). Every problem with the zip
// is a *kumo.Error of kind kumo.ErrInvalidZipFile, except a zip over
// kumo.MaxZipBytes, which is kumo.ErrRequestTooLarge.
func ZipLayer(ctx context.Context, zipBytes []byte, prefix string) (v1.Layer, ZipStats, error) {
	return zipLayer(ctx, zipBytes, prefix, os.TempDir())
}

// ZipLayer is the package-level ZipLayer with its scratch file in the
// store's directory, which is where the bytes are about to be copied to.
func (s *Store) ZipLayer(ctx context.Context, zipBytes []byte, prefix string) (v1.Layer, ZipStats, error) {
	return zipLayer(ctx, zipBytes, prefix, s.tmpDir)
}

func invalidZip(format string, args ...any) error {
	return kumo.Errorf(kumo.ErrInvalidZipFile,
		"Could not unzip uploaded file. Please check your file, then try to upload again. %s", fmt.Sprintf(format, args...))
}

type entryKind int

const (
	kindDir entryKind = iota
	kindFile
	kindSymlink
)

// zipEntry is one validated entry, named relative to the zip's root.
type zipEntry struct {
	f      *zip.File
	name   string
	kind   entryKind
	mode   int64
	mtime  time.Time
	target string
}

func zipLayer(ctx context.Context, zipBytes []byte, prefix, scratchDir string) (v1.Layer, ZipStats, error) {
	prefix, err := cleanPrefix(prefix)
	if err != nil {
		return nil, ZipStats{}, err
	}
	if len(zipBytes) > kumo.MaxZipBytes {
		return nil, ZipStats{}, kumo.Errorf(kumo.ErrRequestTooLarge,
			"Zip file must be smaller than %d bytes, got %d bytes.", kumo.MaxZipBytes, len(zipBytes))
	}
	// archive/zip builds a File for every central directory record before
	// we can count them, and 50 MB of minimal records is a million of
	// them. Each record starts with this signature, so its count is a cheap
	// upper bound that stops that allocation up front.
	if n := bytes.Count(zipBytes, []byte("PK\x01\x02")); n > kumo.MaxZipEntries {
		return nil, ZipStats{}, invalidZip("The zip file has more than %d entries.", kumo.MaxZipEntries)
	}
	zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// ErrInsecurePath (GODEBUG=zipinsecurepath=0) is not final: the
		// names are checked below with Lambda's rules and messages.
		return nil, ZipStats{}, invalidZip("The file is not a valid zip archive: %v.", err)
	}
	// klauspost's inflater is about a third faster than the standard
	// library's, and inflating the code is most of CreateFunction's time.
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser { return kflate.NewReader(r) })
	if len(zr.File) > kumo.MaxZipEntries {
		return nil, ZipStats{}, invalidZip("The zip file has more than %d entries.", kumo.MaxZipEntries)
	}
	entries, err := readZipEntries(zr)
	if err != nil {
		return nil, ZipStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ZipStats{}, err
	}
	var stats ZipStats
	if err := readSymlinks(entries, &stats); err != nil {
		return nil, ZipStats{}, err
	}
	return writeZipTar(ctx, entries, prefix, scratchDir, stats)
}

func cleanPrefix(prefix string) (string, error) {
	p := path.Clean(prefix)
	if prefix == "" || p == "." || !fs.ValidPath(p) {
		return "", fmt.Errorf("zip layer prefix %q: must be a relative path inside the image", prefix)
	}
	return p, nil
}

// readZipEntries validates every name and mode, and the tree they form,
// before a single byte is decompressed.
func readZipEntries(zr *zip.Reader) ([]*zipEntry, error) {
	entries := make([]*zipEntry, 0, len(zr.File))
	byName := make(map[string]*zipEntry, len(zr.File))
	var declared uint64
	for _, f := range zr.File {
		e, err := checkZipFile(f)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		if _, dup := byName[e.name]; dup {
			return nil, invalidZip("The zip file contains %q more than once.", e.name)
		}
		byName[e.name] = e
		entries = append(entries, e)
		if e.kind != kindDir {
			// The sizes are checked against what actually comes out while
			// copying; this only turns an honest oversized zip away early.
			declared += f.UncompressedSize64
			if declared > kumo.MaxUnzippedBytes {
				return nil, tooLarge()
			}
		}
	}
	// A file used as a directory, or a path through a symlink (which would
	// make extraction follow the link), is rejected.
	for _, e := range entries {
		for dir := path.Dir(e.name); dir != "."; dir = path.Dir(dir) {
			p, ok := byName[dir]
			if !ok {
				continue
			}
			switch p.kind {
			case kindFile:
				return nil, invalidZip("The zip file entry %q is inside %q, which is a file.", e.name, dir)
			case kindSymlink:
				return nil, invalidZip("The zip file entry %q is inside %q, which is a symlink.", e.name, dir)
			}
		}
	}
	return entries, nil
}

func tooLarge() error {
	return invalidZip("Unzipped size must be smaller than %d bytes.", kumo.MaxUnzippedBytes)
}

// checkZipFile validates one entry; it returns nil, nil for the root
// directory ("./"), which carries nothing.
func checkZipFile(f *zip.File) (*zipEntry, error) {
	raw := f.Name
	switch {
	case raw == "":
		return nil, invalidZip("The zip file contains an entry with an empty name.")
	case len(raw) > maxZipNameBytes:
		return nil, invalidZip("The zip file contains an entry whose name is longer than %d bytes.", maxZipNameBytes)
	case strings.ContainsRune(raw, 0):
		return nil, invalidZip("The zip file entry %q contains a NUL character.", raw)
	case strings.Contains(raw, `\`):
		return nil, invalidZip("The zip file entry %q contains a backslash.", raw)
	case strings.HasPrefix(raw, "/"):
		return nil, invalidZip("The zip file entry %q is an absolute path.", raw)
	}
	for _, c := range strings.Split(raw, "/") {
		if c == ".." {
			return nil, invalidZip("The zip file entry %q points outside the archive.", raw)
		}
		if len(c) > maxZipComponentBytes {
			return nil, invalidZip("The zip file entry %q has a path component longer than %d bytes.", raw, maxZipComponentBytes)
		}
	}
	if f.Flags&0x1 != 0 {
		return nil, invalidZip("The zip file entry %q is encrypted.", raw)
	}
	name := path.Clean(raw)
	if name == "." {
		return nil, nil
	}
	e := &zipEntry{f: f, name: name, mtime: f.Modified}
	creator := f.CreatorVersion >> 8
	unixMode := (creator == zipCreatorUnix || creator == zipCreatorMacOS) && f.ExternalAttrs>>16 != 0
	m := f.Mode()
	switch {
	case strings.HasSuffix(raw, "/") || m.IsDir():
		e.kind, e.mode = kindDir, 0o755
	case unixMode && m.Type() == fs.ModeSymlink:
		e.kind, e.mode = kindSymlink, 0o777
	case unixMode && m.Type() != 0:
		return nil, invalidZip("The zip file entry %q is not a regular file, directory or symlink.", raw)
	default:
		e.kind, e.mode = kindFile, 0o644
		// Zips made on Windows (or by libraries that skip unix modes) carry
		// no exec bits; Lambda still has to be able to run bootstrap.
		if unixMode && m.Perm()&0o111 != 0 || !unixMode && path.Base(name) == "bootstrap" {
			e.mode = 0o755
		}
	}
	return e, nil
}

// readSymlinks reads every link's target and rejects targets that are
// absolute or resolve (through the other links in the zip) outside the
// tree. Links are kept as links; this only keeps a function's own tree
// self-contained.
func readSymlinks(entries []*zipEntry, stats *ZipStats) error {
	links := map[string]string{}
	for _, e := range entries {
		if e.kind != kindSymlink {
			continue
		}
		rc, err := e.f.Open()
		if err != nil {
			return invalidZip("The zip file entry %q cannot be read: %v.", e.name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxZipNameBytes+1))
		rc.Close()
		if err != nil {
			return invalidZip("The zip file entry %q cannot be read: %v.", e.name, err)
		}
		stats.UnzippedBytes += int64(len(b))
		target := string(b)
		switch {
		case len(b) > maxZipNameBytes:
			return invalidZip("The symlink %q has a target longer than %d bytes.", e.name, maxZipNameBytes)
		case target == "" || strings.ContainsRune(target, 0):
			return invalidZip("The symlink %q has an invalid target.", e.name)
		case strings.HasPrefix(target, "/"):
			return invalidZip("The symlink %q points to the absolute path %q.", e.name, target)
		}
		e.target = target
		links[e.name] = target
	}
	for _, e := range entries {
		if e.kind == kindSymlink && !linkStaysInside(links, e.name) {
			return invalidZip("The symlink %q points outside the archive (%q).", e.name, e.target)
		}
	}
	return nil
}

// linkStaysInside resolves link the way the kernel would inside the tree,
// following the zip's other links, and reports whether it never climbs
// above the root. A purely lexical check is not enough: with "s -> ." the
// target "s/.." is lexically "." but really the parent of the tree.
func linkStaysInside(links map[string]string, link string) bool {
	hops := 0
	var walk func(cur []string, target string) ([]string, bool)
	walk = func(cur []string, target string) ([]string, bool) {
		for _, c := range strings.Split(target, "/") {
			switch c {
			case "", ".":
				continue
			case "..":
				if len(cur) == 0 {
					return nil, false
				}
				cur = cur[:len(cur)-1]
				continue
			}
			cur = append(cur, c)
			t, ok := links[strings.Join(cur, "/")]
			if !ok {
				continue
			}
			if hops++; hops > maxSymlinkHops || strings.HasPrefix(t, "/") {
				return nil, false
			}
			if cur, ok = walk(slices.Clone(cur[:len(cur)-1]), t); !ok {
				return nil, false
			}
		}
		return cur, true
	}
	var dir []string
	if d := path.Dir(link); d != "." {
		dir = strings.Split(d, "/")
	}
	_, ok := walk(dir, links[link])
	return ok
}

// zipSource remembers whether a copy failed on the zip side (a bad zip) or
// on the disk side (our problem).
type zipSource struct {
	r   io.Reader
	err error
}

func (z *zipSource) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		z.err = err
	}
	return n, err
}

// countingWriter sums what reaches the scratch file.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeZipTar(ctx context.Context, entries []*zipEntry, prefix, scratchDir string, stats ZipStats) (v1.Layer, ZipStats, error) {
	all := make(map[string]*zipEntry, len(entries)+8)
	for _, e := range entries {
		all[prefix+"/"+e.name] = e
	}
	// The prefix itself and any directory the zip implies but does not list.
	for _, e := range slices.Collect(maps.Values(all)) {
		for dir := path.Dir(prefix + "/" + e.name); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; !ok {
				all[dir] = &zipEntry{name: dir, kind: kindDir, mode: 0o755, mtime: epoch}
			}
		}
	}
	for dir := prefix; dir != "."; dir = path.Dir(dir) {
		if _, ok := all[dir]; !ok {
			all[dir] = &zipEntry{name: dir, kind: kindDir, mode: 0o755, mtime: epoch}
		}
	}
	names := slices.Sorted(maps.Keys(all))

	remaining := int64(kumo.MaxUnzippedBytes) - stats.UnzippedBytes
	l, err := writeTarLayer(ctx, scratchDir, "zip layer", func(tw *tar.Writer) error {
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := all[name]
			hdr := &tar.Header{
				Name:    name,
				Mode:    e.mode,
				ModTime: tarTime(e.mtime),
			}
			switch e.kind {
			case kindDir:
				hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
			case kindSymlink:
				hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.target
				stats.Files++
			case kindFile:
				hdr.Typeflag, hdr.Size = tar.TypeReg, int64(e.f.UncompressedSize64)
				stats.Files++
			}
			if hdr.Size > remaining {
				return tooLarge()
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("zip layer: write %s: %w", name, err)
			}
			if e.kind != kindFile {
				continue
			}
			n, err := copyZipFile(ctx, tw, e, remaining)
			remaining -= n
			stats.UnzippedBytes += n
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, ZipStats{}, err
	}
	return l, stats, nil
}

// copyZipFile copies one entry into the tar, never letting more than
// remaining+1 bytes through whatever the headers claim. archive/zip already
// refuses to return more than the declared size and checks the CRC at EOF;
// the limit here holds even if that ever changes.
func copyZipFile(ctx context.Context, tw *tar.Writer, e *zipEntry, remaining int64) (int64, error) {
	rc, err := e.f.Open()
	if err != nil {
		return 0, invalidZip("The zip file entry %q cannot be read: %v.", e.name, err)
	}
	defer rc.Close()
	src := &zipSource{r: rc}
	n, err := io.Copy(tw, io.LimitReader(ctxReader{ctx, src}, remaining+1))
	switch {
	case ctx.Err() != nil:
		return n, ctx.Err()
	case src.err != nil:
		return n, invalidZip("The zip file entry %q is corrupted: %v.", e.name, src.err)
	case n > remaining:
		return n, tooLarge()
	case errors.Is(err, tar.ErrWriteTooLong):
		return n, invalidZip("The zip file entry %q is larger than its header says.", e.name)
	case err != nil:
		return n, fmt.Errorf("zip layer: write %s: %w", e.name, err)
	case uint64(n) != e.f.UncompressedSize64:
		return n, invalidZip("The zip file entry %q is shorter than its header says.", e.name)
	}
	return n, nil
}

// tarTime keeps the zip's mtime (Python compares source mtimes with the
// ones recorded in __pycache__, so rewriting them would force recompiles in
// a read-only /var/task) at whole seconds, clamped to what ustar encodes.
func tarTime(t time.Time) time.Time {
	if t.IsZero() || t.Before(epoch) {
		return epoch
	}
	if max := time.Unix(1<<33-1, 0); t.After(max) {
		return max.UTC()
	}
	return t.Truncate(time.Second).UTC()
}
