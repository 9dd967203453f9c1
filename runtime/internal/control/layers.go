package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// LayerStore keeps layer versions. Version numbers are handed out by the
// store, per layer, and never reused.
type LayerStore interface {
	CreateLayerVersion(ctx context.Context, lv *kumo.LayerVersion) (int64, error)
	GetLayerVersion(ctx context.Context, name string, version int64) (*kumo.LayerVersion, error)
	// ListLayerVersions lists one layer's versions, or every layer's when
	// name is "", sorted by name and version.
	ListLayerVersions(ctx context.Context, name string) ([]*kumo.LayerVersion, error)
	DeleteLayerVersion(ctx context.Context, name string, version int64) error
}

// layersPrefix is where a layer's files land in a function's image.
const layersPrefix = "opt"

var layerArchitectures = []string{"x86_64", "arm64"}

// PublishLayerInput is PublishLayerVersion's request, decoded from the wire.
type PublishLayerInput struct {
	LayerName               string
	Description             string
	ZipFile                 []byte
	HasS3Code               bool
	CompatibleRuntimes      []string
	CompatibleArchitectures []string
	LicenseInfo             string
}

// PublishLayerVersion turns a zip into an OCI layer under /opt, stores it
// in the image store and records it as the layer's next version.
func (s *Service) PublishLayerVersion(ctx context.Context, in PublishLayerInput) (*kumo.LayerVersion, error) {
	name, err := s.scope.ParseLayerName(in.LayerName)
	if err != nil {
		return nil, err
	}
	if err := validateDescription(in.Description); err != nil {
		return nil, err
	}
	if len(in.LicenseInfo) > kumo.MaxLicenseInfoLen {
		return nil, validationError("...", "licenseInfo", fmt.Sprintf("Member must have length less than or equal to %d", kumo.MaxLicenseInfoLen))
	}
	if err := validateCompatibleRuntimes(in.CompatibleRuntimes, s.knownRuntimes()); err != nil {
		return nil, err
	}
	if err := validateCompatibleArchitectures(in.CompatibleArchitectures); err != nil {
		return nil, err
	}
	switch {
	case in.HasS3Code:
		return nil, kumo.Errorf(kumo.ErrUnsupported, "Layer content from S3 (S3Bucket/S3Key) is not supported by kumo; upload the zip with Content.ZipFile")
	case len(in.ZipFile) == 0:
		return nil, kumo.InvalidParameter("Please provide a source for layer content.")
	case len(in.ZipFile) > kumo.MaxZipBytes:
		return nil, kumo.Errorf(kumo.ErrRequestTooLarge, "Zipped size must be smaller than %d bytes", kumo.MaxZipBytes)
	}
	layer, stats, err := s.images.ZipLayer(ctx, in.ZipFile, layersPrefix)
	if err != nil {
		return nil, err
	}
	if c, ok := layer.(io.Closer); ok {
		defer c.Close()
	}
	digest, err := layer.Digest()
	if err != nil {
		return nil, fmt.Errorf("publish layer %s: %w", name, err)
	}
	// The layer is kept as an image of its own (no base), so the image
	// store holds it as it holds everything else, by manifest.
	img, err := s.images.Put(ctx, empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("store layer %s: %w", name, err)
	}
	sum := sha256.Sum256(in.ZipFile)
	lv := &kumo.LayerVersion{
		Name:                    name,
		Description:             in.Description,
		CompatibleRuntimes:      in.CompatibleRuntimes,
		CompatibleArchitectures: in.CompatibleArchitectures,
		LicenseInfo:             in.LicenseInfo,
		CreatedDate:             s.now().UTC(),
		CodeSha256:              base64.StdEncoding.EncodeToString(sum[:]),
		CodeSize:                int64(len(in.ZipFile)),
		UnzippedSize:            stats.UnzippedBytes,
		Digest:                  digest.String(),
		ImageDigest:             img.String(),
	}
	if _, err := s.store.CreateLayerVersion(ctx, lv); err != nil {
		return nil, fmt.Errorf("publish layer %s: %w", name, err)
	}
	s.log.InfoContext(ctx, "layer version published", "layer", name, "version", lv.Version, "digest", lv.Digest)
	return lv, nil
}

func validateCompatibleRuntimes(rts, known []string) error {
	if len(rts) > kumo.MaxCompatibleRuntimes {
		return validationError(rts, "compatibleRuntimes", fmt.Sprintf("Member must have length less than or equal to %d", kumo.MaxCompatibleRuntimes))
	}
	for _, rt := range rts {
		if !slices.Contains(known, rt) {
			return validationError(rts, "compatibleRuntimes", "Member must satisfy constraint: [Member must satisfy enum value set: ["+strings.Join(known, ", ")+"]]")
		}
	}
	return nil
}

func validateCompatibleArchitectures(archs []string) error {
	if len(archs) > kumo.MaxCompatibleArchitectures {
		return validationError(archs, "compatibleArchitectures", fmt.Sprintf("Member must have length less than or equal to %d", kumo.MaxCompatibleArchitectures))
	}
	for _, a := range archs {
		if !slices.Contains(layerArchitectures, a) {
			return validationError(archs, "compatibleArchitectures", "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]")
		}
	}
	return nil
}

func (s *Service) layerNotFound(name string, version int64) error {
	return kumo.NotFound("The resource you requested does not exist. (Layer version %s)", s.scope.LayerVersionARN(name, version))
}

// GetLayerVersion returns one version of a layer named by name or layer ARN.
func (s *Service) GetLayerVersion(ctx context.Context, layerName string, version int64) (*kumo.LayerVersion, error) {
	name, err := s.scope.ParseLayerName(layerName)
	if err != nil {
		return nil, err
	}
	return s.getLayerVersion(ctx, name, version)
}

func (s *Service) getLayerVersion(ctx context.Context, name string, version int64) (*kumo.LayerVersion, error) {
	if version < 1 {
		return nil, s.layerNotFound(name, version)
	}
	lv, err := s.store.GetLayerVersion(ctx, name, version)
	if errors.Is(err, kumo.ErrNotFound) {
		return nil, s.layerNotFound(name, version)
	}
	if err != nil {
		return nil, fmt.Errorf("get layer version %s:%d: %w", name, version, err)
	}
	return lv, nil
}

// GetLayerVersionByArn returns the layer version a layer version ARN names.
func (s *Service) GetLayerVersionByArn(ctx context.Context, arn string) (*kumo.LayerVersion, error) {
	if !kumo.ValidLayerVersionARN(arn) {
		return nil, validationError(arn, "arn", "Member must satisfy regular expression pattern: "+kumo.LayerVersionArnPattern)
	}
	name, version, err := s.scope.ParseLayerVersionARN(arn)
	if err != nil {
		return nil, err
	}
	return s.getLayerVersion(ctx, name, version)
}

// DeleteLayerVersion deletes one version of a layer. Like Lambda's, it
// succeeds for a version that does not exist. Functions using the version
// keep working: their images hold the layer.
func (s *Service) DeleteLayerVersion(ctx context.Context, layerName string, version int64) error {
	name, err := s.scope.ParseLayerName(layerName)
	if err != nil {
		return err
	}
	if version < 1 {
		return nil
	}
	if err := s.store.DeleteLayerVersion(ctx, name, version); err != nil {
		return fmt.Errorf("delete layer version %s:%d: %w", name, version, err)
	}
	s.log.InfoContext(ctx, "layer version deleted", "layer", name, "version", version)
	return nil
}

// LayerFilter selects layer versions by what they declare to support; an
// empty field matches everything.
type LayerFilter struct {
	CompatibleRuntime      string
	CompatibleArchitecture string
}

func (f LayerFilter) validate(known []string) error {
	if f.CompatibleRuntime != "" && !slices.Contains(known, f.CompatibleRuntime) {
		return validationError(f.CompatibleRuntime, "compatibleRuntime", "Member must satisfy enum value set: ["+strings.Join(known, ", ")+"]")
	}
	if f.CompatibleArchitecture != "" && !slices.Contains(layerArchitectures, f.CompatibleArchitecture) {
		return validationError(f.CompatibleArchitecture, "compatibleArchitecture", "Member must satisfy enum value set: [x86_64, arm64]")
	}
	return nil
}

func (f LayerFilter) match(lv *kumo.LayerVersion) bool {
	return (f.CompatibleRuntime == "" || slices.Contains(lv.CompatibleRuntimes, f.CompatibleRuntime)) &&
		(f.CompatibleArchitecture == "" || slices.Contains(lv.CompatibleArchitectures, f.CompatibleArchitecture))
}

func layerMaxItems(n int) (int, error) {
	if n == 0 {
		return kumo.MaxListLayersItems, nil
	}
	if n < 1 || n > kumo.MaxListLayersItems {
		return 0, validationError(n, "maxItems", fmt.Sprintf("Member must have value between 1 and %d", kumo.MaxListLayersItems))
	}
	return n, nil
}

// ListLayerVersions pages through a layer's versions matching filter,
// newest first. The marker is the version number of the next page's first
// entry. A layer without versions lists nothing.
func (s *Service) ListLayerVersions(ctx context.Context, layerName string, filter LayerFilter, marker string, maxItems int) ([]*kumo.LayerVersion, string, error) {
	name, err := s.scope.ParseLayerName(layerName)
	if err != nil {
		return nil, "", err
	}
	if err := filter.validate(s.knownRuntimes()); err != nil {
		return nil, "", err
	}
	if maxItems, err = layerMaxItems(maxItems); err != nil {
		return nil, "", err
	}
	var from int64
	if marker != "" {
		if from, err = strconv.ParseInt(marker, 10, 64); err != nil || from < 1 {
			return nil, "", kumo.InvalidParameter("Invalid marker: %q", marker)
		}
	}
	all, err := s.store.ListLayerVersions(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("list versions of layer %s: %w", name, err)
	}
	var out []*kumo.LayerVersion
	for _, lv := range slices.Backward(all) {
		if (from != 0 && lv.Version > from) || !filter.match(lv) {
			continue
		}
		if len(out) == maxItems {
			return out, strconv.FormatInt(lv.Version, 10), nil
		}
		out = append(out, lv)
	}
	return out, "", nil
}

// LayerSummary is one entry of ListLayers: a layer and its newest version
// matching the filter.
type LayerSummary struct {
	Name   string
	Latest *kumo.LayerVersion
}

// ListLayers pages through layers sorted by name, each with its newest
// version matching filter; layers with no matching version are left out.
// The marker is the name of the next page's first layer.
func (s *Service) ListLayers(ctx context.Context, filter LayerFilter, marker string, maxItems int) ([]LayerSummary, string, error) {
	if err := filter.validate(s.knownRuntimes()); err != nil {
		return nil, "", err
	}
	maxItems, err := layerMaxItems(maxItems)
	if err != nil {
		return nil, "", err
	}
	if marker != "" && !kumo.ValidLayerName(marker) {
		return nil, "", kumo.InvalidParameter("Invalid marker: %q", marker)
	}
	all, err := s.store.ListLayerVersions(ctx, "")
	if err != nil {
		return nil, "", fmt.Errorf("list layers: %w", err)
	}
	var out []LayerSummary
	// all is sorted by name, then version: the last match of a run wins.
	for _, lv := range all {
		if lv.Name < marker || !filter.match(lv) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Name == lv.Name {
			out[n-1].Latest = lv
			continue
		}
		if len(out) == maxItems {
			return out, lv.Name, nil
		}
		out = append(out, LayerSummary{Name: lv.Name, Latest: lv})
	}
	return out, "", nil
}

// functionLayers resolves the layer version ARNs of a function's Layers
// into references and the OCI layers to build its image with, in order.
func (s *Service) functionLayers(ctx context.Context, arns []string) ([]kumo.LayerRef, []v1.Layer, error) {
	if len(arns) > kumo.MaxLayersPerFunction {
		return nil, nil, kumo.InvalidParameter("Cannot reference more than %d layers.", kumo.MaxLayersPerFunction)
	}
	seen := map[string]string{} // layer name → the ARN that named it
	refs := make([]kumo.LayerRef, 0, len(arns))
	blobs := make([]v1.Layer, 0, len(arns))
	for _, arn := range arns {
		if !kumo.ValidLayerVersionARN(arn) {
			return nil, nil, validationError(arns, "layers", "Member must satisfy constraint: [Member must have length less than or equal to 140, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: "+kumo.LayerVersionArnPattern+", Member must not be null]")
		}
		name, version, err := s.scope.ParseLayerVersionARN(arn)
		if err != nil {
			return nil, nil, err
		}
		if prev, dup := seen[name]; dup {
			if prev == arn {
				return nil, nil, kumo.InvalidParameter("Duplicate layer version %s.", arn)
			}
			return nil, nil, kumo.InvalidParameter("Two different versions of the same layer are not allowed: %s and %s.", prev, arn)
		}
		seen[name] = arn
		lv, err := s.store.GetLayerVersion(ctx, name, version)
		if errors.Is(err, kumo.ErrNotFound) {
			return nil, nil, kumo.InvalidParameter("Layer version %s does not exist.", arn)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("get layer version %s: %w", arn, err)
		}
		blob, err := s.layerBlob(ctx, lv)
		if err != nil {
			return nil, nil, err
		}
		refs = append(refs, kumo.LayerRef{Arn: arn, Digest: lv.Digest, CodeSize: lv.CodeSize, UnzippedSize: lv.UnzippedSize})
		blobs = append(blobs, blob)
	}
	return refs, blobs, nil
}

// layerBlob opens a layer version's OCI layer in the image store.
func (s *Service) layerBlob(ctx context.Context, lv *kumo.LayerVersion) (v1.Layer, error) {
	h, err := v1.NewHash(lv.ImageDigest)
	if err != nil {
		return nil, fmt.Errorf("layer %s:%d: parse image digest: %w", lv.Name, lv.Version, err)
	}
	img, err := s.images.Image(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("layer %s:%d: open image: %w", lv.Name, lv.Version, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("layer %s:%d: %w", lv.Name, lv.Version, err)
	}
	if len(layers) != 1 {
		return nil, fmt.Errorf("layer %s:%d: image %s has %d layers, want 1", lv.Name, lv.Version, h, len(layers))
	}
	d, err := layers[0].Digest()
	if err != nil {
		return nil, fmt.Errorf("layer %s:%d: %w", lv.Name, lv.Version, err)
	}
	if d.String() != lv.Digest {
		return nil, fmt.Errorf("layer %s:%d: image %s holds layer %s, want %s", lv.Name, lv.Version, h, d, lv.Digest)
	}
	return layers[0], nil
}

// imageParts splits a function's image into its Lambda layers and its code
// layer (the image's last layer, after its len(f.Layers) Lambda layers).
// They come from the image itself, so a function whose layer versions have
// since been deleted can still be rebuilt.
func (s *Service) imageParts(ctx context.Context, f *kumo.Function) ([]v1.Layer, v1.Layer, error) {
	digest, err := v1.NewHash(f.ImageDigest)
	if err != nil {
		return nil, nil, fmt.Errorf("parse image digest of function %s: %w", f.Name, err)
	}
	img, err := s.images.Image(ctx, digest)
	if err != nil {
		return nil, nil, fmt.Errorf("read image of function %s: %w", f.Name, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, nil, fmt.Errorf("read layers of function %s: %w", f.Name, err)
	}
	n := len(f.Layers)
	if len(layers) < n+1 {
		return nil, nil, fmt.Errorf("read layers of function %s: image has %d layers, want at least %d", f.Name, len(layers), n+1)
	}
	tail := layers[len(layers)-1-n : len(layers)-1]
	for i, l := range tail {
		d, err := l.Digest()
		if err != nil {
			return nil, nil, fmt.Errorf("read layers of function %s: %w", f.Name, err)
		}
		if d.String() != f.Layers[i].Digest {
			return nil, nil, fmt.Errorf("read layers of function %s: layer %d is %s, want %s", f.Name, i, d, f.Layers[i].Digest)
		}
	}
	return tail, layers[len(layers)-1], nil
}

// compose builds f's image: the base of f.Runtime, then layers, then code.
func (s *Service) compose(ctx context.Context, f *kumo.Function, layers []v1.Layer, code v1.Layer) error {
	if err := s.checkUnzippedSize(f); err != nil {
		return err
	}
	base, err := s.images.BaseImage(ctx, f.Runtime)
	if err != nil {
		return err
	}
	digest, err := s.images.Put(ctx, base, append(slices.Clip(layers), code)...)
	if err != nil {
		return fmt.Errorf("store image of function %s: %w", f.Name, err)
	}
	f.ImageDigest = digest.String()
	return nil
}

// checkUnzippedSize applies Lambda's 250 MB limit to the code and its
// layers together.
func (s *Service) checkUnzippedSize(f *kumo.Function) error {
	limit := s.maxUnzipped
	if limit == 0 {
		limit = kumo.MaxUnzippedBytes
	}
	total := f.UnzippedSize
	for _, l := range f.Layers {
		total += l.UnzippedSize
	}
	if total > limit {
		return kumo.InvalidParameter("Unzipped size must be smaller than %d bytes", limit)
	}
	return nil
}

// setLayers replaces f's Layers with refs (blobs are their OCI layers) and
// rebuilds its image around its current code.
func (s *Service) setLayers(ctx context.Context, f *kumo.Function, refs []kumo.LayerRef, blobs []v1.Layer) error {
	_, code, err := s.imageParts(ctx, f)
	if err != nil {
		return err
	}
	f.Layers = nil
	if len(refs) > 0 {
		f.Layers = refs
	}
	return s.compose(ctx, f, blobs, code)
}
