package control

import (
	"context"
	"errors"
	"fmt"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// PutFunctionConcurrency reserves n concurrent executions for a function,
// taken from the account's pool; 0 throttles every invocation.
func (s *Service) PutFunctionConcurrency(ctx context.Context, name string, n *int) (int, error) {
	if n == nil {
		return 0, validationError("null", "reservedConcurrentExecutions", "Member must not be null")
	}
	if *n < 0 {
		return 0, validationError(*n, "reservedConcurrentExecutions", "Member must have value greater than or equal to 0")
	}
	err := s.setReservation(ctx, name, func(others int) error {
		if others+*n > s.limits.ConcurrentExecutions-s.limits.UnreservedMinimum {
			return kumo.InvalidParameter("Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [%d].", s.limits.UnreservedMinimum)
		}
		return nil
	}, n)
	return *n, err
}

// GetFunctionConcurrency returns the reservation, nil when there is none.
func (s *Service) GetFunctionConcurrency(ctx context.Context, name string) (*int, error) {
	f, _, err := s.resolve(ctx, s.unqualified(name), "")
	if err != nil {
		return nil, err
	}
	return f.ReservedConcurrency, nil
}

// DeleteFunctionConcurrency returns the function to the unreserved pool.
func (s *Service) DeleteFunctionConcurrency(ctx context.Context, name string) error {
	return s.setReservation(ctx, name, func(int) error { return nil }, nil)
}

// unqualified keeps a qualifier in name from selecting a version: the
// reservation belongs to the function.
func (s *Service) unqualified(name string) string {
	if ref, err := s.scope.ParseFunctionName(name); err == nil {
		return ref.Name
	}
	return name
}

func (s *Service) setReservation(ctx context.Context, name string, check func(others int) error, n *int) error {
	ref, err := s.ref(name, "")
	if err != nil {
		return err
	}
	if ref.Qualifier != "" {
		return kumo.InvalidParameter("Concurrency is set on the function, not on a qualifier: %s", name)
	}
	for range 5 {
		cur, rev, err := s.resolve(ctx, ref.Name, "")
		if err != nil {
			return err
		}
		all, err := s.store.ListFunctions(ctx)
		if err != nil {
			return fmt.Errorf("list functions: %w", err)
		}
		others := 0
		for _, f := range all {
			if f.Name != cur.Name && f.ReservedConcurrency != nil {
				others += *f.ReservedConcurrency
			}
		}
		if err := check(others); err != nil {
			return err
		}
		next := cur.Clone()
		next.ReservedConcurrency = nil
		if n != nil {
			v := *n
			next.ReservedConcurrency = &v
		}
		// A reservation is not part of what runs: no new RevisionId.
		if _, err := s.store.UpdateFunction(ctx, next, rev); err != nil {
			if errors.Is(err, kumo.ErrConflict) {
				continue
			}
			return fmt.Errorf("set concurrency of %s: %w", cur.Name, err)
		}
		s.changed(next)
		return nil
	}
	return s.updateInProgress(ref.Name)
}

// Unreserved is the account's concurrency left to functions without a
// reservation.
func (s *Service) Unreserved(ctx context.Context) (int, error) {
	u, err := s.Usage(ctx)
	return u.Unreserved, err
}
