package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// The sandbox user Lambda runs functions as.
const (
	SandboxUID  = 993
	SandboxGID  = 990
	SandboxUser = "sbx_user1051"
)

// LabelRuntime is the image config label naming the runtime a base image
// was built for.
const LabelRuntime = "dev.kumo.runtime"

// runtimes lists the runtimes with a base image, sorted.
var runtimes = []string{"provided.al2", "provided.al2023"}

// maxHostFileBytes bounds each host file copied into a base image; the
// largest tzdata file is a few kB and a CA bundle a few hundred.
const maxHostFileBytes = 8 << 20

// SupportedRuntimes returns the runtimes BaseImage accepts, sorted.
func SupportedRuntimes() []string { return slices.Clone(runtimes) }

// BaseImage returns the minimal base image for runtime: the skeleton layer
// alone, enough for static binaries. A host builds its managed runtimes,
// provided.* with glibc among them, with package runtime/runtimes instead,
// on top of the same SkeletonLayer; this one serves tests and tools that
// need a base without the host's packages.
//
// It builds the image on first use and stores it (again, if GC or
// corruption removed it) on every call. The build is reproducible: fixed timestamps and ownership, and
// the only inputs are the runtime name and the host's CA bundle and tzdata,
// so a host gets the same digest every time (and hosts with the same CA
// bundle and tzdata share it).
func (s *Store) BaseImage(ctx context.Context, runtime string) (v1.Image, error) {
	if !slices.Contains(runtimes, runtime) {
		return nil, kumo.InvalidParameter(
			"Value %s at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [%s]",
			runtime, strings.Join(runtimes, ", "))
	}
	s.baseMu.Lock()
	defer s.baseMu.Unlock()
	img, ok := s.bases[runtime]
	if !ok {
		var err error
		if img, err = s.buildBase(runtime); err != nil {
			return nil, fmt.Errorf("build base image %s: %w", runtime, err)
		}
		s.log.Debug("built base image", logKeyRuntime, runtime)
		s.bases[runtime] = img
	}
	s.gcMu.RLock()
	defer s.gcMu.RUnlock()
	// Storing again is cheap when the blobs are intact (a re-hash of a few
	// MB), and puts back whatever GC or a bad disk took away.
	h, err := s.put(ctx, img, map[string]string{"org.opencontainers.image.ref.name": runtime})
	if err != nil {
		return nil, fmt.Errorf("store base image %s: %w", runtime, err)
	}
	return s.openImage(ctx, h)
}

// BaseEnv is the environment every runtime base image sets: what Lambda's
// own base images set.
func BaseEnv() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
		"LANG=en_US.UTF-8",
		"TZ=:UTC",
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
	}
}

// SkeletonLayer returns the root layer every base image starts from: the
// directory tree and mount points a sandbox needs (/var/task, /var/runtime,
// /opt, /tmp, /proc, /dev, …), /etc/passwd and /etc/group with Lambda's
// sandbox user, /etc/hosts, and the host's CA bundle and tzdata. It is
// reproducible: the same host files always give the same digest.
func (s *Store) SkeletonLayer(ctx context.Context) (v1.Layer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := s.baseTar()
	if err != nil {
		return nil, fmt.Errorf("build skeleton layer: %w", err)
	}
	sum := sha256.Sum256(b)
	return &tarLayer{
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		size:   int64(len(b)),
		data:   bytes.NewReader(b),
	}, nil
}

func (s *Store) buildBase(runtime string) (v1.Image, error) {
	layer, err := s.SkeletonLayer(context.Background())
	if err != nil {
		return nil, err
	}
	cfg := &v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Env:        BaseEnv(),
			WorkingDir: "/var/task",
			Labels:     map[string]string{LabelRuntime: runtime},
		},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "kumo base " + runtime},
	})
}

// baseEntry is one file of the base layer.
type baseEntry struct {
	typ    byte
	mode   int64
	body   []byte
	target string
}

// baseTar builds the base layer: a minimal root that is enough for static
// binaries, with the mount points the sandbox needs.
func (s *Store) baseTar() ([]byte, error) {
	files := map[string]baseEntry{}
	dir := func(name string, mode int64) { files[name] = baseEntry{typ: tar.TypeDir, mode: mode} }
	file := func(name, body string) { files[name] = baseEntry{typ: tar.TypeReg, mode: 0o644, body: []byte(body)} }
	link := func(name, target string) { files[name] = baseEntry{typ: tar.TypeSymlink, mode: 0o777, target: target} }

	for _, d := range []string{
		"bin", "dev", "etc", "etc/pki", "etc/pki/tls", "etc/pki/tls/certs", "etc/ssl", "etc/ssl/certs",
		"home", "lib", "lib64", "opt", "proc", "run", "sbin", "sys",
		"usr", "usr/bin", "usr/lib", "usr/lib64", "usr/local", "usr/local/bin", "usr/sbin", "usr/share",
		"var", "var/runtime", "var/task",
	} {
		dir(d, 0o755)
	}
	dir("root", 0o700)
	dir("tmp", 0o1777)
	dir("var/tmp", 0o1777)

	file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"+
		fmt.Sprintf("%s:x:%d:%d::/home/%s:/sbin/nologin\n", SandboxUser, SandboxUID, SandboxGID, SandboxUser))
	file("etc/group", "root:x:0:\n"+fmt.Sprintf("%s:x:%d:\n", SandboxUser, SandboxGID))
	file("etc/hosts", "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost6 localhost6.localdomain6\n")
	file("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n")
	// Empty, so the sandbox has a file to bind its own resolv.conf onto.
	file("etc/resolv.conf", "")

	if ca, err := readHostFile(s.caBundle); err != nil {
		return nil, err
	} else if ca != nil {
		files["etc/ssl/certs/ca-certificates.crt"] = baseEntry{typ: tar.TypeReg, mode: 0o644, body: ca}
		// Where Amazon Linux keeps it, for runtimes that only look there.
		link("etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt")
	}
	if err := s.addZoneinfo(files); err != nil {
		return nil, err
	}
	if e, ok := files["usr/share/zoneinfo/UTC"]; ok && e.typ != tar.TypeDir {
		link("etc/localtime", "/usr/share/zoneinfo/UTC")
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		e := files[name]
		hdr := &tar.Header{Typeflag: e.typ, Name: name, Mode: e.mode, ModTime: epoch, Linkname: e.target, Size: int64(len(e.body))}
		if e.typ == tar.TypeDir {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readHostFile returns nil, nil when the file does not exist.
func readHostFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxHostFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > maxHostFileBytes {
		return nil, fmt.Errorf("read %s: larger than %d bytes", name, maxHostFileBytes)
	}
	return b, nil
}

// addZoneinfo copies the host's tzdata, keeping its symlinks as symlinks,
// with normalised modes. A host without tzdata gives a base without it.
func (s *Store) addZoneinfo(files map[string]baseEntry) error {
	root, err := filepath.EvalSymlinks(s.zoneinfoDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read tzdata: %w", err)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read tzdata: %w", err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := "usr/share/zoneinfo"
		if rel != "." {
			name += "/" + filepath.ToSlash(rel)
		}
		switch {
		case d.IsDir():
			files[name] = baseEntry{typ: tar.TypeDir, mode: 0o755}
		case d.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("read tzdata: %w", err)
			}
			files[name] = baseEntry{typ: tar.TypeSymlink, mode: 0o777, target: t}
		case d.Type().IsRegular():
			b, err := readHostFile(p)
			if err != nil {
				return fmt.Errorf("read tzdata: %w", err)
			}
			files[name] = baseEntry{typ: tar.TypeReg, mode: 0o644, body: b}
		}
		return nil
	})
}
