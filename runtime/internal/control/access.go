package control

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// AccessStore is the part of the engine holding function URL configs and
// resource policies. The Service finds it on its Store by type assertion,
// so stores (and fakes) without it still serve everything else.
type AccessStore interface {
	GetURLConfig(ctx context.Context, function, qualifier string) (*kumo.FunctionURLConfig, uint64, error)
	CreateURLConfig(ctx context.Context, c *kumo.FunctionURLConfig) (uint64, error)
	UpdateURLConfig(ctx context.Context, c *kumo.FunctionURLConfig, rev uint64) (uint64, error)
	DeleteURLConfig(ctx context.Context, function, qualifier string, rev uint64) error
	ListURLConfigs(ctx context.Context, function string) ([]store.Entry[kumo.FunctionURLConfig], error)
	WatchURLConfigs(ctx context.Context) (<-chan store.Entry[kumo.FunctionURLConfig], error)

	GetPolicy(ctx context.Context, function, qualifier string) (*kumo.Policy, uint64, error)
	PutPolicy(ctx context.Context, p *kumo.Policy, rev uint64) (uint64, error)
	DeletePolicy(ctx context.Context, function, qualifier string, rev uint64) error
	ListPolicies(ctx context.Context, function string) ([]store.Entry[kumo.Policy], error)
	WatchPolicies(ctx context.Context) (<-chan store.Entry[kumo.Policy], error)
}

func (s *Service) accessStore() (AccessStore, error) {
	as, ok := s.store.(AccessStore)
	if !ok {
		return nil, kumo.Errorf(kumo.ErrUnsupported, "Function URLs and resource policies are not supported by this store")
	}
	return as, nil
}

// accessIndex is this host's copy of every URL config and policy, which
// the function-URL path reads instead of the store. Both the store's
// watches and this host's own writes feed it, ordered by KV revision, so a
// host sees its own writes at once (a removed permission stops working
// before RemovePermission returns) and a late, older watch event never
// undoes a newer value. Deletes leave a tombstone for the same reason.
type accessIndex struct {
	mu       sync.RWMutex
	urls     map[string]indexed[kumo.FunctionURLConfig]
	byID     map[string]*kumo.FunctionURLConfig
	policies map[string]indexed[kumo.Policy]
}

type indexed[T any] struct {
	v   *T // nil: deleted
	rev uint64
}

// newer reports whether (rev, v) supersedes cur: a higher revision, or a
// delete of the very revision cur holds (this host deleted it with that
// revision as the precondition).
func newer[T any](cur indexed[T], ok bool, rev uint64, v *T) bool {
	if !ok || rev > cur.rev {
		return true
	}
	return rev == cur.rev && v == nil && cur.v != nil
}

func (x *accessIndex) applyURL(key string, rev uint64, c *kumo.FunctionURLConfig) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.urls == nil {
		x.urls = map[string]indexed[kumo.FunctionURLConfig]{}
		x.byID = map[string]*kumo.FunctionURLConfig{}
	}
	cur, ok := x.urls[key]
	if !newer(cur, ok, rev, c) {
		return
	}
	if cur.v != nil && x.byID[cur.v.ID] == cur.v {
		delete(x.byID, cur.v.ID)
	}
	x.urls[key] = indexed[kumo.FunctionURLConfig]{v: c, rev: rev}
	if c != nil {
		x.byID[c.ID] = c
	}
}

func (x *accessIndex) applyPolicy(key string, rev uint64, p *kumo.Policy) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.policies == nil {
		x.policies = map[string]indexed[kumo.Policy]{}
	}
	cur, ok := x.policies[key]
	if newer(cur, ok, rev, p) {
		x.policies[key] = indexed[kumo.Policy]{v: p, rev: rev}
	}
}

// WatchAccess feeds the index from the store until the store closes. It
// returns once the index holds everything stored (or ctx is done), so a
// host that starts serving afterwards serves every existing URL.
func (s *Service) WatchAccess(ctx context.Context) error {
	as, err := s.accessStore()
	if err != nil {
		return err
	}
	// The watches outlive the start-up call; closing the store ends them.
	wctx := context.WithoutCancel(ctx)
	urls, err := as.WatchURLConfigs(wctx)
	if err != nil {
		return err
	}
	policies, err := as.WatchPolicies(wctx)
	if err != nil {
		return err
	}
	urlsLoaded, policiesLoaded := make(chan struct{}), make(chan struct{})
	go feed(urls, urlsLoaded, s.access.applyURL)
	go feed(policies, policiesLoaded, s.access.applyPolicy)
	for _, loaded := range []chan struct{}{urlsLoaded, policiesLoaded} {
		select {
		case <-loaded:
		case <-ctx.Done():
			return fmt.Errorf("load function URLs and policies: %w", ctx.Err())
		}
	}
	return nil
}

// feed applies a watch to the index and closes loaded after the initial
// values (or when the watch ends early, so nobody waits forever).
func feed[T any](events <-chan store.Entry[T], loaded chan struct{}, apply func(string, uint64, *T)) {
	var once sync.Once
	defer once.Do(func() { close(loaded) })
	for e := range events {
		if e.Key == "" {
			once.Do(func() { close(loaded) })
			continue
		}
		apply(e.Key, e.Revision, e.Value)
	}
}

// FunctionURL returns the config serving url id, from this host's index.
func (s *Service) FunctionURL(id string) (*kumo.FunctionURLConfig, bool) {
	s.access.mu.RLock()
	defer s.access.mu.RUnlock()
	c, ok := s.access.byID[id]
	if !ok {
		return nil, false
	}
	return c.Clone(), true
}

// AccessRequest is one call to authorize against a resource policy.
type AccessRequest struct {
	Function  string
	Qualifier string // "" for the unqualified function
	Action    string // lambda:InvokeFunctionUrl, …
	// Caller is the principal: Anonymous for an unsigned request.
	Caller Caller
	// Context holds the request's condition keys, for example
	// lambda:FunctionUrlAuthType.
	Context map[string]string
}

// Authorize evaluates the function's (qualifier's) resource policy from
// this host's index: an explicit Deny wins, then any Allow, else deny.
func (s *Service) Authorize(req AccessRequest) bool {
	key, err := store.AccessKey(req.Function, req.Qualifier)
	if err != nil {
		return false
	}
	s.access.mu.RLock()
	p := s.access.policies[key].v
	s.access.mu.RUnlock()
	if p == nil {
		return false
	}
	return evaluate(p, s.scope.QualifiedARN(req.Function, req.Qualifier), req)
}

// dropAccess deletes every URL config and policy of a function, all
// qualifiers included; DeleteFunction calls it first so that a function
// created again under the same name does not inherit them. A concurrent
// write makes a delete conflict; the loop then reads and deletes again.
func (s *Service) dropAccess(ctx context.Context, function string) error {
	as, ok := s.store.(AccessStore)
	if !ok {
		return nil
	}
	for range 5 {
		urls, err := as.ListURLConfigs(ctx, function)
		if err != nil {
			return fmt.Errorf("list URL configs of %s: %w", function, err)
		}
		policies, err := as.ListPolicies(ctx, function)
		if err != nil {
			return fmt.Errorf("list policies of %s: %w", function, err)
		}
		if len(urls) == 0 && len(policies) == 0 {
			return nil
		}
		for _, e := range urls {
			err := as.DeleteURLConfig(ctx, e.Value.Function, e.Value.Qualifier, e.Revision)
			if err != nil && !errors.Is(err, kumo.ErrConflict) {
				return fmt.Errorf("delete URL config %s: %w", e.Key, err)
			}
			s.access.applyURL(e.Key, e.Revision, nil)
		}
		for _, e := range policies {
			err := as.DeletePolicy(ctx, e.Value.Function, e.Value.Qualifier, e.Revision)
			if err != nil && !errors.Is(err, kumo.ErrConflict) {
				return fmt.Errorf("delete policy %s: %w", e.Key, err)
			}
			s.access.applyPolicy(e.Key, e.Revision, nil)
		}
	}
	return kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", s.scope.FunctionARN(function))
}

// DropQualifierAccess deletes the URL config and policy of one alias or
// version; DeleteAlias and deleting a version call it.
func (s *Service) DropQualifierAccess(ctx context.Context, function, qualifier string) error {
	as, ok := s.store.(AccessStore)
	if !ok || qualifier == "" {
		return nil
	}
	key, err := store.AccessKey(function, qualifier)
	if err != nil {
		return err
	}
	if c, rev, err := as.GetURLConfig(ctx, function, qualifier); err == nil {
		if err := as.DeleteURLConfig(ctx, c.Function, c.Qualifier, rev); err != nil && !errors.Is(err, kumo.ErrConflict) {
			return fmt.Errorf("delete URL config %s: %w", key, err)
		}
		s.access.applyURL(key, rev, nil)
	} else if !errors.Is(err, kumo.ErrNotFound) {
		return err
	}
	if p, rev, err := as.GetPolicy(ctx, function, qualifier); err == nil {
		if err := as.DeletePolicy(ctx, p.Function, p.Qualifier, rev); err != nil && !errors.Is(err, kumo.ErrConflict) {
			return fmt.Errorf("delete policy %s: %w", key, err)
		}
		s.access.applyPolicy(key, rev, nil)
	} else if !errors.Is(err, kumo.ErrNotFound) {
		return err
	}
	return nil
}
