package kumod

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kumo-dev/kumo/runtime/internal/seal"
	"github.com/kumo-dev/kumo/runtime/internal/store"
)

// masterKeyFile holds the key that seals every function's environment.
// Losing it loses the environments; hosts sharing an external NATS need
// the same file.
const masterKeyFile = "master.key"

// openSealer loads the master key, creating it on first start. The check
// it returns must run once the store is open: it proves the key opens
// what is already stored, so a missing or replaced key file is a startup
// error rather than functions silently losing their environment.
func openSealer(dataDir string) (*seal.Sealer, func(context.Context, *store.Store) error, error) {
	path := filepath.Join(dataDir, masterKeyFile)
	key, created, err := seal.LoadOrCreateKey(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load master key: %w", err)
	}
	sealer, err := seal.New(key)
	clear(key)
	if err != nil {
		return nil, nil, fmt.Errorf("load master key %s: %w", path, err)
	}
	check := func(ctx context.Context, st *store.Store) error {
		_, err := st.ListFunctions(ctx)
		if err == nil || !errors.Is(err, seal.ErrOpen) {
			return err
		}
		if created {
			// Leave the data dir as it was found, so restoring the old
			// key file is all it takes.
			_ = os.Remove(path)
			return fmt.Errorf("master key %s is missing but the engine holds environments sealed with one: restore the file from a backup: %w", path, err)
		}
		return fmt.Errorf("master key %s does not open the environments in the engine (wrong or replaced key file?): %w", path, err)
	}
	return sealer, check, nil
}
