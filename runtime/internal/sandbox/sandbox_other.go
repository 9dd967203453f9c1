//go:build !linux

package sandbox

import (
	"context"
	"fmt"
	"net"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// errNotLinux is returned everywhere: sandboxes need Linux namespaces and
// cgroups. The stub exists so the module vets and builds on other systems.
var errNotLinux = fmt.Errorf("sandboxes need linux: %w", kumo.ErrUnsupported)

// Init does nothing outside Linux.
func Init() {}

// Manager is unavailable outside Linux.
type Manager struct{}

// New always fails outside Linux.
func New(stateRoot string, opts ...Option) (*Manager, error) {
	if _, err := makeOptions(opts); err != nil {
		return nil, err
	}
	return nil, errNotLinux
}

// SeccompEnabled is false outside Linux.
func (m *Manager) SeccompEnabled() bool { return false }

// Create always fails outside Linux.
func (m *Manager) Create(ctx context.Context, cfg Config) (*Sandbox, error) {
	return nil, errNotLinux
}

// Close does nothing outside Linux.
func (m *Manager) Close() error { return nil }

// Sandbox is unavailable outside Linux; its methods are inert.
type Sandbox struct{}

func (s *Sandbox) ID() string                 { return "" }
func (s *Sandbox) Listener() net.Listener     { return nil }
func (s *Sandbox) Pause() error               { return errNotLinux }
func (s *Sandbox) Resume() error              { return errNotLinux }
func (s *Sandbox) Exited() <-chan struct{}    { return nil }
func (s *Sandbox) ExitErr() error             { return errNotLinux }
func (s *Sandbox) OOMKilled() bool            { return false }
func (s *Sandbox) MaxMemoryUsedBytes() uint64 { return 0 }
func (s *Sandbox) Destroy() error             { return nil }
