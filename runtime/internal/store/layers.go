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

// layersBucket holds Lambda layer versions under NAME.N and, under NAME
// alone, the layer's version counter. The counter is never deleted, so
// version numbers are never reused, even after every version is gone.
const layersBucket = "kumo_layers"

// maxCounterAttempts bounds retries of the optimistic counter increment
// when publishers of the same layer race.
const maxCounterAttempts = 16

type layerCounter struct {
	LastVersion int64 `json:"lastVersion"`
}

func (s *Store) setupLayers(ctx context.Context, replicas int) error {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      layersBucket,
		Description: "kumo layer versions, key NAME.N; NAME holds the layer's version counter",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", layersBucket, err)
	}
	s.layers = kv
	return nil
}

func checkLayerName(name string) error {
	if !kumo.ValidLayerName(name) {
		return kumo.InvalidParameter("Layer name %q must match [a-zA-Z0-9-_]{1,64}", name)
	}
	return nil
}

func layerKey(name string, version int64) string {
	return name + "." + strconv.FormatInt(version, 10)
}

// CreateLayerVersion numbers lv (the layer's next version number) and
// stores it. It returns the number, which is also set on lv.
func (s *Store) CreateLayerVersion(ctx context.Context, lv *kumo.LayerVersion) (int64, error) {
	if err := checkLayerName(lv.Name); err != nil {
		return 0, err
	}
	n, err := s.nextLayerVersion(ctx, lv.Name)
	if err != nil {
		return 0, err
	}
	lv.Version = n
	data, err := json.Marshal(lv)
	if err != nil {
		return 0, fmt.Errorf("encode layer version %s:%d: %w", lv.Name, n, err)
	}
	if _, err := s.layers.Create(ctx, layerKey(lv.Name, n), data); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("create layer version %s:%d: %w", lv.Name, n, kumo.ErrConflict)
		}
		return 0, fmt.Errorf("create layer version %s:%d: %w", lv.Name, n, err)
	}
	return n, nil
}

// nextLayerVersion increments the layer's counter under optimistic
// concurrency and returns the new value.
func (s *Store) nextLayerVersion(ctx context.Context, name string) (int64, error) {
	for range maxCounterAttempts {
		var c layerCounter
		var rev uint64
		e, err := s.layers.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return 0, fmt.Errorf("read version counter of layer %s: %w", name, err)
		default:
			if err := json.Unmarshal(e.Value(), &c); err != nil {
				return 0, fmt.Errorf("decode version counter of layer %s: %w", name, err)
			}
			rev = e.Revision()
		}
		c.LastVersion++
		data, err := json.Marshal(c)
		if err != nil {
			return 0, fmt.Errorf("encode version counter of layer %s: %w", name, err)
		}
		if rev == 0 {
			_, err = s.layers.Create(ctx, name, data)
		} else {
			_, err = s.layers.Update(ctx, name, data, rev)
		}
		if err == nil {
			return c.LastVersion, nil
		}
		if !isRevisionConflict(err) {
			return 0, fmt.Errorf("increment version counter of layer %s: %w", name, err)
		}
	}
	return 0, fmt.Errorf("increment version counter of layer %s: %w", name, kumo.ErrConflict)
}

func isRevisionConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// GetLayerVersion returns one version of a layer.
func (s *Store) GetLayerVersion(ctx context.Context, name string, version int64) (*kumo.LayerVersion, error) {
	if err := checkLayerName(name); err != nil {
		return nil, err
	}
	if version < 1 {
		return nil, kumo.InvalidParameter("Layer version %d must be a positive number", version)
	}
	e, err := s.layers.Get(ctx, layerKey(name, version))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("get layer version %s:%d: %w", name, version, kumo.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get layer version %s:%d: %w", name, version, err)
	}
	return decodeLayerVersion(e)
}

// ListLayerVersions returns the versions of one layer, or of every layer
// when name is "", sorted by name and then version number.
func (s *Store) ListLayerVersions(ctx context.Context, name string) ([]*kumo.LayerVersion, error) {
	prefix := "*"
	if name != "" {
		if err := checkLayerName(name); err != nil {
			return nil, err
		}
		prefix = name
	}
	entries, err := listPrefix(ctx, s.layers, prefix)
	if err != nil {
		return nil, fmt.Errorf("list layer versions: %w", err)
	}
	out := make([]*kumo.LayerVersion, 0, len(entries))
	for _, e := range entries {
		lv, err := decodeLayerVersion(e)
		if err != nil {
			s.log.Error("skip undecodable layer version", "key", e.Key(), "error", err)
			continue
		}
		out = append(out, lv)
	}
	slices.SortFunc(out, func(a, b *kumo.LayerVersion) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(a.Version - b.Version)
	})
	return out, nil
}

// DeleteLayerVersion removes one version of a layer. It is idempotent: a
// missing version is not an error. The counter stays.
func (s *Store) DeleteLayerVersion(ctx context.Context, name string, version int64) error {
	if err := checkLayerName(name); err != nil {
		return err
	}
	if version < 1 {
		return kumo.InvalidParameter("Layer version %d must be a positive number", version)
	}
	if _, err := s.layers.Get(ctx, layerKey(name, version)); errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err := s.layers.Purge(ctx, layerKey(name, version)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete layer version %s:%d: %w", name, version, err)
	}
	return nil
}

func decodeLayerVersion(e jetstream.KeyValueEntry) (*kumo.LayerVersion, error) {
	var lv kumo.LayerVersion
	if err := json.Unmarshal(e.Value(), &lv); err != nil {
		return nil, fmt.Errorf("decode layer version %q: %w", e.Key(), err)
	}
	if layerKey(lv.Name, lv.Version) != e.Key() {
		return nil, fmt.Errorf("decode layer version %q: value names %s:%d", e.Key(), lv.Name, lv.Version)
	}
	return &lv, nil
}
