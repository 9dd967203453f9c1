package sandbox

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"

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
// binary (daemon or test) that creates sandboxes, so that no other package
// initialisation work is done in each container's init.
func Init() {
	// The sync pipe variable distinguishes libcontainer's re-exec from a
	// user typing "<binary> init".
	if len(os.Args) > 1 && os.Args[1] == "init" && os.Getenv("_LIBCONTAINER_SYNCPIPE") != "" {
		libcontainer.Init()
	}
}
