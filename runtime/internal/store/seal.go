package store

import (
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/kumo-dev/kumo/runtime/internal/seal"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Sealer encrypts values at rest; *seal.Sealer is the implementation.
type Sealer interface {
	Seal(plaintext []byte, context ...string) (*seal.Envelope, error)
	Open(e *seal.Envelope, context ...string) ([]byte, error)
}

// WithSealer makes the store keep every function's environment variables
// sealed: the engine holds only the sealed data key and the ciphertext,
// while callers keep seeing plaintext Environment. Without it environments
// are stored in clear (tests, tools reading a copy of the engine).
func WithSealer(sl Sealer) Option {
	return func(o *options) {
		if sl != nil {
			o.sealer = sl
		}
	}
}

// fieldEnvironment is the field name bound into the sealed environment's
// associated data.
const fieldEnvironment = "environment"

// storedFunction is a function as it is written to the engine: the
// function without its environment, plus the sealed environment.
type storedFunction struct {
	*kumo.Function
	SealedEnvironment *seal.Envelope `json:"sealedEnvironment,omitempty"`
}

// sealContext binds a sealed field to its function and version, so
// ciphertext copied to another function, version or field does not open.
func sealContext(f *kumo.Function, field string) []string {
	return []string{f.Name, f.VersionName(), field}
}

// encodeFunction is the one way a function is turned into a KV value.
func (s *Store) encodeFunction(f *kumo.Function) ([]byte, error) {
	if f == nil {
		return nil, kumo.InvalidParameter("Function must not be nil")
	}
	if err := checkName(f.Name); err != nil {
		return nil, err
	}
	v := storedFunction{Function: f}
	if s.sealer != nil && len(f.Environment) > 0 {
		plain, err := json.Marshal(f.Environment)
		if err != nil {
			return nil, fmt.Errorf("encode function %q: %w", f.Name, err)
		}
		v.SealedEnvironment, err = s.sealer.Seal(plain, sealContext(f, fieldEnvironment)...)
		clear(plain)
		if err != nil {
			return nil, fmt.Errorf("encode function %q: %w", f.Name, err)
		}
		// A shallow copy without the map: the caller's value is untouched
		// and the clear text never reaches the encoder.
		c := *f
		c.Environment = nil
		v.Function = &c
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode function %q: %w", f.Name, err)
	}
	return data, nil
}

// decodeFunction is the one way a KV value is turned into a function. The
// key is authoritative: a value naming another function would let one key
// shadow another in every host's cache.
func (s *Store) decodeFunction(e jetstream.KeyValueEntry) (*kumo.Function, error) {
	var f kumo.Function
	v := storedFunction{Function: &f}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, fmt.Errorf("decode function %q revision %d: %w", e.Key(), e.Revision(), err)
	}
	if f.Name != e.Key() {
		return nil, fmt.Errorf("decode function %q revision %d: value names %q", e.Key(), e.Revision(), f.Name)
	}
	if v.SealedEnvironment == nil {
		// Values written before sealing existed, or by a store without a
		// sealer, hold the environment in clear; the next write seals it.
		return &f, nil
	}
	if f.Environment != nil {
		return nil, fmt.Errorf("decode function %q revision %d: both a clear and a sealed environment", e.Key(), e.Revision())
	}
	if s.sealer == nil {
		return nil, fmt.Errorf("decode function %q revision %d: environment is sealed and this store has no key", e.Key(), e.Revision())
	}
	plain, err := s.sealer.Open(v.SealedEnvironment, sealContext(&f, fieldEnvironment)...)
	if err != nil {
		return nil, fmt.Errorf("decode function %q revision %d: environment: %w", e.Key(), e.Revision(), err)
	}
	defer clear(plain)
	if err := json.Unmarshal(plain, &f.Environment); err != nil {
		return nil, fmt.Errorf("decode function %q revision %d: environment: %w", e.Key(), e.Revision(), err)
	}
	return &f, nil
}
