package sandbox_test

import "github.com/kumo-dev/kumo/runtime/internal/sandbox"

// The test binary is re-executed as libcontainer's init for every sandbox.
func init() { sandbox.Init() }
