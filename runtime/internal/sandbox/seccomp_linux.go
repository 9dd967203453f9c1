//go:build seccomp

package sandbox

import (
	"runtime"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompEnabled is true when the binary was built with -tags seccomp and
// links libseccomp; libcontainer refuses a filter otherwise.
const seccompEnabled = true

// deniedSyscalls fail with EPERM. A deny-list keeps every runtime working
// while closing the calls behind most container escapes and kernel attack
// surface: tracing other processes, namespaces and mounts, keyrings, BPF,
// io_uring, module loading and host-wide switches.
var deniedSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"mount", "umount", "umount2", "pivot_root", "chroot",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"unshare", "setns",
	"keyctl", "add_key", "request_key",
	"bpf", "perf_event_open", "userfaultfd",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "get_kernel_syms", "query_module",
	"open_by_handle_at", "name_to_handle_at",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "stime",
	"syslog", "vhangup", "iopl", "ioperm", "lookup_dcookie", "nfsservctl",
	"uselib", "sysfs", "_sysctl", "fanotify_init",
}

// namespaceCloneFlags may not be passed to clone: each would give the
// process a new namespace it could configure to attack the kernel.
var namespaceCloneFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC,
	unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWTIME,
}

// compatArches lists the ABIs a process may use on each host architecture,
// so that 32-bit syscalls are filtered instead of slipping past a filter
// that only knows the native numbers.
var compatArches = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
}

func seccompSpec() *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	enosys := uint(unix.ENOSYS)
	s := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: compatArches[runtime.GOARCH],
		Syscalls: []specs.LinuxSyscall{
			{Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm},
			// clone3 passes its flags in memory, which seccomp cannot inspect;
			// ENOSYS makes glibc and Go fall back to clone, which it can.
			{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
	for _, flag := range namespaceCloneFlags {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{
			Names:    []string{"clone"},
			Action:   specs.ActErrno,
			ErrnoRet: &eperm,
			Args:     []specs.LinuxSeccompArg{{Index: 0, Value: flag, ValueTwo: flag, Op: specs.OpMaskedEqual}},
		})
	}
	return s
}
