package runtimes

import (
	"archive/tar"
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// clientFiles are the runtime interface clients, copied into each image's
// /var/runtime. go:embed keeps no file modes, so clientTree derives them.
//
//go:embed all:python/var-runtime
//go:embed all:nodejs/var-runtime
//go:embed all:ruby/var-runtime
//go:embed all:java/var-runtime
var clientFiles embed.FS

// clientEntry is one file or directory of a client, named relative to
// /var/runtime.
type clientEntry struct {
	name string
	dir  bool
	mode int64
	data []byte
}

// clientTree returns the files of lang's client in name order.
// Executables are recognised by content, a "#!" line or an ELF header,
// because go:embed drops the mode bits: they become 0755, everything else
// 0644. Python bytecode caches that a test run left in the source tree
// are skipped; they vary from machine to machine and Python ignores them
// anyway (their source mtimes no longer match).
func clientTree(lang string) ([]clientEntry, error) {
	if lang == "" {
		return nil, nil
	}
	root := lang + "/var-runtime"
	var out []clientEntry
	err := fs.WalkDir(clientFiles, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if d.IsDir() && d.Name() == "__pycache__" {
			return fs.SkipDir
		}
		if strings.HasSuffix(p, ".pyc") {
			return nil
		}
		name := strings.TrimPrefix(p, root+"/")
		if d.IsDir() {
			out = append(out, clientEntry{name: name, dir: true, mode: 0o755})
			return nil
		}
		b, err := clientFiles.ReadFile(p)
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if bytes.HasPrefix(b, []byte("#!")) || bytes.HasPrefix(b, []byte("\x7fELF")) {
			mode = 0o755
		}
		out = append(out, clientEntry{name: name, mode: mode, data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s runtime interface client: %w", lang, err)
	}
	// Full-name order ("a.txt" before "a/b"), which WalkDir's
	// per-directory order is not; parents still precede their children.
	slices.SortFunc(out, func(a, b clientEntry) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// writeClient writes a client's files under var/runtime.
func writeClient(tw *tar.Writer, files []clientEntry) error {
	for _, d := range []string{"var/", "var/runtime/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: path.Join("var/runtime", f.name), Mode: f.mode, ModTime: epoch, Size: int64(len(f.data))}
		if f.dir {
			hdr.Typeflag, hdr.Name, hdr.Size = tar.TypeDir, hdr.Name+"/", 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("write %s: %w", hdr.Name, err)
		}
	}
	return nil
}
