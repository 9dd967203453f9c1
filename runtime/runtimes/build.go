package runtimes

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kumo-dev/kumo/runtime/image"
)

// Image config labels of a runtime base image, next to image.LabelRuntime.
const (
	// LabelPackages lists the Debian packages in the image as
	// "name=version name=version …", sorted by name.
	LabelPackages = "dev.kumo.packages"
	// LabelRecipe is a hash of the recipe and the embedded client files;
	// a stored image whose label differs was built by another kumo and is
	// rebuilt.
	LabelRecipe = "dev.kumo.recipe"
)

// Tag is the tag of every runtime image in the host's store.
const Tag = "latest"

// recipeFormat is part of every recipe hash; change it when the builder
// lays images out differently, so that hosts rebuild.
const recipeFormat = "kumo-runtime-image-1"

// epoch is the timestamp of everything in a runtime image.
var epoch = time.Unix(0, 0).UTC()

// Repository is the repository runtime's image is tagged in, in the host's
// image store and so in its registry under /v2/.
func Repository(runtime string) string { return "kumo/runtimes/" + runtime }

// Info describes one runtime on a host.
type Info struct {
	Name string `json:"name"`
	// Digest is the manifest digest of the built image; "" until built.
	Digest string `json:"digest,omitempty"`
	// Built says whether the image is stored and matches this kumo's
	// recipe; if not, first use builds it.
	Built bool `json:"built"`
	// Packages are "name=version" once built, the recipe's package names
	// before.
	Packages   []string `json:"packages"`
	Entrypoint []string `json:"entrypoint,omitempty"`
}

// Builder builds runtime base images into a host's image store and finds
// them there.
type Builder struct {
	store   *image.Store
	dpkg    Dpkg
	log     *slog.Logger
	locks   map[string]chan struct{}
	clients map[string][]clientEntry
	hashes  map[string]string
}

// Option configures a Builder.
type Option func(*Builder) error

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(b *Builder) error {
		if l == nil {
			return errors.New("WithLogger: nil logger")
		}
		b.log = l
		return nil
	}
}

// WithDpkg builds from another dpkg database and root than the host's,
// such as a copy in a test.
func WithDpkg(d Dpkg) Option {
	return func(b *Builder) error {
		if d.AdminDir == "" || d.Root == "" {
			return errors.New("WithDpkg: admin dir and root are required")
		}
		b.dpkg = d
		return nil
	}
}

// New returns a Builder storing images in store.
func New(store *image.Store, opts ...Option) (*Builder, error) {
	if store == nil {
		return nil, errors.New("new runtime builder: nil image store")
	}
	b := &Builder{
		store:   store,
		dpkg:    HostDpkg,
		log:     slog.New(slog.DiscardHandler),
		locks:   map[string]chan struct{}{},
		clients: map[string][]clientEntry{},
		hashes:  map[string]string{},
	}
	for _, o := range opts {
		if err := o(b); err != nil {
			return nil, fmt.Errorf("new runtime builder: %w", err)
		}
	}
	for name, r := range recipes {
		files, err := clientTree(r.Client)
		if err != nil {
			return nil, fmt.Errorf("new runtime builder: %w", err)
		}
		b.clients[name] = files
		b.hashes[name] = recipeHash(r, files)
		b.locks[name] = make(chan struct{}, 1)
	}
	return b, nil
}

// recipeHash identifies what an image of r is built from, apart from the
// host's packages themselves: the recipe and the client files.
func recipeHash(r *Recipe, files []clientEntry) string {
	h := sha256.New()
	rb, _ := json.Marshal(r) // plain data; cannot fail
	fmt.Fprintf(h, "%s\n%s\n", recipeFormat, rb)
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(h, "%s %t %o %x\n", f.name, f.dir, f.mode, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BaseImage returns runtime's base image: the stored one if its recipe
// label matches, otherwise a new build, stored and tagged. Only one build
// per runtime runs at a time; concurrent callers wait for it and use its
// result.
func (b *Builder) BaseImage(ctx context.Context, runtime string) (v1.Image, error) {
	r, err := lookup(runtime)
	if err != nil {
		return nil, err
	}
	if img, ok := b.current(ctx, r); ok {
		return img, nil
	}
	if err := b.lock(ctx, runtime); err != nil {
		return nil, err
	}
	defer b.unlock(runtime)
	if img, ok := b.current(ctx, r); ok {
		return img, nil // built while we waited
	}
	return b.build(ctx, r)
}

// Build builds runtime's image unless a current one is stored; force
// rebuilds it anyway (the digest changes only if the host's packages did).
func (b *Builder) Build(ctx context.Context, runtime string, force bool) (Info, error) {
	r, err := lookup(runtime)
	if err != nil {
		return Info{}, err
	}
	if err := b.lock(ctx, runtime); err != nil {
		return Info{}, err
	}
	defer b.unlock(runtime)
	img, ok := b.current(ctx, r)
	if force || !ok {
		if img, err = b.build(ctx, r); err != nil {
			return Info{}, err
		}
	}
	return b.info(r, img)
}

// List describes every supported runtime, built or not.
func (b *Builder) List(ctx context.Context) ([]Info, error) {
	var out []Info
	for _, name := range Supported() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		r := recipes[name]
		if img, ok := b.current(ctx, r); ok {
			info, err := b.info(r, img)
			if err != nil {
				return nil, err
			}
			out = append(out, info)
			continue
		}
		names := make([]string, len(r.Packages))
		for i, p := range r.Packages {
			names[i] = p.Name
		}
		out = append(out, Info{Name: name, Packages: names, Entrypoint: r.Entrypoint})
	}
	return out, nil
}

func (b *Builder) info(r *Recipe, img v1.Image) (Info, error) {
	d, err := img.Digest()
	if err != nil {
		return Info{}, fmt.Errorf("runtime %s: %w", r.Runtime, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return Info{}, fmt.Errorf("runtime %s: %w", r.Runtime, err)
	}
	return Info{
		Name:       r.Runtime,
		Digest:     d.String(),
		Built:      true,
		Packages:   strings.Fields(cfg.Config.Labels[LabelPackages]),
		Entrypoint: cfg.Config.Entrypoint,
	}, nil
}

func (b *Builder) lock(ctx context.Context, runtime string) error {
	select {
	case b.locks[runtime] <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Builder) unlock(runtime string) { <-b.locks[runtime] }

// current returns the stored image of r if it is tagged, built from this
// recipe, and has all its blobs.
func (b *Builder) current(ctx context.Context, r *Recipe) (v1.Image, bool) {
	desc, err := b.store.Lookup(ctx, Repository(r.Runtime), Tag)
	if err != nil {
		return nil, false
	}
	img, err := b.store.Image(ctx, desc.Digest)
	if err != nil {
		b.log.Warn("stored runtime image is unreadable; rebuilding", "runtime", r.Runtime, "digest", desc.Digest.String(), "error", err)
		return nil, false
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.Config.Labels[LabelRecipe] != b.hashes[r.Runtime] {
		return nil, false
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, false
	}
	for _, l := range layers {
		// Opening checks that the blob is there with its size; its bytes
		// are verified whenever they are read.
		rc, err := l.Compressed()
		if err != nil {
			b.log.Warn("stored runtime image lost a layer; rebuilding", "runtime", r.Runtime, "error", err)
			return nil, false
		}
		_ = rc.Close()
	}
	return img, true
}

// build makes r's image from the host's packages, stores it and tags it.
func (b *Builder) build(ctx context.Context, r *Recipe) (v1.Image, error) {
	began := time.Now()
	set, err := b.dpkg.collect(ctx, r)
	if err != nil {
		return nil, err
	}
	if r.Bytecode != "" {
		scratch, err := os.MkdirTemp("", "kumo-bytecode-")
		if err != nil {
			return nil, fmt.Errorf("build runtime %s: %w", r.Runtime, err)
		}
		defer os.RemoveAll(scratch)
		if err := b.dpkg.compileBytecode(ctx, r, set, scratch); err != nil {
			return nil, err
		}
	}
	skeleton, err := b.store.SkeletonLayer(ctx)
	if err != nil {
		return nil, fmt.Errorf("build runtime %s: %w", r.Runtime, err)
	}
	pkgs, err := b.store.TarLayer(ctx, func(tw *tar.Writer) error { return set.write(ctx, tw) })
	if err != nil {
		return nil, fmt.Errorf("build runtime %s: %w", r.Runtime, err)
	}
	defer closeLayer(pkgs)
	versions := make([]string, 0, len(set.versions))
	for _, name := range slices.Sorted(maps.Keys(set.versions)) {
		versions = append(versions, name+"="+set.versions[name])
	}
	adds := []mutate.Addendum{
		{Layer: skeleton, History: history("kumo runtime skeleton")},
		{Layer: pkgs, History: history(fmt.Sprintf("kumo runtime %s: %d Debian packages", r.Runtime, len(versions)))},
	}
	if r.Client != "" {
		files := b.clients[r.Runtime]
		client, err := b.store.TarLayer(ctx, func(tw *tar.Writer) error { return writeClient(tw, files) })
		if err != nil {
			return nil, fmt.Errorf("build runtime %s: client layer: %w", r.Runtime, err)
		}
		defer closeLayer(client)
		adds = append(adds, mutate.Addendum{Layer: client, History: history(fmt.Sprintf("kumo runtime %s: %s runtime interface client in /var/runtime", r.Runtime, r.Client))})
	}
	cfg := &v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Env:        append(image.BaseEnv(), r.Env...),
			Entrypoint: r.Entrypoint,
			WorkingDir: "/var/task",
			Labels: map[string]string{
				image.LabelRuntime: r.Runtime,
				LabelPackages:      strings.Join(versions, " "),
				LabelRecipe:        b.hashes[r.Runtime],
			},
		},
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("build runtime %s: %w", r.Runtime, err)
	}
	img, err = mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("build runtime %s: %w", r.Runtime, err)
	}
	digest, err := b.store.PutImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("store runtime %s: %w", r.Runtime, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("store runtime %s: %w", r.Runtime, err)
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: digest}
	if err := b.store.Tag(ctx, Repository(r.Runtime), Tag, desc); err != nil {
		return nil, fmt.Errorf("tag runtime %s: %w", r.Runtime, err)
	}
	size, _ := pkgs.Size()
	b.log.Info("built runtime image", "runtime", r.Runtime, "digest", digest.String(),
		"packages", len(versions), "bytes", size, "duration", time.Since(began).Round(time.Millisecond))
	stored, err := b.store.Image(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("store runtime %s: %w", r.Runtime, err)
	}
	return stored, nil
}

func history(by string) v1.History { return v1.History{Created: v1.Time{Time: epoch}, CreatedBy: by} }

// closeLayer gives a scratch layer's space back once it is stored.
func closeLayer(l v1.Layer) {
	if c, ok := l.(io.Closer); ok {
		_ = c.Close()
	}
}
