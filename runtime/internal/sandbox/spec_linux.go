package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Masked and read-only paths follow `runc spec` plus the newer Docker
// additions (RELIABILITY.md §3).
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
		"/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap",
		"/sys/devices/virtual/tpm",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// checkMountpoints makes sure every mount target exists in the rootfs:
// libcontainer would otherwise create it, writing into the shared rootfs.
func checkMountpoints(cfg Config) error {
	targets := []string{"/proc", "/dev", "/tmp", cfg.Cwd}
	for _, m := range cfg.Mounts {
		targets = append(targets, m.Destination)
	}
	for _, t := range targets {
		fi, err := os.Stat(filepath.Join(cfg.Rootfs, t))
		if err != nil {
			return kumo.InvalidParameter("rootfs %s lacks mount point %s: %v", cfg.Rootfs, t, err)
		}
		if !fi.IsDir() {
			if t == cfg.Cwd {
				return kumo.InvalidParameter("rootfs %s: cwd %s is not a directory", cfg.Rootfs, t)
			}
			src, serr := os.Stat(sourceOf(cfg, t))
			if serr != nil || src.IsDir() {
				return kumo.InvalidParameter("rootfs %s: mount point %s is not a directory", cfg.Rootfs, t)
			}
		}
	}
	return nil
}

func sourceOf(cfg Config, dest string) string {
	for _, m := range cfg.Mounts {
		if m.Destination == dest {
			return m.Source
		}
	}
	return ""
}

// buildSpec is the single description of a sandbox, written as an OCI spec
// so the same sandbox could also be run by an OCI runtime binary.
func buildSpec(cfg Config, cgroupPath, netnsPath string) *specs.Spec {
	memory := int64(cfg.MemoryMB) << 20
	period := uint64(cpuPeriod)
	pids := int64(cfg.PidsLimit)
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.Itoa(ShmMB) + "m"}},
		// exec stays allowed on /tmp: runtimes unpack native code there.
		{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=" + strconv.Itoa(cfg.EphemeralMB) + "m"}},
	}
	// sysfs only where the image has a /sys to mount on (see checkMountpoints);
	// it is read-only and, in our own netns, shows only our own lo.
	if fi, err := os.Stat(filepath.Join(cfg.Rootfs, "sys")); err == nil && fi.IsDir() {
		mounts = append(mounts, specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}})
	}
	for _, m := range cfg.Mounts {
		mounts = append(mounts, specs.Mount{
			Destination: m.Destination, Type: "bind", Source: m.Source,
			Options: []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: cfg.Rootfs, Readonly: true},
		Hostname: "sandbox",
		Process: &specs.Process{
			Args:            cfg.Args,
			Env:             cfg.Env,
			Cwd:             cfg.Cwd,
			User:            specs.User{UID: uint32(cfg.UID), GID: uint32(cfg.GID)},
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
		},
		Mounts: mounts,
		Linux: &specs.Linux{
			CgroupsPath: cgroupPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace, Path: netnsPath},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: &memory, Swap: &memory},
				CPU:     &specs.LinuxCPU{Period: &period}, // the quota comes with LimitCPU
				Pids:    &specs.LinuxPids{Limit: &pids},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Seccomp:       seccompSpec(),
		},
	}
}

// libcontainerConfig converts the spec and adds what OCI keeps on the
// process (rlimits) or has no field for (parent death signal).
func libcontainerConfig(spec *specs.Spec) (*configs.Config, error) {
	c, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{Spec: spec})
	if err != nil {
		return nil, fmt.Errorf("convert spec: %w", err)
	}
	// Sandboxes die with the daemon: nobody would serve their Runtime API.
	c.ParentDeathSignal = int(unix.SIGKILL)
	c.Rlimits = []configs.Rlimit{
		{Type: unix.RLIMIT_NOFILE, Hard: kumo.DefaultOpenFilesLimit, Soft: kumo.DefaultOpenFilesLimit},
		{Type: unix.RLIMIT_CORE, Hard: 0, Soft: 0},
	}
	return c, nil
}
