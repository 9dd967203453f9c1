package image

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// markOpaque sets overlayfs's opaque attribute on dir (a verified real
// directory), hiding what lower layers have under it.
func (x *extractor) markOpaque(dir string) error {
	d, err := x.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Fsetxattr(int(d.Fd()), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		return fmt.Errorf("mark %q opaque: %w", dir, err)
	}
	return nil
}

// markDeleted creates overlayfs's whiteout (a 0:0 character device) for
// name in dir, hiding the lower layers' name. The device is made relative to
// the directory's descriptor, so no path is resolved on the host.
func (x *extractor) markDeleted(dir, name string) error {
	d, err := x.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Mknodat(int(d.Fd()), name, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("whiteout %q: %w", name, err)
	}
	return nil
}

// syncFS flushes the file system holding dir, so a layer renamed into the
// cache after a crash is never a tree of empty files.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}
