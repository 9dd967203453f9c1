package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// VersionStore keeps published versions and aliases.
type VersionStore interface {
	PutVersion(ctx context.Context, f *kumo.Function) error
	GetVersion(ctx context.Context, name, version string) (*kumo.Function, error)
	ListVersions(ctx context.Context, name string) ([]*kumo.Function, error)
	DeleteVersion(ctx context.Context, name, version string) error
	CreateAlias(ctx context.Context, a *kumo.Alias) (uint64, error)
	GetAlias(ctx context.Context, function, name string) (*kumo.Alias, uint64, error)
	UpdateAlias(ctx context.Context, a *kumo.Alias, rev uint64) (uint64, error)
	DeleteAlias(ctx context.Context, function, name string) error
	ListAliases(ctx context.Context, function string) ([]*kumo.Alias, error)
	DeleteVersionsAndAliases(ctx context.Context, function string) error
}

// WithAliasHook is called after an alias is written (nil after a delete).
func WithAliasHook(fn func(function, name string, a *kumo.Alias)) Option {
	return func(s *Service) { s.onAlias = fn }
}

// WithVersionHook is called after a version is published or deleted (nil).
func WithVersionHook(fn func(function, version string, f *kumo.Function)) Option {
	return func(s *Service) { s.onVersion = fn }
}

func isVersionNumber(q string) bool {
	n, err := strconv.Atoi(q)
	return err == nil && n > 0 && strconv.Itoa(n) == q
}

// qualified returns the version a version number or alias names.
func (s *Service) qualified(ctx context.Context, ref kumo.FunctionRef) (*kumo.Function, error) {
	version := ref.Qualifier
	if !isVersionNumber(version) {
		a, _, err := s.store.GetAlias(ctx, ref.Name, ref.Qualifier)
		if err != nil {
			if errors.Is(err, kumo.ErrNotFound) {
				return nil, s.notFound(ref)
			}
			return nil, err
		}
		if a.FunctionVersion == kumo.VersionLatest {
			f, _, err := s.resolve(ctx, ref.Name, "")
			return f, err
		}
		version = a.FunctionVersion
	}
	f, err := s.store.GetVersion(ctx, ref.Name, version)
	if errors.Is(err, kumo.ErrNotFound) {
		return nil, s.notFound(ref)
	}
	return f, err
}

// fingerprint is what makes two versions the same: code and every setting
// that changes how the function runs. Lambda publishes no new version when
// it did not change.
func fingerprint(f *kumo.Function) *kumo.Function {
	c := f.Clone()
	c.Version, c.LastVersion, c.ReservedConcurrency = "", 0, nil
	c.RevisionID, c.Description, c.Tags = "", "", nil
	c.LastModified = time.Time{}
	c.State, c.LastUpdateStatus = "", ""
	if len(c.Environment) == 0 {
		c.Environment = nil
	}
	return c
}

func sameVersion(a, b *kumo.Function) bool { return reflect.DeepEqual(fingerprint(a), fingerprint(b)) }

// PublishVersion snapshots $LATEST as a new immutable version, or returns
// the newest version when nothing changed since it was published.
func (s *Service) PublishVersion(ctx context.Context, name, codeSha256, description, revisionID string) (*kumo.Function, error) {
	if len(description) > kumo.MaxDescriptionLen {
		return nil, validateDescription(description)
	}
	ref, err := s.ref(name, "")
	if err != nil {
		return nil, err
	}
	if ref.Qualifier != "" {
		return nil, kumo.InvalidParameter("PublishVersion takes an unqualified function name, got %s", name)
	}
	for range 5 {
		cur, rev, err := s.resolve(ctx, ref.Name, "")
		if err != nil {
			return nil, err
		}
		if revisionID != "" && revisionID != cur.RevisionID {
			return nil, revisionMismatch()
		}
		if codeSha256 != "" && codeSha256 != cur.CodeSha256 {
			return nil, kumo.InvalidParameter("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). Please try again with the CodeSHA256 in $LATEST.", codeSha256, cur.CodeSha256)
		}
		if cur.LastVersion > 0 {
			last, err := s.store.GetVersion(ctx, cur.Name, strconv.Itoa(cur.LastVersion))
			if err == nil && sameVersion(last, cur) {
				return last, nil
			}
			if err != nil && !errors.Is(err, kumo.ErrNotFound) {
				return nil, err
			}
		}
		next := cur.Clone()
		next.LastVersion = cur.LastVersion + 1
		// Claim the number first: a crash after this wastes a number but
		// can never hand one out twice.
		if _, err := s.store.UpdateFunction(ctx, next, rev); err != nil {
			if errors.Is(err, kumo.ErrConflict) {
				continue
			}
			return nil, fmt.Errorf("publish version of %s: %w", cur.Name, err)
		}
		s.changed(next)
		v := cur.Clone()
		v.Version = strconv.Itoa(next.LastVersion)
		v.LastVersion, v.ReservedConcurrency, v.Tags = 0, nil, nil
		if description != "" {
			v.Description = description
		}
		v.RevisionID = uuid.NewString()
		v.LastModified = s.now().UTC()
		if err := s.mirrorImage(ctx, v.Name, v.Version, v.ImageDigest); err != nil {
			return nil, err
		}
		if err := s.store.PutVersion(ctx, v); err != nil {
			return nil, fmt.Errorf("publish version of %s: %w", cur.Name, err)
		}
		s.log.InfoContext(ctx, "version published", "function", v.Name, "version", v.Version)
		if s.onVersion != nil {
			s.onVersion(v.Name, v.Version, v.Clone())
		}
		return v, nil
	}
	return nil, s.updateInProgress(ref.Name)
}

func revisionMismatch() error {
	return kumo.Errorf(kumo.ErrPreconditionFailed, "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
}

func (s *Service) updateInProgress(name string) error {
	return kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", s.scope.FunctionARN(name))
}

// ListVersions returns $LATEST and every published version, paged like
// ListFunctions (the marker is the next version's name).
func (s *Service) ListVersions(ctx context.Context, name, marker string, maxItems int) ([]*kumo.Function, string, error) {
	if maxItems == 0 {
		maxItems = kumo.DefaultListFunctionsMax
	}
	if maxItems < 1 || maxItems > kumo.MaxListItems {
		return nil, "", validationError(maxItems, "maxItems", "Member must have value between 1 and 10000")
	}
	latest, _, err := s.resolve(ctx, name, "")
	if err != nil {
		return nil, "", err
	}
	versions, err := s.store.ListVersions(ctx, latest.Name)
	if err != nil {
		return nil, "", err
	}
	all := append([]*kumo.Function{latest}, versions...)
	start := 0
	if marker != "" {
		start = slices.IndexFunc(all, func(f *kumo.Function) bool { return f.VersionName() == marker })
		if start < 0 {
			return nil, "", kumo.InvalidParameter("Invalid marker: %q", marker)
		}
	}
	end := min(start+maxItems, len(all))
	next := ""
	if end < len(all) {
		next = all[end].VersionName()
	}
	return all[start:end], next, nil
}

func (s *Service) deleteVersion(ctx context.Context, name, version string) error {
	ref := kumo.FunctionRef{Name: name, Qualifier: version}
	if !isVersionNumber(version) {
		// An alias is not a version: Lambda answers as for a missing one.
		return kumo.InvalidParameter("Deletion of aliases is not supported by DeleteFunction; use DeleteAlias for %s", s.scope.QualifiedARN(name, version))
	}
	if _, err := s.store.GetVersion(ctx, name, version); err != nil {
		if errors.Is(err, kumo.ErrNotFound) {
			return s.notFound(ref)
		}
		return err
	}
	aliases, err := s.store.ListAliases(ctx, name)
	if err != nil {
		return err
	}
	var users []string
	for _, a := range aliases {
		if a.FunctionVersion == version {
			users = append(users, a.Name)
			continue
		}
		if _, ok := a.AdditionalVersionWeights[version]; ok {
			users = append(users, a.Name)
		}
	}
	if len(users) > 0 {
		return kumo.Errorf(kumo.ErrConflict, "Unable to delete version because the following aliases reference it: [%s]", strings.Join(users, ", "))
	}
	if err := s.DropQualifierAccess(ctx, name, version); err != nil {
		return err
	}
	if err := s.store.DeleteVersion(ctx, name, version); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "version deleted", "function", name, "version", version)
	if s.onVersion != nil {
		s.onVersion(name, version, nil)
	}
	return nil
}

// AliasInput is CreateAlias' and UpdateAlias' request; nil fields are
// unchanged on update.
type AliasInput struct {
	FunctionVersion *string
	Description     *string
	// Weights is nil when RoutingConfig was not sent; an empty map removes
	// the weighting.
	Weights    map[string]float64
	HasRouting bool
	RevisionID string
}

func validAliasName(name string) bool {
	if name == "" || len(name) > 128 || isVersionNumber(name) || name == kumo.VersionLatest {
		return false
	}
	for _, r := range name {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	_, err := strconv.Atoi(name)
	return err != nil
}

// checkAlias applies Lambda's routing rules: the primary is $LATEST or a
// published version; at most one additional version, published, not the
// primary, weighted 0..1; no weights when the primary is $LATEST.
func (s *Service) checkAlias(ctx context.Context, function string, a *kumo.Alias) error {
	if a.FunctionVersion != kumo.VersionLatest {
		if !isVersionNumber(a.FunctionVersion) {
			return validationError(a.FunctionVersion, "functionVersion", `Member must satisfy regular expression pattern: (\$LATEST|[0-9]+)`)
		}
		if _, err := s.store.GetVersion(ctx, function, a.FunctionVersion); err != nil {
			if errors.Is(err, kumo.ErrNotFound) {
				return s.notFound(kumo.FunctionRef{Name: function, Qualifier: a.FunctionVersion})
			}
			return err
		}
	}
	if len(a.AdditionalVersionWeights) == 0 {
		a.AdditionalVersionWeights = nil
		return nil
	}
	if len(a.AdditionalVersionWeights) > 1 {
		return kumo.InvalidParameter("Number of items in AdditionalVersionWeights cannot be greater than 1")
	}
	if a.FunctionVersion == kumo.VersionLatest {
		return kumo.InvalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
	}
	for v, w := range a.AdditionalVersionWeights {
		if v == kumo.VersionLatest {
			return kumo.InvalidParameter("$LATEST is not supported for an alias pointing to more than 1 version")
		}
		if !isVersionNumber(v) {
			return validationError(v, "routingConfig.additionalVersionWeights", `Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]`)
		}
		if v == a.FunctionVersion {
			return kumo.InvalidParameter("Invalid function version %s. Function version %s is already included in routing configuration.", v, v)
		}
		if math.IsNaN(w) || w < 0 || w > 1 {
			return validationError(w, "routingConfig.additionalVersionWeights", "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]")
		}
		if _, err := s.store.GetVersion(ctx, function, v); err != nil {
			if errors.Is(err, kumo.ErrNotFound) {
				return s.notFound(kumo.FunctionRef{Name: function, Qualifier: v})
			}
			return err
		}
	}
	return nil
}

func (s *Service) aliasFunction(ctx context.Context, name string) (string, error) {
	ref, err := s.ref(name, "")
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", kumo.InvalidParameter("Function name %s must not be qualified here", name)
	}
	if _, _, err := s.resolve(ctx, ref.Name, ""); err != nil {
		return "", err
	}
	return ref.Name, nil
}

// CreateAlias creates an alias.
func (s *Service) CreateAlias(ctx context.Context, function, name string, in AliasInput) (*kumo.Alias, error) {
	fn, err := s.aliasFunction(ctx, function)
	if err != nil {
		return nil, err
	}
	if !validAliasName(name) {
		return nil, validationError(name, "name", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")
	}
	if in.FunctionVersion == nil || *in.FunctionVersion == "" {
		return nil, validationError("null", "functionVersion", "Member must not be null")
	}
	a := &kumo.Alias{Function: fn, Name: name, FunctionVersion: *in.FunctionVersion, AdditionalVersionWeights: in.Weights, RevisionID: uuid.NewString()}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return nil, err
		}
		a.Description = *in.Description
	}
	if err := s.checkAlias(ctx, fn, a); err != nil {
		return nil, err
	}
	if _, err := s.store.CreateAlias(ctx, a); err != nil {
		if errors.Is(err, kumo.ErrConflict) {
			return nil, kumo.Errorf(kumo.ErrConflict, "Alias already exists: %s", s.scope.QualifiedARN(fn, name))
		}
		return nil, err
	}
	s.aliasChanged(a)
	return a, nil
}

func (s *Service) aliasChanged(a *kumo.Alias) {
	s.log.Info("alias written", "function", a.Function, "alias", a.Name, "version", a.FunctionVersion, "weights", a.AdditionalVersionWeights)
	if s.onAlias != nil {
		s.onAlias(a.Function, a.Name, a.Clone())
	}
}

func (s *Service) getAlias(ctx context.Context, function, name string) (*kumo.Alias, uint64, error) {
	fn, err := s.aliasFunction(ctx, function)
	if err != nil {
		return nil, 0, err
	}
	a, rev, err := s.store.GetAlias(ctx, fn, name)
	if errors.Is(err, kumo.ErrNotFound) || errors.Is(err, kumo.ErrInvalidParameter) {
		return nil, 0, kumo.NotFound("Alias not found: %s", s.scope.QualifiedARN(fn, name))
	}
	return a, rev, err
}

// GetAlias returns an alias.
func (s *Service) GetAlias(ctx context.Context, function, name string) (*kumo.Alias, error) {
	a, _, err := s.getAlias(ctx, function, name)
	return a, err
}

// UpdateAlias changes an alias. Invocations already running on the old
// version finish there; new ones follow the new routing.
func (s *Service) UpdateAlias(ctx context.Context, function, name string, in AliasInput) (*kumo.Alias, error) {
	for range 5 {
		cur, rev, err := s.getAlias(ctx, function, name)
		if err != nil {
			return nil, err
		}
		if in.RevisionID != "" && in.RevisionID != cur.RevisionID {
			return nil, revisionMismatch()
		}
		next := cur.Clone()
		set(&next.FunctionVersion, in.FunctionVersion)
		if in.Description != nil {
			if err := validateDescription(*in.Description); err != nil {
				return nil, err
			}
			next.Description = *in.Description
		}
		if in.HasRouting {
			next.AdditionalVersionWeights = maps.Clone(in.Weights)
		}
		if err := s.checkAlias(ctx, cur.Function, next); err != nil {
			return nil, err
		}
		next.RevisionID = uuid.NewString()
		if _, err := s.store.UpdateAlias(ctx, next, rev); err != nil {
			if errors.Is(err, kumo.ErrConflict) {
				if in.RevisionID != "" {
					return nil, revisionMismatch()
				}
				continue
			}
			return nil, err
		}
		s.aliasChanged(next)
		return next, nil
	}
	return nil, s.updateInProgress(function)
}

// DeleteAlias removes an alias.
func (s *Service) DeleteAlias(ctx context.Context, function, name string) error {
	a, _, err := s.getAlias(ctx, function, name)
	if err != nil {
		return err
	}
	// Its URL config and permissions go with it, before it does, so none
	// is ever left pointing at a missing alias.
	if err := s.DropQualifierAccess(ctx, a.Function, a.Name); err != nil {
		return err
	}
	if err := s.store.DeleteAlias(ctx, a.Function, a.Name); err != nil {
		if errors.Is(err, kumo.ErrNotFound) {
			return kumo.NotFound("Alias not found: %s", s.scope.QualifiedARN(a.Function, a.Name))
		}
		return err
	}
	if s.onAlias != nil {
		s.onAlias(a.Function, a.Name, nil)
	}
	return nil
}

// ListAliases pages through a function's aliases, optionally only those
// routing to one version.
func (s *Service) ListAliases(ctx context.Context, function, version, marker string, maxItems int) ([]*kumo.Alias, string, error) {
	if maxItems == 0 {
		maxItems = kumo.DefaultListFunctionsMax
	}
	if maxItems < 1 || maxItems > kumo.MaxListItems {
		return nil, "", validationError(maxItems, "maxItems", "Member must have value between 1 and 10000")
	}
	fn, err := s.aliasFunction(ctx, function)
	if err != nil {
		return nil, "", err
	}
	all, err := s.store.ListAliases(ctx, fn)
	if err != nil {
		return nil, "", err
	}
	if version != "" {
		all = slices.DeleteFunc(all, func(a *kumo.Alias) bool {
			_, weighted := a.AdditionalVersionWeights[version]
			return a.FunctionVersion != version && !weighted
		})
	}
	start := 0
	if marker != "" {
		start = slices.IndexFunc(all, func(a *kumo.Alias) bool { return a.Name >= marker })
		if start < 0 {
			start = len(all)
		}
	}
	end := min(start+maxItems, len(all))
	next := ""
	if end < len(all) {
		next = all[end].Name
	}
	return all[start:end], next, nil
}
