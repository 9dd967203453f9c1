package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// eventConfigsBucket holds every function's event-invoke configs in one
// document per function, so a function's configs change atomically and
// go away with one delete.
const eventConfigsBucket = "kumo_event_configs"

type eventConfigsDoc struct {
	Configs []kumo.EventInvokeConfig `json:"configs"`
}

func (s *Store) setupEventConfigs(ctx context.Context, cfg Config) error {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      eventConfigsBucket,
		Description: "kumo event-invoke configs, one JSON document per function name",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", eventConfigsBucket, err)
	}
	s.eventConfigs = kv
	return nil
}

// GetEventInvokeConfigs returns the function's configs and the revision to
// update them at; a function without any has none at revision 0.
func (s *Store) GetEventInvokeConfigs(ctx context.Context, function string) ([]kumo.EventInvokeConfig, uint64, error) {
	if err := checkName(function); err != nil {
		return nil, 0, err
	}
	e, err := s.eventConfigs.Get(ctx, function)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get event invoke configs of %q: %w", function, err)
	}
	var doc eventConfigsDoc
	if err := json.Unmarshal(e.Value(), &doc); err != nil {
		return nil, 0, fmt.Errorf("decode event invoke configs of %q revision %d: %w", function, e.Revision(), err)
	}
	return doc.Configs, e.Revision(), nil
}

// PutEventInvokeConfigs replaces the function's configs if they are still
// at revision rev (0: there were none). An empty list removes them. A
// concurrent change is a conflict.
func (s *Store) PutEventInvokeConfigs(ctx context.Context, function string, configs []kumo.EventInvokeConfig, rev uint64) (uint64, error) {
	if err := checkName(function); err != nil {
		return 0, err
	}
	if len(configs) == 0 {
		if rev == 0 {
			return 0, nil
		}
		err := s.eventConfigs.Delete(ctx, function, jetstream.LastRevision(rev))
		if err != nil {
			return 0, s.eventConfigConflict(function, err)
		}
		return 0, nil
	}
	data, err := json.Marshal(eventConfigsDoc{Configs: configs})
	if err != nil {
		return 0, fmt.Errorf("encode event invoke configs of %q: %w", function, err)
	}
	var next uint64
	if rev == 0 {
		next, err = s.eventConfigs.Create(ctx, function, data)
	} else {
		next, err = s.eventConfigs.Update(ctx, function, data, rev)
	}
	if err != nil {
		return 0, s.eventConfigConflict(function, err)
	}
	return next, nil
}

func (s *Store) eventConfigConflict(function string, err error) error {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("put event invoke configs of %q: %w", function, kumo.ErrConflict)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return fmt.Errorf("put event invoke configs of %q: %w", function, kumo.ErrConflict)
	}
	return fmt.Errorf("put event invoke configs of %q: %w", function, err)
}

// DeleteEventInvokeConfigs removes every config of a function; it is
// idempotent (the function may never have had one).
func (s *Store) DeleteEventInvokeConfigs(ctx context.Context, function string) error {
	if err := checkName(function); err != nil {
		return err
	}
	if err := s.eventConfigs.Purge(ctx, function); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete event invoke configs of %q: %w", function, err)
	}
	return nil
}
