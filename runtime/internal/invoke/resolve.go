package invoke

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// target is what an invocation runs.
type target struct {
	ref kumo.FunctionRef
	// fn is the version that runs: $LATEST, a published version, or the
	// one an alias picked.
	fn *kumo.Function
	// latest is the function's $LATEST record, which carries settings of
	// the whole function (reserved concurrency).
	latest *kumo.Function
	// alias is the alias invoked through, "" for none.
	alias string
}

func isVersion(q string) bool {
	n, err := strconv.Atoi(q)
	return err == nil && n > 0 && strconv.Itoa(n) == q
}

// resolve turns FunctionName and Qualifier into the version to run. An
// alias with weights picks its additional version with the configured
// probability, independently for every invocation.
func (s *Service) resolve(ctx context.Context, name, qualifier string) (target, error) {
	ref, err := s.scope.ParseFunctionName(name)
	if err != nil {
		return target{}, err
	}
	if qualifier != "" {
		if ref.Qualifier != "" && ref.Qualifier != qualifier {
			return target{}, kumo.InvalidParameter("The derived qualifier from the function name does not match the specified qualifier.")
		}
		if !kumo.ValidQualifier(qualifier) {
			return target{}, kumo.InvalidParameter("1 validation error detected: Value '%s' at 'qualifier' failed to satisfy constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)", qualifier)
		}
		ref.Qualifier = qualifier
	}
	notFound := func() error {
		return kumo.NotFound("Function not found: %s", s.scope.QualifiedARN(ref.Name, ref.Qualifier))
	}
	latest, err := s.function(ctx, ref.Name)
	if err != nil {
		if errors.Is(err, kumo.ErrNotFound) {
			return target{}, notFound()
		}
		return target{}, fmt.Errorf("resolve function %s: %w", ref.Name, err)
	}
	t := target{ref: ref, fn: latest, latest: latest}
	version := ref.Qualifier
	if version != "" && version != kumo.VersionLatest && !isVersion(version) {
		a, err := s.alias(ctx, ref.Name, version)
		if err != nil {
			if errors.Is(err, kumo.ErrNotFound) {
				return target{}, notFound()
			}
			return target{}, err
		}
		t.alias = version
		version = pick(a)
	}
	if version == "" || version == kumo.VersionLatest {
		return t, nil
	}
	t.fn, err = s.version(ctx, ref.Name, version)
	if errors.Is(err, kumo.ErrNotFound) {
		return target{}, notFound()
	}
	return t, err
}

// pick chooses the version an alias sends this invocation to.
func pick(a *kumo.Alias) string {
	for v, w := range a.AdditionalVersionWeights {
		if rand.Float64() < w {
			return v
		}
	}
	return a.FunctionVersion
}

func cacheKey(function, qualifier string) string { return function + ":" + qualifier }

// version returns a published version; versions are immutable, so a cached
// one is always current until it is deleted.
func (s *Service) version(ctx context.Context, function, version string) (*kumo.Function, error) {
	key := cacheKey(function, version)
	s.mu.RLock()
	f, ok := s.versions[key]
	s.mu.RUnlock()
	if ok {
		return f, nil
	}
	f, err := s.store.GetVersion(ctx, function, version)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.versions[key] = f
	s.mu.Unlock()
	return f, nil
}

func (s *Service) alias(ctx context.Context, function, name string) (*kumo.Alias, error) {
	key := cacheKey(function, name)
	s.mu.RLock()
	a, ok := s.aliases[key]
	s.mu.RUnlock()
	if ok {
		return a, nil
	}
	a, _, err := s.store.GetAlias(ctx, function, name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.aliases[key] = a
	s.mu.Unlock()
	return a, nil
}

// ObserveAlias records an alias' new routing (nil: deleted). Invocations
// already running keep their version; the next ones follow the new routing.
func (s *Service) ObserveAlias(function, name string, a *kumo.Alias) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a == nil {
		delete(s.aliases, cacheKey(function, name))
		return
	}
	s.aliases[cacheKey(function, name)] = a
}

// ObserveVersion records a published version (nil: deleted).
func (s *Service) ObserveVersion(function, version string, f *kumo.Function) {
	s.mu.Lock()
	if f == nil {
		delete(s.versions, cacheKey(function, version))
	} else {
		s.versions[cacheKey(function, version)] = f
	}
	s.mu.Unlock()
	if f == nil {
		s.runner.Forget(function, version, "")
		return
	}
	s.runner.Prepare(f)
}

// forgetPublished drops every cached version and alias of a deleted
// function.
func (s *Service) forgetPublished(function string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := function + ":"
	for k := range s.versions {
		if strings.HasPrefix(k, prefix) {
			delete(s.versions, k)
		}
	}
	for k := range s.aliases {
		if strings.HasPrefix(k, prefix) {
			delete(s.aliases, k)
		}
	}
}
