package sandbox

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	// Device cgroup rules are applied by this package's init; without it
	// libcontainer refuses: "cgroup manager is not configured to set device rules".
	_ "github.com/opencontainers/cgroups/devices"
	// nsexec is a cgo constructor that joins and creates namespaces before the
	// Go runtime starts in the re-executed "<argv0> init" process.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Init runs libcontainer's container init when this binary was re-executed
// as "<argv0> init" by libcontainer, and never returns in that case.
// Otherwise it returns at once. Call it from an init function of every
// binary (daemon or test) that creates sandboxes. Every imported package's
// own initialisation still runs first in each container's init, which is
// why the daemon's packages keep theirs cheap (no regexps compiled at init).
func Init() {
	// The sync pipe variable distinguishes libcontainer's re-exec from a
	// user typing "<binary> init".
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_SYNCPIPE") != "" {
		// libcontainer sets ParentDeathSignal only on the first process of
		// its fork chain; the container's init is a later clone, and the
		// kernel clears the setting on clone. Set it here, in that init,
		// before libcontainer reads it to restore it after setuid, so the
		// function dies with the daemon. The parent is the daemon's spawner
		// thread (nsexec clones with CLONE_PARENT).
		_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
		libcontainer.Init()
	}
}
