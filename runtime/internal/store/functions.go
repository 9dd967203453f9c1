package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// FunctionEvent is one change seen by WatchFunctions.
type FunctionEvent struct {
	Name string
	// Function is nil when the function was deleted.
	Function *kumo.Function
	Revision uint64
}

// checkName keeps names to Lambda's function-name alphabet, which is also
// a valid KV key and subject token: no '.', '*', '>' or whitespace can
// reach NATS and widen an operation to other keys.
func checkName(name string) error {
	if !kumo.ValidFunctionName(name) {
		return kumo.InvalidParameter("Function name %q must match [a-zA-Z0-9-_]{1,64}", name)
	}
	return nil
}

// GetFunction returns the function and its revision.
func (s *Store) GetFunction(ctx context.Context, name string) (*kumo.Function, uint64, error) {
	if err := checkName(name); err != nil {
		return nil, 0, err
	}
	e, err := s.kv.Get(ctx, name)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, fmt.Errorf("get function %q: %w", name, kumo.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get function %q: %w", name, err)
	}
	f, err := s.decodeFunction(e)
	if err != nil {
		return nil, 0, err
	}
	return f, e.Revision(), nil
}

// CreateFunction stores a new function; an existing one is a conflict.
func (s *Store) CreateFunction(ctx context.Context, f *kumo.Function) (uint64, error) {
	data, err := s.encodeFunction(f)
	if err != nil {
		return 0, err
	}
	rev, err := s.kv.Create(ctx, f.Name, data)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("create function %q: %w", f.Name, kumo.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("create function %q: %w", f.Name, err)
	}
	return rev, nil
}

// UpdateFunction replaces the function if it is still at revision rev.
// A changed function is a conflict, a missing one not found.
func (s *Store) UpdateFunction(ctx context.Context, f *kumo.Function, rev uint64) (uint64, error) {
	data, err := s.encodeFunction(f)
	if err != nil {
		return 0, err
	}
	// Revision 0 would mean "create if absent" to NATS; an update must
	// never resurrect a function.
	if rev != 0 {
		next, err := s.kv.Update(ctx, f.Name, data, rev)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, fmt.Errorf("update function %q: %w", f.Name, err)
		}
	}
	if _, _, err := s.GetFunction(ctx, f.Name); err != nil {
		return 0, fmt.Errorf("update function %q: %w", f.Name, err)
	}
	return 0, fmt.Errorf("update function %q at revision %d: %w", f.Name, rev, kumo.ErrConflict)
}

// DeleteFunction removes the function and purges its logs.
func (s *Store) DeleteFunction(ctx context.Context, name string) error {
	if _, _, err := s.GetFunction(ctx, name); err != nil {
		return fmt.Errorf("delete function: %w", err)
	}
	if err := s.kv.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete function %q: %w", name, err)
	}
	if err := s.PurgeLogs(ctx, name); err != nil {
		return fmt.Errorf("delete function %q: %w", name, err)
	}
	return nil
}

// ListFunctions returns every function, sorted by name.
func (s *Store) ListFunctions(ctx context.Context) ([]*kumo.Function, error) {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list functions: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var fns []*kumo.Function
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("list functions: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list functions: watcher closed")
			}
			// nil marks the end of the initial values.
			if e == nil {
				slices.SortFunc(fns, func(a, b *kumo.Function) int { return strings.Compare(a.Name, b.Name) })
				return fns, nil
			}
			f, err := s.decodeFunction(e)
			if err != nil {
				return nil, fmt.Errorf("list functions: %w", err)
			}
			fns = append(fns, f)
		}
	}
}

// WatchFunctions sends every current function, then each later put and
// delete. The channel is closed when ctx is done or the store closes. An
// undecodable value is logged and skipped, since one bad entry must not
// stop every host from seeing the rest.
func (s *Store) WatchFunctions(ctx context.Context) (<-chan FunctionEvent, error) {
	entries, err := kvWatchDecoded(ctx, s, s.kv, s.decodeFunction)
	if err != nil {
		return nil, fmt.Errorf("watch functions: %w", err)
	}
	out := make(chan FunctionEvent)
	go func() {
		defer close(out)
		for e := range entries {
			if e.Key == "" {
				continue // the end-of-initial-values marker
			}
			select {
			case out <- FunctionEvent{Name: e.Key, Function: e.Value, Revision: e.Revision}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
