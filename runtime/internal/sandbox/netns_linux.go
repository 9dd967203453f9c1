package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netns is a network namespace created by the daemon, holding the Runtime
// API listener. The sandbox joins it through the fd, so it lives exactly as
// long as the fd or a process inside it.
type netns struct {
	file *os.File
	ln   net.Listener
}

// path is how libcontainer's nsexec finds the namespace to join.
func (n *netns) path() string {
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), n.file.Fd())
}

func (n *netns) close() error {
	var errs []error
	if n.ln != nil {
		// The Runtime API server usually closed it already.
		if err := n.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if n.file != nil {
		if err := n.file.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("close netns: %w", errors.Join(errs...))
	}
	return nil
}

// newNetns creates a network namespace with lo up and a listener on
// RuntimeAPIAddr inside it. The work happens on a dedicated OS thread that
// is never unlocked, so the Go runtime discards the thread (and its netns
// membership) when the goroutine returns; sockets stay bound to the
// namespace they were created in.
func newNetns() (*netns, error) {
	type result struct {
		ns  *netns
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := setupNetnsOnThisThread()
		ch <- result{ns, err}
	}()
	r := <-ch
	return r.ns, r.err
}

func setupNetnsOnThisThread() (*netns, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare netns: %w", err)
	}
	f, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, fmt.Errorf("open netns: %w", err)
	}
	ns := &netns{file: f}
	// A fresh netns has lo down: bind would still succeed but every connect
	// from inside would fail with ENETUNREACH.
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		_ = ns.close()
		return nil, fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		_ = ns.close()
		return nil, fmt.Errorf("set lo up: %w", err)
	}
	ln, err := net.Listen("tcp", RuntimeAPIAddr)
	if err != nil {
		_ = ns.close()
		return nil, fmt.Errorf("listen in netns: %w", err)
	}
	ns.ln = ln
	return ns, nil
}
