package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Store is the part of the state engine the control plane writes to.
type Store interface {
	VersionStore
	LayerStore
	GetFunction(ctx context.Context, name string) (*kumo.Function, uint64, error)
	CreateFunction(ctx context.Context, f *kumo.Function) (uint64, error)
	UpdateFunction(ctx context.Context, f *kumo.Function, rev uint64) (uint64, error)
	DeleteFunction(ctx context.Context, name string) error
	ListFunctions(ctx context.Context) ([]*kumo.Function, error)
	PurgeLogs(ctx context.Context, function string) error
}

// Images packages code.
type Images interface {
	ZipLayer(ctx context.Context, zipBytes []byte, prefix string) (v1.Layer, image.ZipStats, error)
	BaseImage(ctx context.Context, runtime string) (v1.Image, error)
	Put(ctx context.Context, base v1.Image, layers ...v1.Layer) (v1.Hash, error)
	Image(ctx context.Context, digest v1.Hash) (v1.Image, error)
	// Write copies an image in unchanged (images.go).
	Write(ctx context.Context, img v1.Image, opts ...image.WriteOption) (v1.Hash, error)
}

// Service implements the function control plane.
type Service struct {
	store     Store
	images    Images
	scope     kumo.Scope
	log       *slog.Logger
	now       func() time.Time
	onChange  func(string, *kumo.Function)
	onAlias   func(string, string, *kumo.Alias)
	onVersion func(string, string, *kumo.Function)
	limits    Limits
	// maxUnzipped overrides kumo.MaxUnzippedBytes (code + layers), for tests.
	maxUnzipped int64

	access accessIndex // URL configs and policies for the serving path (access.go)

	runtimes []string // managed runtimes offered (runtimes.go)

	// Container images (images.go).
	imageSource     ImageSource
	isLocalRegistry func(string) bool
	localImages     LocalImages
	maxImageBytes   int64
	mirror          Mirror
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithChangeHook is called after every successful write with the function's
// name and new desired state (nil after a delete). The invoke path uses it to
// see this host's own writes at once instead of waiting for the store's watch.
func WithChangeHook(fn func(name string, f *kumo.Function)) Option {
	return func(s *Service) { s.onChange = fn }
}

// New returns a Service.
func New(store Store, images Images, scope kumo.Scope, opts ...Option) *Service {
	s := &Service{store: store, images: images, scope: scope, log: slog.New(slog.DiscardHandler), now: time.Now, limits: Limits{ConcurrentExecutions: 1000, UnreservedMinimum: 100}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Scope returns the region and account the service answers for.
func (s *Service) Scope() kumo.Scope { return s.scope }

// CreateInput is CreateFunction's request, already decoded from the wire.
type CreateInput struct {
	FunctionName     string
	Runtime          string
	Role             string
	Handler          string
	Description      string
	Timeout          *int
	MemorySize       *int
	EphemeralStorage *int
	Environment      map[string]string
	Architectures    []string
	PackageType      string
	TracingMode      string
	Tags             map[string]string
	ZipFile          []byte
	HasS3Code        bool
	ImageURI         string
	ImageConfig      *kumo.ImageConfig
	Layers           []string
	VPC              bool
	Publish          bool
	KMSKeyArn        string
	DeadLetterTarget string // DeadLetterConfig.TargetArn
}

// CreateFunction validates the request, packages the code as an OCI image
// and stores the function. It returns the function in state Active: the
// image is complete before the call returns.
func (s *Service) CreateFunction(ctx context.Context, in CreateInput) (*kumo.Function, error) {
	ref, err := s.scope.ParseFunctionName(in.FunctionName)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, kumo.InvalidParameter("Function name %s must not include a qualifier when creating a function", in.FunctionName)
	}
	f := &kumo.Function{
		Name:             ref.Name,
		Runtime:          in.Runtime,
		Role:             in.Role,
		Handler:          in.Handler,
		Description:      in.Description,
		MemorySize:       deref(in.MemorySize, kumo.DefaultMemoryMB),
		Timeout:          deref(in.Timeout, kumo.DefaultTimeoutSeconds),
		EphemeralStorage: deref(in.EphemeralStorage, kumo.DefaultEphemeralMB),
		Environment:      in.Environment,
		Architectures:    in.Architectures,
		PackageType:      in.PackageType,
		TracingMode:      in.TracingMode,
		Tags:             in.Tags,
		KMSKeyArn:        in.KMSKeyArn,
		DeadLetterTarget: in.DeadLetterTarget,
	}
	if f.PackageType == "" {
		f.PackageType = kumo.PackageZip
	}
	if f.TracingMode == "" {
		f.TracingMode = "PassThrough"
	}
	if len(f.Architectures) == 0 {
		f.Architectures = []string{"x86_64"}
	}
	if in.Role == "" {
		return nil, kumo.InvalidParameter("1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null")
	}
	if err := s.validateConfig(f); err != nil {
		return nil, err
	}
	if err := validateArchitectures(in.Architectures); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	if err := unsupportedFeatures(in.VPC); err != nil {
		return nil, err
	}
	switch f.PackageType {
	case kumo.PackageZip:
		if in.ImageConfig != nil {
			return nil, kumo.InvalidParameter(msgZipNoImageConfig)
		}
	case kumo.PackageImage:
		return s.createImageFunction(ctx, f, in)
	default:
		return nil, validationError(f.PackageType, "packageType", "Member must satisfy enum value set: [Image, Zip]")
	}
	if f.Runtime == "" {
		return nil, kumo.InvalidParameter("Runtime is required for Zip package type")
	}
	if f.Handler == "" {
		return nil, kumo.InvalidParameter("Handler is required for Zip package type")
	}
	if err := s.checkCodeSource(in.ZipFile, in.HasS3Code, in.ImageURI); err != nil {
		return nil, err
	}
	if _, _, err := s.store.GetFunction(ctx, f.Name); err == nil {
		return nil, s.conflictExists(f.Name)
	} else if !errors.Is(err, kumo.ErrNotFound) {
		return nil, fmt.Errorf("look up function %s: %w", f.Name, err)
	}
	refs, layers, err := s.functionLayers(ctx, in.Layers)
	if err != nil {
		return nil, err
	}
	if len(refs) > 0 {
		f.Layers = refs
	}
	if err := s.packageZip(ctx, f, in.ZipFile, layers); err != nil {
		return nil, err
	}
	return s.storeNew(ctx, f, in.Publish)
}

// createImageFunction creates a PackageType Image function (images.go).
func (s *Service) createImageFunction(ctx context.Context, f *kumo.Function, in CreateInput) (*kumo.Function, error) {
	if err := checkImageFunction(in); err != nil {
		return nil, err
	}
	ic, err := validateImageConfig(in.ImageConfig)
	if err != nil {
		return nil, err
	}
	f.ImageConfig = ic
	if _, _, err := s.store.GetFunction(ctx, f.Name); err == nil {
		return nil, s.conflictExists(f.Name)
	} else if !errors.Is(err, kumo.ErrNotFound) {
		return nil, fmt.Errorf("look up function %s: %w", f.Name, err)
	}
	if err := s.packageImage(ctx, f, in.ImageURI); err != nil {
		return nil, err
	}
	return s.storeNew(ctx, f, in.Publish)
}

// storeNew records a new function whose image is complete.
func (s *Service) storeNew(ctx context.Context, f *kumo.Function, publish bool) (*kumo.Function, error) {
	if err := s.mirrorImage(ctx, f.Name, latestTag, f.ImageDigest); err != nil {
		return nil, err
	}
	s.stamp(f)
	if _, err := s.store.CreateFunction(ctx, f); err != nil {
		if errors.Is(err, kumo.ErrConflict) {
			return nil, s.conflictExists(f.Name)
		}
		return nil, fmt.Errorf("create function %s: %w", f.Name, err)
	}
	s.log.InfoContext(ctx, "function created", "function", f.Name, "image", f.ImageDigest)
	s.changed(f)
	if publish {
		return s.PublishVersion(ctx, f.Name, "", "", "")
	}
	return f.Clone(), nil
}

func (s *Service) conflictExists(name string) error {
	return kumo.Errorf(kumo.ErrConflict, "Function already exist: %s", name)
}

func unsupportedFeatures(vpc bool) error {
	if vpc {
		return kumo.Errorf(kumo.ErrUnsupported, "VpcConfig is not supported by this kumo host yet")
	}
	return nil
}

func (s *Service) checkCodeSource(zip []byte, hasS3 bool, imageURI string) error {
	switch {
	case hasS3:
		return kumo.Errorf(kumo.ErrUnsupported, "Code from S3 (S3Bucket/S3Key) is not supported by kumo; upload the zip with Code.ZipFile")
	case imageURI != "":
		return kumo.InvalidParameter(msgZipNoImageURI)
	case len(zip) == 0:
		return kumo.InvalidParameter("Please provide a source for function code.")
	case len(zip) > kumo.MaxZipBytes:
		return kumo.Errorf(kumo.ErrRequestTooLarge, "Zipped size must be smaller than %d bytes", kumo.MaxZipBytes)
	}
	return nil
}

// packageZip turns the zip into the function's OCI image, on top of the
// function's Lambda layers (f.Layers, whose OCI layers are layers), and
// records the code's identity on f.
func (s *Service) packageZip(ctx context.Context, f *kumo.Function, zip []byte, layers []v1.Layer) error {
	code, stats, err := s.images.ZipLayer(ctx, zip, "var/task")
	if err != nil {
		return err
	}
	f.UnzippedSize = stats.UnzippedBytes
	if err := s.compose(ctx, f, layers, code); err != nil {
		return err
	}
	sum := sha256.Sum256(zip)
	f.CodeSha256 = base64.StdEncoding.EncodeToString(sum[:])
	f.CodeSize = int64(len(zip))
	return nil
}

func (s *Service) validateConfig(f *kumo.Function) error {
	if err := validateRole(f.Role); err != nil {
		return err
	}
	if f.Runtime != "" {
		if err := validateRuntime(f.Runtime, s.supportedRuntimes()); err != nil {
			return err
		}
	}
	if f.Handler != "" {
		if err := validateHandler(f.Handler); err != nil {
			return err
		}
	}
	if err := validateDescription(f.Description); err != nil {
		return err
	}
	if err := validateRange("memorySize", f.MemorySize, kumo.MinMemoryMB, kumo.MaxMemoryMB); err != nil {
		return err
	}
	if err := validateRange("timeout", f.Timeout, kumo.MinTimeoutSeconds, kumo.MaxTimeoutSeconds); err != nil {
		return err
	}
	if err := validateRange("ephemeralStorage.size", f.EphemeralStorage, kumo.MinEphemeralMB, kumo.MaxEphemeralMB); err != nil {
		return err
	}
	if err := validateTracing(f.TracingMode); err != nil {
		return err
	}
	if err := validateKMSKeyArn(f.KMSKeyArn); err != nil {
		return err
	}
	if err := s.ValidateDeadLetterTarget(f.DeadLetterTarget); err != nil {
		return err
	}
	return validateEnvironment(f.Environment)
}

func (s *Service) stamp(f *kumo.Function) {
	f.RevisionID = uuid.NewString()
	f.LastModified = s.now().UTC()
	f.State = kumo.StateActive
	f.LastUpdateStatus = kumo.UpdateSuccess
}

func (s *Service) changed(f *kumo.Function) {
	if s.onChange != nil {
		s.onChange(f.Name, f.Clone())
	}
}

// resolve parses a FunctionName and an optional Qualifier parameter and
// returns the function version they name: $LATEST (with its store
// revision, for updates), a published version, or the version an alias
// points at (revision 0 for both).
func (s *Service) resolve(ctx context.Context, name, qualifier string) (*kumo.Function, uint64, error) {
	ref, err := s.ref(name, qualifier)
	if err != nil {
		return nil, 0, err
	}
	if ref.Qualifier != "" && ref.Qualifier != kumo.VersionLatest {
		f, err := s.qualified(ctx, ref)
		return f, 0, err
	}
	f, rev, err := s.store.GetFunction(ctx, ref.Name)
	if err != nil {
		if errors.Is(err, kumo.ErrNotFound) {
			return nil, 0, s.notFound(ref)
		}
		return nil, 0, fmt.Errorf("get function %s: %w", ref.Name, err)
	}
	return f, rev, nil
}

// Ref parses FunctionName plus ?Qualifier= into one reference. Until
// versions exist only $LATEST resolves; any other qualifier is not found.
func (s *Service) ref(name, qualifier string) (kumo.FunctionRef, error) {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return ref, err
	}
	if qualifier != "" {
		if !kumo.ValidQualifier(qualifier) {
			return ref, validationError(qualifier, "qualifier", `Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)`)
		}
		if ref.Qualifier != "" && ref.Qualifier != qualifier {
			return ref, kumo.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
		}
		ref.Qualifier = qualifier
	}
	return ref, nil
}

// Ref exposes qualifier resolution to the invoke path.
func (s *Service) Ref(name, qualifier string) (kumo.FunctionRef, error) {
	return s.ref(name, qualifier)
}

func (s *Service) notFound(ref kumo.FunctionRef) error {
	return kumo.NotFound("Function not found: %s", s.scope.QualifiedARN(ref.Name, ref.Qualifier))
}

// GetFunction returns a function's desired state.
func (s *Service) GetFunction(ctx context.Context, name, qualifier string) (*kumo.Function, error) {
	f, _, err := s.resolve(ctx, name, qualifier)
	return f, err
}

// ListFunctions pages through functions sorted by name. The marker is the
// name of the first function of the next page.
func (s *Service) ListFunctions(ctx context.Context, marker string, maxItems int) ([]*kumo.Function, string, error) {
	if maxItems == 0 {
		maxItems = kumo.DefaultListFunctionsMax
	}
	if maxItems < 1 || maxItems > kumo.MaxListItems {
		return nil, "", validationError(maxItems, "maxItems", "Member must have value between 1 and 10000")
	}
	all, err := s.store.ListFunctions(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("list functions: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	start := 0
	if marker != "" {
		if !kumo.ValidFunctionName(marker) {
			return nil, "", kumo.InvalidParameter("Invalid marker: %q", marker)
		}
		start = sort.Search(len(all), func(i int) bool { return all[i].Name >= marker })
	}
	end := min(start+maxItems, len(all))
	next := ""
	if end < len(all) {
		next = all[end].Name
	}
	return all[start:end], next, nil
}

// UpdateCodeInput is UpdateFunctionCode's request.
type UpdateCodeInput struct {
	ZipFile       []byte
	HasS3Code     bool
	ImageURI      string
	RevisionID    string
	Architectures []string
	DryRun        bool
	Publish       bool
}

// UpdateFunctionCode replaces the code of $LATEST: a new zip, or for a
// PackageType Image function the image an ImageUri names, pulled again (a
// tag may have moved).
func (s *Service) UpdateFunctionCode(ctx context.Context, name string, in UpdateCodeInput) (*kumo.Function, error) {
	if in.HasS3Code {
		if err := s.checkCodeSource(in.ZipFile, in.HasS3Code, ""); err != nil {
			return nil, err
		}
	}
	if err := validateArchitectures(in.Architectures); err != nil {
		return nil, err
	}
	f, err := s.update(ctx, name, in.RevisionID, in.DryRun, func(f *kumo.Function) error {
		if f.PackageType == kumo.PackageImage {
			if in.ImageURI == "" || len(in.ZipFile) > 0 {
				return kumo.InvalidParameter(msgUpdateImageURI)
			}
			return s.packageImage(ctx, f, in.ImageURI)
		}
		if in.ImageURI != "" {
			return kumo.InvalidParameter(msgUpdateZipURI)
		}
		if err := s.checkCodeSource(in.ZipFile, false, ""); err != nil {
			return err
		}
		layers, _, err := s.imageParts(ctx, f)
		if err != nil {
			return err
		}
		return s.packageZip(ctx, f, in.ZipFile, layers)
	})
	if err != nil || !in.Publish || in.DryRun {
		return f, err
	}
	return s.PublishVersion(ctx, f.Name, f.CodeSha256, "", "")
}

// ConfigInput is UpdateFunctionConfiguration's request; nil means unchanged.
type ConfigInput struct {
	Role             *string
	Handler          *string
	Description      *string
	Timeout          *int
	MemorySize       *int
	EphemeralStorage *int
	Environment      *map[string]string
	Runtime          *string
	TracingMode      *string
	KMSKeyArn        *string
	DeadLetterTarget *string // DeadLetterConfig.TargetArn; "" clears it
	RevisionID       string
	Layers           []string
	// ImageConfig replaces the whole ImageConfig of an Image function; an
	// empty one clears it.
	ImageConfig *kumo.ImageConfig
	VPC         bool
}

// UpdateFunctionConfiguration changes configuration fields of $LATEST.
func (s *Service) UpdateFunctionConfiguration(ctx context.Context, name string, in ConfigInput) (*kumo.Function, error) {
	if err := unsupportedFeatures(in.VPC); err != nil {
		return nil, err
	}
	// Layers replace the whole list; nil leaves them, [] clears them.
	var layerRefs []kumo.LayerRef
	var layerBlobs []v1.Layer
	if in.Layers != nil {
		var err error
		if layerRefs, layerBlobs, err = s.functionLayers(ctx, in.Layers); err != nil {
			return nil, err
		}
	}
	if in.Role != nil && *in.Role == "" {
		return nil, validateRole("")
	}
	if in.Runtime != nil && *in.Runtime == "" {
		return nil, validateRuntime("", s.supportedRuntimes())
	}
	if in.Handler != nil && *in.Handler == "" {
		return nil, validateHandler("")
	}
	imageConfig, err := validateImageConfig(in.ImageConfig)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, name, in.RevisionID, false, func(f *kumo.Function) error {
		if f.PackageType == kumo.PackageImage {
			if in.Runtime != nil || in.Handler != nil || len(in.Layers) > 0 {
				return kumo.InvalidParameter(msgImageNoRuntime)
			}
			if in.ImageConfig != nil {
				f.ImageConfig = imageConfig
			}
		} else if in.ImageConfig != nil {
			return kumo.InvalidParameter(msgZipNoImageConfig)
		}
		oldRuntime := f.Runtime
		set(&f.Role, in.Role)
		set(&f.Handler, in.Handler)
		set(&f.Description, in.Description)
		set(&f.Timeout, in.Timeout)
		set(&f.MemorySize, in.MemorySize)
		set(&f.EphemeralStorage, in.EphemeralStorage)
		set(&f.Runtime, in.Runtime)
		set(&f.TracingMode, in.TracingMode)
		set(&f.KMSKeyArn, in.KMSKeyArn)
		set(&f.DeadLetterTarget, in.DeadLetterTarget)
		if in.Environment != nil {
			f.Environment = *in.Environment
		}
		if err := s.validateConfig(f); err != nil {
			return err
		}
		if f.PackageType == kumo.PackageImage {
			return nil // the image is the whole root: no base, no layers
		}
		if in.Layers != nil {
			return s.setLayers(ctx, f, layerRefs, layerBlobs) // on f.Runtime's base
		}
		if f.Runtime != oldRuntime {
			return s.rebase(ctx, f)
		}
		return nil
	})
}

// rebase puts the function's Lambda layers and code layer on the base
// image of its (new) runtime.
func (s *Service) rebase(ctx context.Context, f *kumo.Function) error {
	layers, code, err := s.imageParts(ctx, f)
	if err != nil {
		return err
	}
	return s.compose(ctx, f, layers, code)
}

// update applies mutate to the current $LATEST under optimistic
// concurrency: a RevisionId from the caller must match, and a concurrent
// writer makes the call fail with a conflict rather than lose an update.
func (s *Service) update(ctx context.Context, name, revisionID string, dryRun bool, mutate func(*kumo.Function) error) (*kumo.Function, error) {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" && ref.Qualifier != kumo.VersionLatest {
		return nil, kumo.InvalidParameter("Only $LATEST can be updated; got qualifier %s", ref.Qualifier)
	}
	cur, rev, err := s.resolve(ctx, ref.Name, "")
	if err != nil {
		return nil, err
	}
	if revisionID != "" && revisionID != cur.RevisionID {
		return nil, kumo.Errorf(kumo.ErrPreconditionFailed, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
	}
	next := cur.Clone()
	if err := mutate(next); err != nil {
		return nil, err
	}
	if dryRun {
		return next, nil
	}
	if next.ImageDigest != cur.ImageDigest {
		if err := s.mirrorImage(ctx, next.Name, latestTag, next.ImageDigest); err != nil {
			return nil, err
		}
	}
	s.stamp(next)
	if _, err := s.store.UpdateFunction(ctx, next, rev); err != nil {
		if errors.Is(err, kumo.ErrConflict) {
			return nil, kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", s.scope.FunctionARN(ref.Name))
		}
		if errors.Is(err, kumo.ErrNotFound) {
			return nil, s.notFound(ref)
		}
		return nil, fmt.Errorf("update function %s: %w", ref.Name, err)
	}
	s.log.InfoContext(ctx, "function updated", "function", next.Name, "revision", next.RevisionID)
	s.changed(next)
	return next, nil
}

// DeleteFunction removes a function, its logs and (through the store's
// watch) its sandboxes.
func (s *Service) DeleteFunction(ctx context.Context, name, qualifier string) error {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return err
	}
	if qualifier != "" && ref.Qualifier != "" && qualifier != ref.Qualifier {
		return kumo.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if qualifier == "" {
		qualifier = ref.Qualifier
	}
	switch {
	case qualifier == kumo.VersionLatest:
		return kumo.InvalidParameter("$LATEST version cannot be deleted without deleting the function.")
	case qualifier != "":
		return s.deleteVersion(ctx, ref.Name, qualifier)
	}
	f, _, err := s.resolve(ctx, ref.Name, "")
	if err != nil {
		return err
	}
	// Aliases and versions go first: an alias must never outlive the
	// function it points into.
	if err := s.store.DeleteVersionsAndAliases(ctx, f.Name); err != nil {
		return err
	}
	if err := s.dropAccess(ctx, f.Name); err != nil { // URL configs and policies (access.go)
		return err
	}
	if err := s.store.DeleteFunction(ctx, f.Name); err != nil {
		if errors.Is(err, kumo.ErrNotFound) {
			return s.notFound(ref)
		}
		return fmt.Errorf("delete function %s: %w", f.Name, err)
	}
	if err := s.store.PurgeLogs(ctx, f.Name); err != nil {
		s.log.WarnContext(ctx, "purge logs of deleted function", "function", f.Name, "error", err)
	}
	s.log.InfoContext(ctx, "function deleted", "function", f.Name)
	if s.onChange != nil {
		s.onChange(f.Name, nil)
	}
	return nil
}

func deref(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// Limits are the account-wide limits this host enforces.
type Limits struct {
	ConcurrentExecutions int
	// UnreservedMinimum is what reservations must leave to functions
	// without one (Lambda keeps 100).
	UnreservedMinimum int
}

// WithLimits sets the account limits reported by GetAccountSettings.
func WithLimits(l Limits) Option { return func(s *Service) { s.limits = l } }

// Limits returns the account limits.
func (s *Service) Limits() Limits { return s.limits }
