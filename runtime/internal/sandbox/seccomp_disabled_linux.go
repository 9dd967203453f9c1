//go:build !seccomp

package sandbox

import "github.com/opencontainers/runtime-spec/specs-go"

// seccompEnabled is false without -tags seccomp: libcontainer cannot load a
// filter then, so sandboxes run without one and Manager.SeccompEnabled
// says so.
const seccompEnabled = false

func seccompSpec() *specs.LinuxSeccomp { return nil }
