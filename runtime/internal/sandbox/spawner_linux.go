package sandbox

import (
	"runtime"
)

// Sandboxes get SIGKILL when their parent dies (ParentDeathSignal), but
// Linux ties that to the parent *thread*: when the OS thread that forked a
// sandbox's init exits, the sandbox is killed although the daemon lives.
// Go terminates a thread whenever a goroutine locked to it returns, which
// libcontainer itself does during every start (its mount-source thread),
// and so does netns setup. So every fork happens on a spawner: a goroutine
// locked to its thread for the Manager's lifetime, whose thread therefore
// never exits and is never lent to another goroutine.

type spawnReq struct {
	fn   func() error
	done chan error
}

// spawners starts n spawner goroutines that run until stop is closed.
func startSpawners(n int, reqs <-chan spawnReq, stop <-chan struct{}) {
	for range n {
		go func() {
			runtime.LockOSThread()
			// Never unlocked: when stop ends the goroutine the thread goes
			// with it, and with the thread any sandbox it forked, which is
			// only after Close destroyed them all.
			for {
				select {
				case r := <-reqs:
					r.done <- r.fn()
				case <-stop:
					return
				}
			}
		}()
	}
}

// onSpawner runs fn on a spawner thread. It fails with errClosed once the
// manager is closed.
func (m *Manager) onSpawner(fn func() error) error {
	r := spawnReq{fn: fn, done: make(chan error, 1)}
	select {
	case m.spawn <- r:
	case <-m.stop:
		return errClosed
	}
	return <-r.done
}
