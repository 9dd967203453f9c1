package control

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// EventConfigStore holds event-invoke configs, all of a function's in one
// document updated under optimistic concurrency.
type EventConfigStore interface {
	GetEventInvokeConfigs(ctx context.Context, function string) ([]kumo.EventInvokeConfig, uint64, error)
	PutEventInvokeConfigs(ctx context.Context, function string, configs []kumo.EventInvokeConfig, rev uint64) (uint64, error)
}

// EventConfigs implements Put/Get/Update/Delete/ListFunctionEventInvokeConfigs.
type EventConfigs struct {
	fns   *Service
	store EventConfigStore
	now   func() time.Time
}

// NewEventConfigs returns the event-invoke config operations; fns resolves
// the function and qualifier each one names.
func NewEventConfigs(fns *Service, store EventConfigStore) *EventConfigs {
	return &EventConfigs{fns: fns, store: store, now: fns.now}
}

// EventConfigInput is a Put or Update request; nil and "" mean unset (for
// Put) or unchanged (for Update).
type EventConfigInput struct {
	MaximumRetryAttempts     *int
	MaximumEventAgeInSeconds *int
	// OnSuccess and OnFailure are nil when the request has no
	// DestinationConfig member for them; "" clears them.
	OnSuccess *string
	OnFailure *string
}

// maxConfigWrites bounds the retries of a write that lost a race.
const maxConfigWrites = 5

// target resolves name and qualifier to the function's bare name and the
// config's qualifier ($LATEST when none), checking that they exist.
func (c *EventConfigs) target(ctx context.Context, name, qualifier string) (string, string, error) {
	ref, err := c.fns.Ref(name, qualifier)
	if err != nil {
		return "", "", err
	}
	if _, err := c.fns.GetFunction(ctx, name, qualifier); err != nil {
		return "", "", err
	}
	if ref.Qualifier == "" {
		ref.Qualifier = kumo.VersionLatest
	}
	return ref.Name, ref.Qualifier, nil
}

func (c *EventConfigs) noConfig(name, qualifier string) error {
	return kumo.NotFound("The function %s doesn't have an EventInvokeConfig", c.fns.scope.QualifiedARN(name, qualifier))
}

// Put replaces the config of the qualifier with in.
func (c *EventConfigs) Put(ctx context.Context, name, qualifier string, in EventConfigInput) (kumo.EventInvokeConfig, error) {
	return c.write(ctx, name, qualifier, in, false)
}

// Update merges in into the existing config of the qualifier.
func (c *EventConfigs) Update(ctx context.Context, name, qualifier string, in EventConfigInput) (kumo.EventInvokeConfig, error) {
	return c.write(ctx, name, qualifier, in, true)
}

func (c *EventConfigs) write(ctx context.Context, name, qualifier string, in EventConfigInput, merge bool) (kumo.EventInvokeConfig, error) {
	fn, q, err := c.target(ctx, name, qualifier)
	if err != nil {
		return kumo.EventInvokeConfig{}, err
	}
	if err := c.validate(fn, in); err != nil {
		return kumo.EventInvokeConfig{}, err
	}
	for range maxConfigWrites {
		cfgs, rev, err := c.store.GetEventInvokeConfigs(ctx, fn)
		if err != nil {
			return kumo.EventInvokeConfig{}, fmt.Errorf("get event invoke configs of %s: %w", fn, err)
		}
		i := slices.IndexFunc(cfgs, func(e kumo.EventInvokeConfig) bool { return e.Qualifier == q })
		next := kumo.EventInvokeConfig{Qualifier: q}
		if merge {
			if i < 0 {
				return kumo.EventInvokeConfig{}, c.noConfig(fn, q)
			}
			next = cfgs[i]
		}
		if in.MaximumRetryAttempts != nil || !merge {
			next.MaximumRetryAttempts = in.MaximumRetryAttempts
		}
		if in.MaximumEventAgeInSeconds != nil || !merge {
			next.MaximumEventAgeInSeconds = in.MaximumEventAgeInSeconds
		}
		if in.OnSuccess != nil || !merge {
			next.OnSuccess = str(in.OnSuccess)
		}
		if in.OnFailure != nil || !merge {
			next.OnFailure = str(in.OnFailure)
		}
		next.LastModified = c.now().UTC()
		if i < 0 {
			cfgs = append(cfgs, next)
			slices.SortFunc(cfgs, func(a, b kumo.EventInvokeConfig) int { return strings.Compare(a.Qualifier, b.Qualifier) })
		} else {
			cfgs[i] = next
		}
		_, err = c.store.PutEventInvokeConfigs(ctx, fn, cfgs, rev)
		if errors.Is(err, kumo.ErrConflict) {
			continue
		}
		if err != nil {
			return kumo.EventInvokeConfig{}, fmt.Errorf("put event invoke config of %s: %w", fn, err)
		}
		c.fns.log.InfoContext(ctx, "event invoke config written", "function", fn, "qualifier", q)
		return next, nil
	}
	return kumo.EventInvokeConfig{}, kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", c.fns.scope.FunctionARN(fn))
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (c *EventConfigs) validate(fn string, in EventConfigInput) error {
	if n := in.MaximumRetryAttempts; n != nil && (*n < kumo.MinMaximumRetryAttempts || *n > kumo.MaxMaximumRetryAttempts) {
		return validationError(*n, "maximumRetryAttempts", fmt.Sprintf("Member must have value %s %d", bound(*n, kumo.MinMaximumRetryAttempts), limit(*n, kumo.MinMaximumRetryAttempts, kumo.MaxMaximumRetryAttempts)))
	}
	if n := in.MaximumEventAgeInSeconds; n != nil && (*n < kumo.MinMaximumEventAgeSeconds || *n > kumo.MaxMaximumEventAgeSeconds) {
		return validationError(*n, "maximumEventAgeInSeconds", fmt.Sprintf("Member must have value %s %d", bound(*n, kumo.MinMaximumEventAgeSeconds), limit(*n, kumo.MinMaximumEventAgeSeconds, kumo.MaxMaximumEventAgeSeconds)))
	}
	for _, d := range []*string{in.OnSuccess, in.OnFailure} {
		if d == nil || *d == "" {
			continue
		}
		dest, err := c.fns.scope.ParseDestination(*d)
		if err != nil {
			return err
		}
		if dest.Kind == kumo.DestinationFunction && dest.Function.Name == fn {
			return kumo.InvalidParameter("You can't specify the function %s as a destination for itself.", c.fns.scope.FunctionARN(fn))
		}
	}
	return nil
}

func bound(n, lo int) string {
	if n < lo {
		return "greater than or equal to"
	}
	return "less than or equal to"
}

func limit(n, lo, hi int) int {
	if n < lo {
		return lo
	}
	return hi
}

// Get returns the config of the qualifier.
func (c *EventConfigs) Get(ctx context.Context, name, qualifier string) (kumo.EventInvokeConfig, error) {
	fn, q, err := c.target(ctx, name, qualifier)
	if err != nil {
		return kumo.EventInvokeConfig{}, err
	}
	cfgs, _, err := c.store.GetEventInvokeConfigs(ctx, fn)
	if err != nil {
		return kumo.EventInvokeConfig{}, fmt.Errorf("get event invoke configs of %s: %w", fn, err)
	}
	for _, e := range cfgs {
		if e.Qualifier == q {
			return e, nil
		}
	}
	return kumo.EventInvokeConfig{}, c.noConfig(fn, q)
}

// Delete removes the config of the qualifier.
func (c *EventConfigs) Delete(ctx context.Context, name, qualifier string) error {
	fn, q, err := c.target(ctx, name, qualifier)
	if err != nil {
		return err
	}
	for range maxConfigWrites {
		cfgs, rev, err := c.store.GetEventInvokeConfigs(ctx, fn)
		if err != nil {
			return fmt.Errorf("get event invoke configs of %s: %w", fn, err)
		}
		i := slices.IndexFunc(cfgs, func(e kumo.EventInvokeConfig) bool { return e.Qualifier == q })
		if i < 0 {
			return c.noConfig(fn, q)
		}
		_, err = c.store.PutEventInvokeConfigs(ctx, fn, slices.Delete(cfgs, i, i+1), rev)
		if errors.Is(err, kumo.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("delete event invoke config of %s: %w", fn, err)
		}
		c.fns.log.InfoContext(ctx, "event invoke config deleted", "function", fn, "qualifier", q)
		return nil
	}
	return kumo.Errorf(kumo.ErrConflict, "The operation cannot be performed at this time. An update is in progress for resource: %s", c.fns.scope.FunctionARN(fn))
}

// List pages through a function's configs sorted by qualifier; the marker
// is the qualifier the next page starts at.
func (c *EventConfigs) List(ctx context.Context, name, marker string, maxItems int) ([]kumo.EventInvokeConfig, string, error) {
	if maxItems == 0 {
		maxItems = 50
	}
	if maxItems < 1 || maxItems > 50 {
		return nil, "", validationError(maxItems, "maxItems", "Member must have value between 1 and 50")
	}
	fn, _, err := c.target(ctx, name, "")
	if err != nil {
		return nil, "", err
	}
	cfgs, _, err := c.store.GetEventInvokeConfigs(ctx, fn)
	if err != nil {
		return nil, "", fmt.Errorf("list event invoke configs of %s: %w", fn, err)
	}
	start := 0
	if marker != "" {
		start = slices.IndexFunc(cfgs, func(e kumo.EventInvokeConfig) bool { return e.Qualifier >= marker })
		if start < 0 {
			start = len(cfgs)
		}
	}
	end := min(start+maxItems, len(cfgs))
	next := ""
	if end < len(cfgs) {
		next = cfgs[end].Qualifier
	}
	return cfgs[start:end], next, nil
}

// ValidateDeadLetterTarget checks DeadLetterConfig.TargetArn: "" clears
// it, anything else must be a destination this host can deliver to.
func (s *Service) ValidateDeadLetterTarget(arn string) error {
	if arn == "" {
		return nil
	}
	_, err := s.scope.ParseDestination(arn)
	return err
}
