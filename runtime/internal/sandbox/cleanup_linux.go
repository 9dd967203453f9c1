package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// killDeadline bounds how long cleanup keeps killing processes that keep
// appearing (a fork bomb racing the kill loop) or take time to exit.
const killDeadline = 10 * time.Second

// cleanLeftovers removes everything a previous manager with the same state
// root and cgroup prefix left behind.
func (m *Manager) cleanLeftovers() error {
	var errs []error
	hierarchies, err := cgroupMounts()
	if err != nil {
		return err
	}
	var dirs []string
	for _, h := range hierarchies {
		root := filepath.Join(h, m.prefix)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		sub, err := subtree(root)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dirs = append(dirs, sub...)
	}
	if len(dirs) > 0 {
		m.log.Info("cleaning leftover sandbox cgroups", "prefix", m.prefix, "cgroups", len(dirs))
		killCgroups(dirs)
		// Deepest first, so children go before parents.
		slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, d := range dirs {
			if err := rmdirRetry(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := unmountUnder(m.stateRoot); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(m.containerRoot); err != nil {
		errs = append(errs, fmt.Errorf("remove container state: %w", err))
	}
	return errors.Join(errs...)
}

// cgroupMounts lists the mount points of every cgroup hierarchy, v1 and v2.
func cgroupMounts() ([]string, error) {
	mounts, err := mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
	if err != nil {
		return nil, fmt.Errorf("list cgroup mounts: %w", err)
	}
	var out []string
	for _, mnt := range mounts {
		// A hierarchy mounted twice would be cleaned twice; harmless.
		out = append(out, mnt.Mountpoint)
	}
	return out, nil
}

func subtree(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk cgroup %s: %w", root, err)
	}
	return dirs, nil
}

// killCgroups SIGKILLs every process in the given cgroup directories until
// they are empty or killDeadline passes. Frozen cgroups are thawed first:
// on v1 a SIGKILL to a frozen task is not delivered until thaw.
func killCgroups(dirs []string) {
	deadline := time.Now().Add(killDeadline)
	for {
		for _, d := range dirs {
			_ = writeIfExists(filepath.Join(d, "freezer.state"), "THAWED")
			_ = writeIfExists(filepath.Join(d, "cgroup.freeze"), "0")
			// cgroup.kill (v2, kernel 5.14+) also gets tasks forked during the kill.
			_ = writeIfExists(filepath.Join(d, "cgroup.kill"), "1")
		}
		alive := 0
		for _, d := range dirs {
			for _, pid := range cgroupPids(d) {
				alive++
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		if alive == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeIfExists(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	return errors.Join(werr, cerr)
}

func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// rmdirRetry removes an empty cgroup; EBUSY persists briefly while killed
// tasks finish exiting.
func rmdirRetry(dir string) error {
	var err error
	for range 100 {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

// unmountUnder lazily unmounts every mount below root, deepest first.
func unmountUnder(root string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(root))
	if err != nil {
		return fmt.Errorf("list mounts under %s: %w", root, err)
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, mnt := range mounts {
		if mnt.Mountpoint == root {
			// The state root itself may be a mount the operator set up.
			continue
		}
		if err := unix.Unmount(mnt.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mnt.Mountpoint, err))
		}
	}
	return errors.Join(errs...)
}
