package node

import (
	"context"
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// process is what a sandbox of one function runs: argv, working directory
// and the image's own environment (under the function's and Lambda's).
type process struct {
	args     []string
	cwd      string
	imageEnv map[string]string
	handler  string
}

// imageConfig returns the config of a stored image, read once per image.
func (n *Node) imageConfig(ctx context.Context, digest string) (v1.Config, error) {
	n.mu.Lock()
	cfg, ok := n.configs[digest]
	n.mu.Unlock()
	if ok {
		return cfg, nil
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return v1.Config{}, fmt.Errorf("parse image digest %q: %w", digest, err)
	}
	img, err := n.images.Image(ctx, h)
	if err != nil {
		return v1.Config{}, fmt.Errorf("read image %s: %w", digest, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Config{}, fmt.Errorf("read config of image %s: %w", digest, err)
	}
	n.mu.Lock()
	n.configs[digest] = cf.Config
	n.mu.Unlock()
	return cf.Config, nil
}

// processFor works out how fn starts, the way Lambda does: the image's
// ENTRYPOINT and CMD (each replaced by ImageConfig when set) run as they
// are; an image with neither is a custom runtime and runs the first
// bootstrap found. The handler of an image function is its command's last
// word, as in AWS's runtime interface emulator: AWS's base images hand it
// to their runtime client as CMD ["app.handler"], others as
// CMD ["-m", "awslambdaric", "app.handler"].
func (n *Node) processFor(ctx context.Context, fn *kumo.Function, rootfs string) (process, error) {
	cfg, err := n.imageConfig(ctx, fn.ImageDigest)
	if err != nil {
		return process{}, err
	}
	entry, cmd, cwd := cfg.Entrypoint, cfg.Cmd, cfg.WorkingDir
	if ic := fn.ImageConfig; ic != nil {
		if len(ic.EntryPoint) > 0 {
			entry = ic.EntryPoint
		}
		if len(ic.Command) > 0 {
			cmd = ic.Command
		}
		if ic.WorkingDirectory != "" {
			cwd = ic.WorkingDirectory
		}
	}
	if cwd == "" || !path.IsAbs(cwd) {
		cwd = "/var/task"
	}
	if fn.PackageType == kumo.PackageImage {
		if err := checkWorkingDir(rootfs, cwd); err != nil {
			return process{}, err
		}
	}
	p := process{cwd: cwd, imageEnv: map[string]string{}, handler: fn.Handler}
	for _, kv := range cfg.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			p.imageEnv[k] = v
		}
	}
	if fn.PackageType == kumo.PackageImage && len(cmd) > 0 {
		p.handler = cmd[len(cmd)-1]
	}
	switch {
	case len(entry) > 0:
		p.args = append(append([]string(nil), entry...), cmd...)
	case fn.PackageType == kumo.PackageImage && len(cmd) > 0:
		p.args = append([]string(nil), cmd...)
	default:
		boot, err := findBootstrap(rootfs)
		if err != nil {
			return process{}, err
		}
		p.args = []string{boot}
	}
	if fn.PackageType == kumo.PackageImage {
		if err := checkEntrypoint(rootfs, p.args[0]); err != nil {
			return process{}, err
		}
	}
	return p, nil
}
