package control

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// taggable resolves a Resource ARN (tags are only on unqualified function
// ARNs in this release).
func (s *Service) taggable(resource string) (string, error) {
	if !strings.HasPrefix(resource, "arn:") {
		return "", kumo.InvalidParameter("1 validation error detected: Value '%s' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:\\d{12}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", resource)
	}
	ref, err := s.scope.ParseFunctionName(resource)
	if err != nil {
		return "", err
	}
	if ref.Qualifier != "" {
		return "", kumo.InvalidParameter("Tags are not supported on a qualified function ARN: %s", resource)
	}
	return ref.Name, nil
}

// ListTags returns a function's tags.
func (s *Service) ListTags(ctx context.Context, resource string) (map[string]string, error) {
	name, err := s.taggable(resource)
	if err != nil {
		return nil, err
	}
	f, _, err := s.resolve(ctx, name, "")
	if err != nil {
		return nil, err
	}
	if f.Tags == nil {
		return map[string]string{}, nil
	}
	return f.Tags, nil
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, resource string, tags map[string]string) error {
	if len(tags) == 0 {
		return kumo.InvalidParameter("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	return s.retag(ctx, resource, func(cur map[string]string) map[string]string {
		for k, v := range tags {
			cur[k] = v
		}
		return cur
	})
}

// UntagResource removes tags by key; unknown keys are ignored, as in Lambda.
func (s *Service) UntagResource(ctx context.Context, resource string, keys []string) error {
	if len(keys) == 0 {
		return kumo.InvalidParameter("1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null")
	}
	return s.retag(ctx, resource, func(cur map[string]string) map[string]string {
		for _, k := range keys {
			delete(cur, k)
		}
		return cur
	})
}

// retag changes tags without a new RevisionId: tags are metadata about the
// function, not part of what runs.
func (s *Service) retag(ctx context.Context, resource string, change func(map[string]string) map[string]string) error {
	name, err := s.taggable(resource)
	if err != nil {
		return err
	}
	for range 5 {
		f, rev, err := s.resolve(ctx, name, "")
		if err != nil {
			return err
		}
		next := f.Clone()
		if next.Tags == nil {
			next.Tags = map[string]string{}
		}
		next.Tags = change(next.Tags)
		if err := validateTags(next.Tags); err != nil {
			return err
		}
		_, err = s.store.UpdateFunction(ctx, next, rev)
		if errors.Is(err, kumo.ErrConflict) {
			continue // someone else wrote in between: reapply on the new value
		}
		if err != nil {
			return fmt.Errorf("tag function %s: %w", name, err)
		}
		s.changed(next)
		return nil
	}
	return kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", s.scope.FunctionARN(name))
}

// AccountUsage is what GetAccountSettings reports that depends on the
// stored functions.
type AccountUsage struct {
	TotalCodeSize int64
	FunctionCount int64
	// Unreserved is the account's concurrency left to functions without a
	// reservation.
	Unreserved int
}

// Usage sums what the account stores and reserves, from one listing.
func (s *Service) Usage(ctx context.Context) (AccountUsage, error) {
	all, err := s.store.ListFunctions(ctx)
	if err != nil {
		return AccountUsage{}, fmt.Errorf("list functions: %w", err)
	}
	u := AccountUsage{Unreserved: s.limits.ConcurrentExecutions}
	for _, f := range all {
		u.FunctionCount++
		u.TotalCodeSize += f.CodeSize
		if f.ReservedConcurrency != nil {
			u.Unreserved -= *f.ReservedConcurrency
		}
	}
	return u, nil
}
