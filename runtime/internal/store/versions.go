package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Buckets for published versions (key NAME.N) and aliases (key NAME.ALIAS).
// Function names, version numbers and alias names cannot contain '.', so
// the key splits unambiguously and NAME.* lists one function's entries.
const (
	versionsBucket = "kumo_versions"
	aliasesBucket  = "kumo_aliases"
)

func (s *Store) setupVersions(ctx context.Context, replicas int) error {
	var err error
	for _, b := range []struct {
		name, desc string
		kv         *jetstream.KeyValue
	}{
		{versionsBucket, "kumo published function versions, immutable, key NAME.N", &s.versions},
		{aliasesBucket, "kumo function aliases, key NAME.ALIAS", &s.aliases},
	} {
		*b.kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
		})
		if err != nil {
			return fmt.Errorf("create bucket %s: %w", b.name, err)
		}
	}
	return nil
}

// keyedEntry presents a version's entry under the function's name, which
// is what decodeFunction checks the value against.
type keyedEntry struct {
	jetstream.KeyValueEntry
	key string
}

func (e keyedEntry) Key() string { return e.key }

func versionKey(name, version string) string { return name + "." + version }

func checkVersion(version string) error {
	if n, err := strconv.Atoi(version); err != nil || n < 1 || strconv.Itoa(n) != version {
		return kumo.InvalidParameter("Version %q must be a positive number", version)
	}
	return nil
}

// PutVersion stores a published version; versions are immutable, so an
// existing one is a conflict.
func (s *Store) PutVersion(ctx context.Context, f *kumo.Function) error {
	if err := checkVersion(f.Version); err != nil {
		return err
	}
	data, err := s.encodeFunction(f)
	if err != nil {
		return err
	}
	if _, err := s.versions.Create(ctx, versionKey(f.Name, f.Version), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("put version %s:%s: %w", f.Name, f.Version, kumo.ErrConflict)
		}
		return fmt.Errorf("put version %s:%s: %w", f.Name, f.Version, err)
	}
	return nil
}

// GetVersion returns a published version.
func (s *Store) GetVersion(ctx context.Context, name, version string) (*kumo.Function, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	e, err := s.versions.Get(ctx, versionKey(name, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("get version %s:%s: %w", name, version, kumo.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get version %s:%s: %w", name, version, err)
	}
	return s.decodeFunction(keyedEntry{e, name})
}

// ListVersions returns a function's published versions in numeric order.
func (s *Store) ListVersions(ctx context.Context, name string) ([]*kumo.Function, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	entries, err := listPrefix(ctx, s.versions, name)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	out := make([]*kumo.Function, 0, len(entries))
	for _, e := range entries {
		f, err := s.decodeFunction(keyedEntry{e, name})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *kumo.Function) int {
		x, _ := strconv.Atoi(a.Version)
		y, _ := strconv.Atoi(b.Version)
		return x - y
	})
	return out, nil
}

// DeleteVersion removes a published version.
func (s *Store) DeleteVersion(ctx context.Context, name, version string) error {
	if _, err := s.GetVersion(ctx, name, version); err != nil {
		return err
	}
	if err := s.versions.Delete(ctx, versionKey(name, version)); err != nil {
		return fmt.Errorf("delete version %s:%s: %w", name, version, err)
	}
	return nil
}

// listPrefix returns the live entries whose key is NAME.something.
func listPrefix(ctx context.Context, kv jetstream.KeyValue, name string) ([]jetstream.KeyValueEntry, error) {
	w, err := kv.Watch(ctx, name+".*", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer func() { _ = w.Stop() }()
	var out []jetstream.KeyValueEntry
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("watcher closed")
			}
			if e == nil {
				return out, nil
			}
			out = append(out, e)
		}
	}
}

// CreateAlias stores a new alias; an existing one is a conflict.
func (s *Store) CreateAlias(ctx context.Context, a *kumo.Alias) (uint64, error) {
	data, err := encodeAlias(a)
	if err != nil {
		return 0, err
	}
	rev, err := s.aliases.Create(ctx, versionKey(a.Function, a.Name), data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("create alias %s:%s: %w", a.Function, a.Name, kumo.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("create alias %s:%s: %w", a.Function, a.Name, err)
	}
	return rev, nil
}

// GetAlias returns an alias and its revision.
func (s *Store) GetAlias(ctx context.Context, function, name string) (*kumo.Alias, uint64, error) {
	if err := checkName(function); err != nil {
		return nil, 0, err
	}
	if !kumo.ValidQualifier(name) {
		return nil, 0, kumo.InvalidParameter("Alias name %q is not valid", name)
	}
	e, err := s.aliases.Get(ctx, versionKey(function, name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("get alias %s:%s: %w", function, name, kumo.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get alias %s:%s: %w", function, name, err)
	}
	a, err := decodeAlias(e)
	return a, e.Revision(), err
}

// UpdateAlias replaces an alias still at revision rev.
func (s *Store) UpdateAlias(ctx context.Context, a *kumo.Alias, rev uint64) (uint64, error) {
	data, err := encodeAlias(a)
	if err != nil {
		return 0, err
	}
	next, err := s.aliases.Update(ctx, versionKey(a.Function, a.Name), data, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, fmt.Errorf("update alias %s:%s: %w", a.Function, a.Name, kumo.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("update alias %s:%s: %w", a.Function, a.Name, err)
	}
	return next, nil
}

// DeleteAlias removes an alias.
func (s *Store) DeleteAlias(ctx context.Context, function, name string) error {
	if _, _, err := s.GetAlias(ctx, function, name); err != nil {
		return err
	}
	if err := s.aliases.Delete(ctx, versionKey(function, name)); err != nil {
		return fmt.Errorf("delete alias %s:%s: %w", function, name, err)
	}
	return nil
}

// ListAliases returns a function's aliases sorted by name.
func (s *Store) ListAliases(ctx context.Context, function string) ([]*kumo.Alias, error) {
	if err := checkName(function); err != nil {
		return nil, err
	}
	entries, err := listPrefix(ctx, s.aliases, function)
	if err != nil {
		return nil, fmt.Errorf("list aliases of %s: %w", function, err)
	}
	out := make([]*kumo.Alias, 0, len(entries))
	for _, e := range entries {
		a, err := decodeAlias(e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *kumo.Alias) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// DeleteVersionsAndAliases removes everything published for a function;
// DeleteFunction's caller runs it so no alias outlives its function.
func (s *Store) DeleteVersionsAndAliases(ctx context.Context, function string) error {
	if err := checkName(function); err != nil {
		return err
	}
	var errs []error
	for _, kv := range []jetstream.KeyValue{s.aliases, s.versions} {
		entries, err := listPrefix(ctx, kv, function)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range entries {
			if err := kv.Delete(ctx, e.Key()); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete versions and aliases of %s: %w", function, err)
	}
	return nil
}

// AliasEvent is one change seen by WatchAliases.
type AliasEvent struct {
	Function, Name string
	Alias          *kumo.Alias // nil when deleted
}

// WatchAliases sends every alias, then each change, until ctx ends.
func (s *Store) WatchAliases(ctx context.Context) (<-chan AliasEvent, error) {
	entries, err := kvWatch(ctx, s, s.aliases, func(key string, a *kumo.Alias) error {
		if versionKey(a.Function, a.Name) != key {
			return fmt.Errorf("value names %s:%s", a.Function, a.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("watch aliases: %w", err)
	}
	out := make(chan AliasEvent)
	go func() {
		defer close(out)
		for e := range entries {
			fn, name, found := strings.Cut(e.Key, ".")
			if !found {
				continue // the end-of-initial-values marker
			}
			select {
			case out <- AliasEvent{Function: fn, Name: name, Alias: e.Value}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func encodeAlias(a *kumo.Alias) ([]byte, error) {
	if err := checkName(a.Function); err != nil {
		return nil, err
	}
	if !kumo.ValidQualifier(a.Name) {
		return nil, kumo.InvalidParameter("Alias name %q is not valid", a.Name)
	}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alias %s:%s: %w", a.Function, a.Name, err)
	}
	return data, nil
}

func decodeAlias(e jetstream.KeyValueEntry) (*kumo.Alias, error) {
	var a kumo.Alias
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return nil, fmt.Errorf("decode alias %q: %w", e.Key(), err)
	}
	if versionKey(a.Function, a.Name) != e.Key() {
		return nil, fmt.Errorf("decode alias %q: value names %s:%s", e.Key(), a.Function, a.Name)
	}
	return &a, nil
}
