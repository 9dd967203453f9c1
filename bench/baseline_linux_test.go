package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// functionEnv is the environment both baselines give the bootstrap: the
// variables kumo sets for a provided.al2023 function of 128 MB.
func functionEnv(runtimeAPI string) []string {
	return []string{
		"AWS_LAMBDA_RUNTIME_API=" + runtimeAPI,
		"_HANDLER=bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME=bench",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/bench",
		"AWS_LAMBDA_LOG_STREAM_NAME=bench",
		"AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
		"AWS_REGION=local",
		"AWS_DEFAULT_REGION=local",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"LAMBDA_TASK_ROOT=/var/task",
		"LAMBDA_RUNTIME_DIR=/var/runtime",
		"TZ=:UTC",
		"LANG=en_US.UTF-8",
		"PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin",
	}
}

// bareProcess is the bootstrap as a plain host process with its own
// Runtime API.
type bareProcess struct {
	api *runtimeAPI
	cmd *exec.Cmd
	out bytes.Buffer
}

// newBare prepares a process; start is separate so a cold sample times
// only fork/exec → first response.
func newBare(codeDir string) (*bareProcess, error) {
	api, err := newRuntimeAPI()
	if err != nil {
		return nil, err
	}
	p := &bareProcess{api: api}
	p.cmd = exec.Command(filepath.Join(codeDir, "bootstrap"))
	p.cmd.Dir = codeDir
	p.cmd.Env = functionEnv(api.Addr())
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	return p, nil
}

func (p *bareProcess) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start bare bootstrap: %w", err)
	}
	return nil
}

func (p *bareProcess) invoke(ctx context.Context, payload []byte) error {
	got, err := p.api.Invoke(ctx, payload)
	if err != nil {
		return fmt.Errorf("bare invoke: %w (output: %s)", err, p.out.Bytes())
	}
	return checkEcho(payload, got)
}

func (p *bareProcess) Close() error {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	return p.api.Close()
}

// coldBare measures fork/exec of the bootstrap until its first response.
func coldBare(ctx context.Context, codeDir string, payload []byte) (time.Duration, error) {
	p, err := newBare(codeDir)
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Close() }()
	t0 := time.Now()
	if err := p.start(); err != nil {
		return 0, err
	}
	if err := p.invoke(ctx, payload); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// runcBundle is an OCI bundle equivalent to a kumo sandbox for the same
// function, except that it shares the host network namespace so that the
// function reaches the benchmark's Runtime API on 127.0.0.1.
type runcBundle struct {
	runc    string
	root    string // runc --root: state kept apart from other runc users
	dir     string // bundle: config.json + rootfs/
	codeDir string
	cgroup  string // cgroupfs parent of every sample's cgroup
	seq     atomic.Int64
}

const benchUID, benchGID = 993, 990 // kumo's sandbox defaults

func newRuncBundle(runc, dir, codeDir string) (*runcBundle, error) {
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"proc", "dev", "tmp", "sys", "var/task", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return nil, fmt.Errorf("make bundle rootfs: %w", err)
		}
	}
	passwd := "root:x:0:0::/root:/sbin/nologin\nsbx_user:x:993:990::/tmp:/sbin/nologin\n"
	if err := os.WriteFile(filepath.Join(rootfs, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		return nil, fmt.Errorf("write bundle passwd: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	return &runcBundle{
		runc:    runc,
		root:    filepath.Join(dir, "state"),
		dir:     dir,
		codeDir: codeDir,
		cgroup:  fmt.Sprintf("/kumo-bench-runc-%d", os.Getpid()),
	}, nil
}

// spec mirrors runtime/internal/sandbox's buildSpec for a 128 MB function:
// read-only root, code bind-mounted read-only at /var/task, tmpfs /tmp,
// uid 993, no capabilities, no_new_privs, memory and pids limits, and
// pid/ipc/uts/mount namespaces. It has no network namespace (see above), no
// CPU quota and no seccomp filter; kumo pays for all three.
func (r *runcBundle) spec(id, runtimeAPI string) *specs.Spec {
	memory := int64(128 << 20)
	pids := int64(1024)
	return &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: "rootfs", Readonly: true},
		Hostname: "sandbox",
		Process: &specs.Process{
			Args:            []string{"/var/task/bootstrap"},
			Env:             functionEnv(runtimeAPI),
			Cwd:             "/var/task",
			User:            specs.User{UID: benchUID, GID: benchGID},
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=64m"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", "size=512m"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/var/task", Type: "bind", Source: r.codeDir, Options: []string{"rbind", "ro", "nosuid", "nodev"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: r.cgroup + "/" + id,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: &memory, Swap: &memory},
				Pids:    &specs.LinuxPids{Limit: &pids},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
				"/proc/interrupts", "/sys/firmware",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// cold runs one container with `runc run` in the foreground and measures
// from starting runc until the function's first response. Writing
// config.json and the teardown are not timed.
func (r *runcBundle) cold(ctx context.Context, payload []byte) (time.Duration, error) {
	api, err := newRuntimeAPI()
	if err != nil {
		return 0, err
	}
	defer func() { _ = api.Close() }()
	id := "kumo-bench-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(r.seq.Add(1), 10)
	data, err := json.Marshal(r.spec(id, api.Addr()))
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(filepath.Join(r.dir, "config.json"), data, 0o644); err != nil {
		return 0, fmt.Errorf("write config.json: %w", err)
	}
	var out bytes.Buffer
	cmd := exec.Command(r.runc, "--root", r.root, "run", "--bundle", r.dir, id)
	cmd.Stdout = &out
	cmd.Stderr = &out
	exited := make(chan error, 1)

	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start runc run: %w", err)
	}
	go func() { exited <- cmd.Wait() }()
	got, err := api.Invoke(ctx, payload)
	elapsed := time.Since(t0)

	// Teardown, untimed: runc run exits once the container's init dies and
	// then deletes the container itself; delete -f is the safety net.
	_ = exec.Command(r.runc, "--root", r.root, "kill", id, "KILL").Run()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
	_ = exec.Command(r.runc, "--root", r.root, "delete", "-f", id).Run()
	if err != nil {
		return 0, fmt.Errorf("runc run invoke: %w (runc output: %s)", err, out.Bytes())
	}
	return elapsed, checkEcho(payload, got)
}

// Close removes the parent cgroups left in every v1 hierarchy (or the v2
// tree).
func (r *runcBundle) Close() error {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + r.cgroup)
	dirs = append(dirs, "/sys/fs/cgroup"+r.cgroup)
	var errs []error
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkEcho makes sure a sample measured a real, correct response.
func checkEcho(want, got []byte) error {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return err
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("response is not JSON: %q", got)
	}
	if !bytes.Equal(mustJSON(w), mustJSON(g)) {
		return fmt.Errorf("response %s, want %s", got, want)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
