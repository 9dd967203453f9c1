package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Buckets for function URL configs and resource policies. Both are keyed
// NAME for the unqualified function and NAME.QUALIFIER for an alias or a
// version; names and qualifiers cannot contain '.', so NAME and NAME.*
// select exactly one function's entries.
const (
	urlsBucket     = "kumo_urls"
	policiesBucket = "kumo_policies"
)

// accessBuckets are the KV buckets behind function URLs and policies.
type accessBuckets struct {
	urls     jetstream.KeyValue
	policies jetstream.KeyValue
}

func (s *Store) setupAccess(ctx context.Context, replicas int) error {
	for _, b := range []struct {
		name, desc string
		kv         *jetstream.KeyValue
	}{
		{urlsBucket, "kumo function URL configs, key NAME or NAME.QUALIFIER", &s.access.urls},
		{policiesBucket, "kumo resource policies, key NAME or NAME.QUALIFIER", &s.access.policies},
	} {
		kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		})
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	return nil
}

// Entry is one stored value with its revision. In a watch, a nil Value is
// a delete, and an Entry with an empty Key marks the end of the initial
// values.
type Entry[T any] struct {
	Key      string
	Value    *T
	Revision uint64
}

// AccessKey is the key of a function's (qualifier's) URL config or policy.
func AccessKey(function, qualifier string) (string, error) {
	if err := checkName(function); err != nil {
		return "", err
	}
	if qualifier == "" {
		return function, nil
	}
	if !kumo.ValidQualifier(qualifier) || strings.HasPrefix(qualifier, "$") {
		return "", kumo.InvalidParameter("Qualifier %q must match [a-zA-Z0-9-_]{1,128}", qualifier)
	}
	return function + "." + qualifier, nil
}

// GetURLConfig returns a URL config and its revision.
func (s *Store) GetURLConfig(ctx context.Context, function, qualifier string) (*kumo.FunctionURLConfig, uint64, error) {
	return kvGet(ctx, s.access.urls, function, qualifier, checkURLConfig)
}

// CreateURLConfig stores a new URL config; an existing one is a conflict.
func (s *Store) CreateURLConfig(ctx context.Context, c *kumo.FunctionURLConfig) (uint64, error) {
	return kvPut(ctx, s.access.urls, c.Function, c.Qualifier, c, 0)
}

// UpdateURLConfig replaces a URL config still at revision rev.
func (s *Store) UpdateURLConfig(ctx context.Context, c *kumo.FunctionURLConfig, rev uint64) (uint64, error) {
	return kvPut(ctx, s.access.urls, c.Function, c.Qualifier, c, rev)
}

// DeleteURLConfig removes a URL config still at revision rev.
func (s *Store) DeleteURLConfig(ctx context.Context, function, qualifier string, rev uint64) error {
	return kvDelete(ctx, s.access.urls, function, qualifier, rev)
}

// ListURLConfigs returns a function's URL configs (all qualifiers), sorted
// by key.
func (s *Store) ListURLConfigs(ctx context.Context, function string) ([]Entry[kumo.FunctionURLConfig], error) {
	return kvList(ctx, s.access.urls, function, checkURLConfig)
}

// WatchURLConfigs sends every URL config, an end-of-initial-values marker,
// then each later put and delete, until ctx is done or the store closes.
func (s *Store) WatchURLConfigs(ctx context.Context) (<-chan Entry[kumo.FunctionURLConfig], error) {
	return kvWatch(ctx, s, s.access.urls, checkURLConfig)
}

// GetPolicy returns a resource policy and its revision.
func (s *Store) GetPolicy(ctx context.Context, function, qualifier string) (*kumo.Policy, uint64, error) {
	return kvGet(ctx, s.access.policies, function, qualifier, checkPolicy)
}

// PutPolicy creates (rev 0) or replaces (at revision rev) a policy.
func (s *Store) PutPolicy(ctx context.Context, p *kumo.Policy, rev uint64) (uint64, error) {
	return kvPut(ctx, s.access.policies, p.Function, p.Qualifier, p, rev)
}

// DeletePolicy removes a policy still at revision rev.
func (s *Store) DeletePolicy(ctx context.Context, function, qualifier string, rev uint64) error {
	return kvDelete(ctx, s.access.policies, function, qualifier, rev)
}

// ListPolicies returns a function's policies (all qualifiers).
func (s *Store) ListPolicies(ctx context.Context, function string) ([]Entry[kumo.Policy], error) {
	return kvList(ctx, s.access.policies, function, checkPolicy)
}

// WatchPolicies is WatchURLConfigs for policies.
func (s *Store) WatchPolicies(ctx context.Context) (<-chan Entry[kumo.Policy], error) {
	return kvWatch(ctx, s, s.access.policies, checkPolicy)
}

// The value must name its own key, so one key can never shadow another in
// a host's index.
func checkURLConfig(key string, c *kumo.FunctionURLConfig) error {
	if k, err := AccessKey(c.Function, c.Qualifier); err != nil || k != key {
		return fmt.Errorf("value names %s:%s", c.Function, c.Qualifier)
	}
	if len(c.ID) != kumo.URLIDLen {
		return fmt.Errorf("url id %q has the wrong length", c.ID)
	}
	return nil
}

func checkPolicy(key string, p *kumo.Policy) error {
	if k, err := AccessKey(p.Function, p.Qualifier); err != nil || k != key {
		return fmt.Errorf("value names %s:%s", p.Function, p.Qualifier)
	}
	return nil
}

func kvGet[T any](ctx context.Context, kv jetstream.KeyValue, function, qualifier string, check func(string, *T) error) (*T, uint64, error) {
	key, err := AccessKey(function, qualifier)
	if err != nil {
		return nil, 0, err
	}
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("get %s %s: %w", kv.Bucket(), key, kumo.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get %s %s: %w", kv.Bucket(), key, err)
	}
	v, err := decodeEntry(e, check)
	if err != nil {
		return nil, 0, err
	}
	return v, e.Revision(), nil
}

// kvPut creates the value when rev is 0 (an existing one is a conflict)
// and otherwise updates it if still at rev (a changed or missing one is a
// conflict).
func kvPut(ctx context.Context, kv jetstream.KeyValue, function, qualifier string, v any, rev uint64) (uint64, error) {
	key, err := AccessKey(function, qualifier)
	if err != nil {
		return 0, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("encode %s %s: %w", kv.Bucket(), key, err)
	}
	var next uint64
	if rev == 0 {
		next, err = kv.Create(ctx, key, data)
	} else {
		next, err = kv.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("put %s %s at revision %d: %w", kv.Bucket(), key, rev, kumo.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("put %s %s: %w", kv.Bucket(), key, err)
	}
	return next, nil
}

func kvDelete(ctx context.Context, kv jetstream.KeyValue, function, qualifier string, rev uint64) error {
	key, err := AccessKey(function, qualifier)
	if err != nil {
		return err
	}
	if rev == 0 {
		return kumo.InvalidParameter("delete %s %s needs the revision read", kv.Bucket(), key)
	}
	err = kv.Delete(ctx, key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("delete %s %s at revision %d: %w", kv.Bucket(), key, rev, kumo.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete %s %s: %w", kv.Bucket(), key, err)
	}
	return nil
}

func kvList[T any](ctx context.Context, kv jetstream.KeyValue, function string, check func(string, *T) error) ([]Entry[T], error) {
	if err := checkName(function); err != nil {
		return nil, err
	}
	w, err := kv.WatchFiltered(ctx, []string{function, function + ".*"}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", kv.Bucket(), function, err)
	}
	defer func() { _ = w.Stop() }()
	var out []Entry[T]
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list %s of %s: %w", kv.Bucket(), function, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("list %s of %s: watcher closed", kv.Bucket(), function)
			}
			if e == nil {
				slices.SortFunc(out, func(a, b Entry[T]) int { return strings.Compare(a.Key, b.Key) })
				return out, nil
			}
			v, err := decodeEntry(e, check)
			if err != nil {
				return nil, fmt.Errorf("list %s of %s: %w", kv.Bucket(), function, err)
			}
			out = append(out, Entry[T]{Key: e.Key(), Value: v, Revision: e.Revision()})
		}
	}
}

// kvWatch skips (and logs) undecodable values: one bad entry must not stop
// every host from seeing the rest.
func kvWatch[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, check func(string, *T) error) (<-chan Entry[T], error) {
	return kvWatchDecoded(ctx, s, kv, func(e jetstream.KeyValueEntry) (*T, error) { return decodeEntry(e, check) })
}

// kvWatchDecoded is kvWatch with the decoding given, for values that are
// not plain JSON (functions, whose environment is sealed).
func kvWatchDecoded[T any](ctx context.Context, s *Store, kv jetstream.KeyValue, decode func(jetstream.KeyValueEntry) (*T, error)) (<-chan Entry[T], error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", kv.Bucket(), err)
	}
	out := make(chan Entry[T])
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }()
		for {
			var e jetstream.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case e, ok = <-w.Updates():
				if !ok {
					return
				}
			}
			var ev Entry[T]
			if e != nil {
				ev = Entry[T]{Key: e.Key(), Revision: e.Revision()}
				if e.Operation() == jetstream.KeyValuePut {
					v, err := decode(e)
					if err != nil {
						s.log.Error("skip undecodable entry", "bucket", kv.Bucket(), "key", e.Key(), "revision", e.Revision(), "error", err)
						continue
					}
					ev.Value = v
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			case <-s.done:
				return
			}
		}
	}()
	return out, nil
}

func decodeEntry[T any](e jetstream.KeyValueEntry, check func(string, *T) error) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return nil, fmt.Errorf("decode %s revision %d: %w", e.Key(), e.Revision(), err)
	}
	if err := check(e.Key(), v); err != nil {
		return nil, fmt.Errorf("decode %s revision %d: %w", e.Key(), e.Revision(), err)
	}
	return v, nil
}
