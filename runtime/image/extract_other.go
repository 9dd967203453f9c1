//go:build !linux

package image

import (
	"errors"
	"fmt"
	"os"
)

// Whiteouts are overlayfs objects, and kumo sandboxes (and so unpacked
// layers) exist only on Linux; elsewhere the package builds for tooling.
var errWhiteoutUnsupported = errors.New("overlay whiteouts are only supported on Linux")

func (x *extractor) markOpaque(dir string) error {
	return fmt.Errorf("mark %q opaque: %w", dir, errWhiteoutUnsupported)
}

func (x *extractor) markDeleted(dir, name string) error {
	return fmt.Errorf("whiteout %q: %w", name, errWhiteoutUnsupported)
}

// syncFS flushes dir itself; without syncfs(2) that is the best on offer.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
