package control

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Limits of the Cors shape, from the model.
const (
	maxCorsMethods   = 6
	maxCorsListItems = 100
	maxCorsHeaderLen = 1024
	maxCorsOriginLen = 253
	maxCorsMaxAge    = 86400
	maxURLListItems  = 50
)

var (
	urlQualifierRE = lazyRegexp(`^[0-9a-zA-Z-_]{1,128}$`)
	allDigitsRE    = lazyRegexp(`^[0-9]+$`)
	corsMethods    = []string{"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*"}
)

// URLConfigInput is the request of Create/UpdateFunctionUrlConfig; nil
// fields are unset (Create) or unchanged (Update).
type URLConfigInput struct {
	AuthType   *string
	Cors       *kumo.Cors
	InvokeMode *string
}

// urlRef resolves FunctionName and ?Qualifier= for the URL calls, where
// the qualifier may only be an alias name, as in Lambda.
func (s *Service) urlRef(ctx context.Context, name, qualifier string) (kumo.FunctionRef, error) {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return ref, err
	}
	if qualifier != "" && ref.Qualifier != "" && qualifier != ref.Qualifier {
		return ref, kumo.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
	}
	if qualifier == "" {
		qualifier = ref.Qualifier
	}
	if qualifier != "" && (!urlQualifierRE().MatchString(qualifier) || allDigitsRE().MatchString(qualifier)) {
		return ref, validationError(qualifier, "qualifier", `Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)`)
	}
	ref.Qualifier = qualifier
	if _, err := s.GetFunction(ctx, ref.Name, ref.Qualifier); err != nil {
		return ref, err
	}
	return ref, nil
}

// ValidateCors checks a Cors configuration against the model's limits and
// the methods a URL can be called with.
func ValidateCors(c *kumo.Cors) error {
	if c == nil {
		return nil
	}
	if len(c.AllowMethods) > maxCorsMethods {
		return validationError(c.AllowMethods, "cors.allowMethods", "Member must have length less than or equal to 6")
	}
	for _, m := range c.AllowMethods {
		if !containsFold(corsMethods, m) {
			return kumo.InvalidParameter("Method %q is not supported in AllowMethods; use GET, PUT, HEAD, POST, PATCH, DELETE or *", m)
		}
	}
	for _, l := range []struct {
		field    string
		items    []string
		min, max int
	}{
		{"cors.allowOrigins", c.AllowOrigins, 1, maxCorsOriginLen},
		{"cors.allowHeaders", c.AllowHeaders, 0, maxCorsHeaderLen},
		{"cors.exposeHeaders", c.ExposeHeaders, 0, maxCorsHeaderLen},
	} {
		if len(l.items) > maxCorsListItems {
			return validationError(len(l.items), l.field, "Member must have length less than or equal to 100")
		}
		for _, v := range l.items {
			if len(v) < l.min || len(v) > l.max {
				return validationError(v, l.field+".member", fmt.Sprintf("Member must have length between %d and %d", l.min, l.max))
			}
			// These values are written into response headers.
			if strings.ContainsAny(v, "\r\n\x00") {
				return validationError(v, l.field+".member", "Member must not contain control characters")
			}
		}
	}
	if c.MaxAge < 0 || c.MaxAge > maxCorsMaxAge {
		return validationError(c.MaxAge, "cors.maxAge", "Member must have value between 0 and 86400")
	}
	return nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

func validateURLInput(in URLConfigInput, create bool) error {
	if create && in.AuthType == nil {
		return nullError("authType")
	}
	if in.AuthType != nil && *in.AuthType != kumo.URLAuthNone && *in.AuthType != kumo.URLAuthIAM {
		return validationError(*in.AuthType, "authType", "Member must satisfy enum value set: [NONE, AWS_IAM]")
	}
	if in.InvokeMode != nil && *in.InvokeMode != kumo.InvokeBuffered && *in.InvokeMode != kumo.InvokeStream {
		return validationError(*in.InvokeMode, "invokeMode", "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]")
	}
	return ValidateCors(in.Cors)
}

// newURLID makes a url id: 32 characters of [a-z2-7] from 160 random bits.
func newURLID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// normalizeCors stores an empty configuration as none.
func normalizeCors(c *kumo.Cors) *kumo.Cors {
	if c == nil || !c.AllowCredentials && c.MaxAge == 0 && len(c.AllowHeaders) == 0 && len(c.AllowMethods) == 0 &&
		len(c.AllowOrigins) == 0 && len(c.ExposeHeaders) == 0 {
		return nil
	}
	return c
}

// CreateFunctionURLConfig gives the function (or alias) a URL.
func (s *Service) CreateFunctionURLConfig(ctx context.Context, name, qualifier string, in URLConfigInput) (*kumo.FunctionURLConfig, error) {
	as, err := s.accessStore()
	if err != nil {
		return nil, err
	}
	if err := validateURLInput(in, true); err != nil {
		return nil, err
	}
	ref, err := s.urlRef(ctx, name, qualifier)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &kumo.FunctionURLConfig{
		ID:               newURLID(),
		Function:         ref.Name,
		Qualifier:        ref.Qualifier,
		AuthType:         *in.AuthType,
		Cors:             normalizeCors(in.Cors),
		InvokeMode:       kumo.InvokeBuffered,
		CreationTime:     now,
		LastModifiedTime: now,
	}
	if in.InvokeMode != nil {
		c.InvokeMode = *in.InvokeMode
	}
	rev, err := as.CreateURLConfig(ctx, c)
	if errors.Is(err, kumo.ErrConflict) {
		return nil, kumo.Errorf(kumo.ErrConflict, "Failed to create function url config for [functionArn = %s]. Error message:  FunctionUrlConfig exists for this Lambda function", s.scope.QualifiedARN(ref.Name, ref.Qualifier))
	}
	if err != nil {
		return nil, fmt.Errorf("create URL config of %s: %w", ref.Name, err)
	}
	key, _ := store.AccessKey(c.Function, c.Qualifier)
	s.access.applyURL(key, rev, c.Clone())
	s.log.InfoContext(ctx, "function URL created", "function", ref.Name, "qualifier", ref.Qualifier, "url_id", c.ID, "auth", c.AuthType)
	return c, nil
}

func (s *Service) getURLConfig(ctx context.Context, as AccessStore, ref kumo.FunctionRef) (*kumo.FunctionURLConfig, uint64, error) {
	c, rev, err := as.GetURLConfig(ctx, ref.Name, ref.Qualifier)
	if errors.Is(err, kumo.ErrNotFound) {
		return nil, 0, kumo.NotFound("The resource you requested does not exist.")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get URL config of %s: %w", ref.Name, err)
	}
	return c, rev, nil
}

// GetFunctionURLConfig returns the URL config of the function or alias.
func (s *Service) GetFunctionURLConfig(ctx context.Context, name, qualifier string) (*kumo.FunctionURLConfig, error) {
	as, err := s.accessStore()
	if err != nil {
		return nil, err
	}
	ref, err := s.urlRef(ctx, name, qualifier)
	if err != nil {
		return nil, err
	}
	c, _, err := s.getURLConfig(ctx, as, ref)
	return c, err
}

// UpdateFunctionURLConfig changes the given fields; Cors is replaced as a
// whole. The URL itself never changes.
func (s *Service) UpdateFunctionURLConfig(ctx context.Context, name, qualifier string, in URLConfigInput) (*kumo.FunctionURLConfig, error) {
	as, err := s.accessStore()
	if err != nil {
		return nil, err
	}
	if err := validateURLInput(in, false); err != nil {
		return nil, err
	}
	ref, err := s.urlRef(ctx, name, qualifier)
	if err != nil {
		return nil, err
	}
	cur, rev, err := s.getURLConfig(ctx, as, ref)
	if err != nil {
		return nil, err
	}
	next := cur.Clone()
	if in.AuthType != nil {
		next.AuthType = *in.AuthType
	}
	if in.InvokeMode != nil {
		next.InvokeMode = *in.InvokeMode
	}
	if in.Cors != nil {
		next.Cors = normalizeCors(in.Cors)
	}
	next.LastModifiedTime = s.now().UTC()
	nextRev, err := as.UpdateURLConfig(ctx, next, rev)
	if errors.Is(err, kumo.ErrConflict) {
		return nil, s.busy(ref.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update URL config of %s: %w", ref.Name, err)
	}
	key, _ := store.AccessKey(next.Function, next.Qualifier)
	s.access.applyURL(key, nextRev, next.Clone())
	return next, nil
}

// DeleteFunctionURLConfig removes the URL; requests to it fail at once.
func (s *Service) DeleteFunctionURLConfig(ctx context.Context, name, qualifier string) error {
	as, err := s.accessStore()
	if err != nil {
		return err
	}
	ref, err := s.urlRef(ctx, name, qualifier)
	if err != nil {
		return err
	}
	c, rev, err := s.getURLConfig(ctx, as, ref)
	if err != nil {
		return err
	}
	err = as.DeleteURLConfig(ctx, c.Function, c.Qualifier, rev)
	if errors.Is(err, kumo.ErrConflict) {
		return s.busy(ref.Name)
	}
	if err != nil {
		return fmt.Errorf("delete URL config of %s: %w", ref.Name, err)
	}
	key, _ := store.AccessKey(c.Function, c.Qualifier)
	s.access.applyURL(key, rev, nil)
	s.log.InfoContext(ctx, "function URL deleted", "function", ref.Name, "qualifier", ref.Qualifier, "url_id", c.ID)
	return nil
}

// ListFunctionURLConfigs pages through a function's URL configs (the
// unqualified one first, then aliases by name). The marker is the alias
// name the next page starts at ("$" for the unqualified one).
func (s *Service) ListFunctionURLConfigs(ctx context.Context, name, marker string, maxItems int) ([]*kumo.FunctionURLConfig, string, error) {
	as, err := s.accessStore()
	if err != nil {
		return nil, "", err
	}
	if maxItems == 0 {
		maxItems = maxURLListItems
	}
	if maxItems < 1 || maxItems > maxURLListItems {
		return nil, "", validationError(maxItems, "maxItems", "Member must have value less than or equal to 50")
	}
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return nil, "", err
	}
	if ref.Qualifier != "" {
		return nil, "", kumo.InvalidParameter("ListFunctionUrlConfigs takes an unqualified function name, not %s", name)
	}
	if _, err := s.GetFunction(ctx, ref.Name, ""); err != nil {
		return nil, "", err
	}
	entries, err := as.ListURLConfigs(ctx, ref.Name)
	if err != nil {
		return nil, "", fmt.Errorf("list URL configs of %s: %w", ref.Name, err)
	}
	// Sorted by key, the unqualified NAME sorts before NAME.ALIAS.
	markerOf := func(c *kumo.FunctionURLConfig) string {
		if c.Qualifier == "" {
			return "$"
		}
		return c.Qualifier
	}
	var out []*kumo.FunctionURLConfig
	started := marker == ""
	for _, e := range entries {
		if !started && markerOf(e.Value) == marker {
			started = true
		}
		if !started {
			continue
		}
		if len(out) == maxItems {
			return out, markerOf(e.Value), nil
		}
		out = append(out, e.Value)
	}
	if !started {
		return nil, "", kumo.InvalidParameter("Invalid marker: %q", marker)
	}
	return out, "", nil
}
