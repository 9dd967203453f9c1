package control

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Container-image functions (PackageType Image): the image an ImageUri
// names is pulled, copied into the host's image store unchanged and pinned
// by its manifest digest, as Lambda pins ResolvedImageUri.

// DefaultMaxImageBytes is Lambda's limit on a container image: 10 GB,
// uncompressed, layers included.
const DefaultMaxImageBytes int64 = 10 << 30

// ImageSource fetches the image a reference names from its registry; an
// index resolves to the host's platform (image.Remote).
type ImageSource interface {
	Image(ctx context.Context, ref name.Reference) (v1.Image, error)
}

// LocalImages finds images pushed to this host's own registry in the image
// store, without a round trip through HTTP (image.Store).
type LocalImages interface {
	ResolveImage(ctx context.Context, repo, reference string) (v1.Image, error)
}

// Mirror copies every function image the host writes to an external
// registry (`--registry`), tagged with the version it belongs to
// (image.Mirror).
type Mirror interface {
	Push(ctx context.Context, function, tag string, digest v1.Hash) error
}

// WithImageSource sets where ImageUri images are pulled from. Without one,
// PackageType Image is refused.
func WithImageSource(src ImageSource) Option { return func(s *Service) { s.imageSource = src } }

// WithLocalImages makes ImageUris whose registry isLocal reports as this
// host's own resolve from local instead of over the network.
func WithLocalImages(isLocal func(registry string) bool, local LocalImages) Option {
	return func(s *Service) { s.isLocalRegistry, s.localImages = isLocal, local }
}

// WithMaxImageBytes sets the largest container image accepted
// (DefaultMaxImageBytes unless set).
func WithMaxImageBytes(n int64) Option { return func(s *Service) { s.maxImageBytes = n } }

// WithMirror pushes every function image the service writes to m.
func WithMirror(m Mirror) Option { return func(s *Service) { s.mirror = m } }

// Lambda's messages for mixing up the two package types.
const (
	msgImageNoRuntime   = "Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image."
	msgImageNeedsURI    = "Please provide ImageUri when the intended function PackageType is Image."
	msgZipNoImageURI    = "Please don't provide ImageUri when the intended function PackageType is Zip."
	msgZipNoImageConfig = "Please don't provide ImageConfig when the intended function PackageType is Zip."
	msgUpdateImageURI   = "Please provide ImageUri when updating a function with packageType Image."
	msgUpdateZipURI     = "Please don't provide ImageUri when updating a function with packageType Zip."
)

// Limits of ImageConfig from Lambda's model.
const (
	maxImageConfigItems = 1500
	maxWorkingDirLength = 1000
	maxImageURILength   = 2048
)

// latestTag tags $LATEST's image in the --registry mirror; published
// versions are tagged with their number.
const latestTag = "latest"

// validateImageConfig checks an ImageConfig and returns it normalised: nil
// when it sets nothing.
func validateImageConfig(ic *kumo.ImageConfig) (*kumo.ImageConfig, error) {
	if ic == nil {
		return nil, nil
	}
	for _, l := range []struct {
		field string
		items []string
	}{{"imageConfig.entryPoint", ic.EntryPoint}, {"imageConfig.command", ic.Command}} {
		if len(l.items) > maxImageConfigItems {
			return nil, validationError("...", l.field, fmt.Sprintf("Member must have length less than or equal to %d", maxImageConfigItems))
		}
		for _, a := range l.items {
			if strings.ContainsRune(a, 0) {
				return nil, kumo.InvalidParameter("%s contains a NUL character", l.field)
			}
		}
	}
	wd := ic.WorkingDirectory
	switch {
	case len(wd) > maxWorkingDirLength:
		return nil, validationError("...", "imageConfig.workingDirectory", fmt.Sprintf("Member must have length less than or equal to %d", maxWorkingDirLength))
	case strings.ContainsRune(wd, 0):
		return nil, kumo.InvalidParameter("imageConfig.workingDirectory contains a NUL character")
	case wd != "" && !path.IsAbs(wd):
		return nil, kumo.InvalidParameter("ImageConfig.WorkingDirectory must be an absolute path, got %q", wd)
	case wd != "" && kernelPath(path.Clean(wd)):
		return nil, kumo.InvalidParameter("ImageConfig.WorkingDirectory must not be inside /proc, /dev or /sys, got %q", wd)
	}
	c := ic.Clone()
	if c.EntryPoint == nil && c.Command == nil && c.WorkingDirectory == "" {
		return nil, nil
	}
	return &c, nil
}

// kernelPath reports whether p is where the sandbox mounts kernel file
// systems; the sandbox refuses a working directory there.
func kernelPath(p string) bool {
	for _, d := range []string{"/proc", "/dev", "/sys"} {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// parseImageURI parses an ImageUri. Registry and tag (or digest) must be
// explicit: there is no default registry a kumo host could mean.
func parseImageURI(uri string) (name.Reference, error) {
	if len(uri) > maxImageURILength {
		return nil, kumo.InvalidParameter("Source image %.64s... is not valid. Provide a valid source image.", uri)
	}
	ref, err := name.ParseReference(uri, name.StrictValidation)
	if err != nil {
		return nil, kumo.InvalidParameter("Source image %s is not valid. Provide a valid source image. (%v)", uri, err)
	}
	return ref, nil
}

// packageImage pulls the image uri names into the image store and pins f
// to it.
func (s *Service) packageImage(ctx context.Context, f *kumo.Function, uri string) error {
	ref, err := parseImageURI(uri)
	if err != nil {
		return err
	}
	if s.imageSource == nil && !s.isLocal(ref) {
		return kumo.Errorf(kumo.ErrUnsupported, "This kumo host is not set up to pull container images")
	}
	img, err := s.sourceImage(ctx, ref)
	if err != nil {
		return imageError(uri, err)
	}
	limit := s.maxImageBytes
	if limit == 0 {
		limit = DefaultMaxImageBytes
	}
	digest, err := s.images.Write(ctx, img, image.WithMaxBytes(limit))
	if err != nil {
		return imageError(uri, err)
	}
	f.ImageURI = uri
	f.ResolvedImageURI = ref.Context().Name() + "@" + digest.String()
	f.ImageDigest = digest.String()
	// Lambda reports an image function's manifest digest as its CodeSha256
	// and no code size.
	f.CodeSha256 = digest.Hex
	f.CodeSize = 0
	f.UnzippedSize = 0
	s.log.InfoContext(ctx, "image pulled", "function", f.Name, "image_uri", uri, "image", f.ImageDigest)
	return nil
}

// sourceImage finds the image ref names: in this host's own registry
// without HTTP, or through the image source.
func (s *Service) sourceImage(ctx context.Context, ref name.Reference) (v1.Image, error) {
	if s.isLocal(ref) {
		return s.localImages.ResolveImage(ctx, ref.Context().RepositoryStr(), ref.Identifier())
	}
	return s.imageSource.Image(ctx, ref)
}

// isLocal reports whether ref names this host's own registry.
func (s *Service) isLocal(ref name.Reference) bool {
	return s.localImages != nil && s.isLocalRegistry != nil && s.isLocalRegistry(ref.Context().RegistryStr())
}

// imageError says what went wrong with a source image in Lambda's words
// where Lambda has them, keeping kumo's detail after them.
func imageError(uri string, err error) error {
	var tooLarge *image.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		what := "compressed layers as its manifest declares them"
		if tooLarge.Uncompressed {
			what = "uncompressed layers"
		}
		return kumo.InvalidParameter("Source image %s is too large: its %s exceed the maximum image size of %d bytes (counted at least %d bytes). Provide a smaller source image.", uri, what, tooLarge.Limit, tooLarge.Size)
	case errors.Is(err, kumo.ErrNotFound):
		return kumo.InvalidParameter("Source image %s does not exist. Provide a valid source image.", uri)
	case errors.Is(err, kumo.ErrAccessDenied):
		return kumo.InvalidParameter("kumo does not have permission to access the source image %s: the registry refused the credentials (put them in the kumo server's Docker config file, $DOCKER_CONFIG/config.json or ~/.docker/config.json). (%v)", uri, err)
	case errors.Is(err, kumo.ErrUnsupported), errors.Is(err, kumo.ErrInvalidParameter):
		return kumo.InvalidParameter("The image manifest, config or layer media type for the source image %s is not supported. (%s)", uri, kumoMessage(err))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return kumo.InvalidParameter("Source image %s could not be pulled: %v. Provide a valid source image.", uri, err)
}

// kumoMessage is a *kumo.Error's message, or err's text.
func kumoMessage(err error) string {
	var ke *kumo.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return err.Error()
}

// mirrorImage pushes f's image to the --registry mirror, tagged tag.
func (s *Service) mirrorImage(ctx context.Context, function, tag, digest string) error {
	if s.mirror == nil || digest == "" {
		return nil
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return fmt.Errorf("mirror image of function %s: %w", function, err)
	}
	if err := s.mirror.Push(ctx, function, tag, h); err != nil {
		return kumo.Errorf(kumo.ErrServiceUnavailable, "could not push the image of function %s to the registry: %v", function, err)
	}
	return nil
}

// checkImageFunction applies Lambda's rules for what an Image function
// must and must not be created with.
func checkImageFunction(in CreateInput) error {
	if in.Runtime != "" || in.Handler != "" || len(in.Layers) > 0 {
		return kumo.InvalidParameter(msgImageNoRuntime)
	}
	if in.HasS3Code {
		return kumo.Errorf(kumo.ErrUnsupported, "Code from S3 (S3Bucket/S3Key) is not supported by kumo")
	}
	if in.ImageURI == "" || len(in.ZipFile) > 0 {
		return kumo.InvalidParameter(msgImageNeedsURI)
	}
	return nil
}
