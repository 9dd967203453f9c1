package sandbox

import (
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"strings"
	"sync"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// Defaults applied by Create to zero fields of Config.
const (
	DefaultCwd         = "/var/task"
	DefaultUID         = 993
	DefaultGID         = 990
	DefaultEphemeralMB = kumo.DefaultEphemeralMB
	DefaultMemoryMB    = kumo.DefaultMemoryMB

	// RuntimeAPIAddr is where the Runtime API listens inside every sandbox.
	RuntimeAPIAddr = "127.0.0.1:9001"

	// ShmMB caps /dev/shm; it is tmpfs and would otherwise be a second,
	// unsized /tmp.
	ShmMB = 64

	// cpuPeriod and minCPUQuota size the CFS quota that LimitCPU applies
	// once the function has initialised; until then a sandbox runs
	// unthrottled, because runc init and the runtime's start-up run inside
	// its cgroup and a quota exhausted mid-start stalls the cold start for
	// the rest of the period (measured here: 20-75 ms at 25% of a CPU; Lambda
	// also gives the init phase more CPU). Lambda gives 1 vCPU at 1769 MB, so
	// 128 MB would get 7%; 25% is the floor so a small function is not
	// starved by its own runtime's background work. A short period keeps the
	// wait after a quota is spent short.
	cpuPeriod   = 20000
	minCPUQuota = cpuPeriod / 4
)

// Config describes one sandbox. Only Rootfs and Args are required.
type Config struct {
	// ID is unique per sandbox: [a-z0-9-]{1,64}.
	ID string
	// Rootfs is used read-only as /. It is shared between sandboxes and
	// never written, so every mount point (/proc, /dev, /tmp and each Mount
	// destination) must already exist in it.
	Rootfs string
	// Mounts are extra read-only bind mounts, such as the code at /var/task
	// and layers at /opt.
	Mounts []Mount
	// Args is the process argv, e.g. ["/var/task/bootstrap"].
	Args []string
	Env  []string
	// Cwd defaults to /var/task.
	Cwd string
	// MemoryMB is the cgroup memory limit; swap is limited to the same
	// value, so the function gets no swap.
	MemoryMB int
	// EphemeralMB sizes the tmpfs at /tmp.
	EphemeralMB int
	// PidsLimit bounds processes plus threads; default kumo.DefaultPidsLimit.
	PidsLimit int
	// UID and GID run the process; root (0) is refused, zero means the
	// default 993/990.
	UID, GID int
	// Stdout and Stderr receive the function's output. They may be the
	// same writer; Create serialises writes to them.
	Stdout, Stderr io.Writer
}

// Mount is a read-only bind mount of a host path into the sandbox.
type Mount struct {
	Source      string
	Destination string
}

var idPattern = lazyRegexp(`^[a-z0-9-]{1,64}$`)

// withDefaults validates cfg and returns a copy with defaults filled in.
func (cfg Config) withDefaults() (Config, error) {
	if !idPattern().MatchString(cfg.ID) {
		return cfg, kumo.InvalidParameter("sandbox id %q must match [a-z0-9-]{1,64}", cfg.ID)
	}
	if cfg.Rootfs == "" || !path.IsAbs(cfg.Rootfs) {
		return cfg, kumo.InvalidParameter("sandbox rootfs %q must be an absolute path", cfg.Rootfs)
	}
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return cfg, kumo.InvalidParameter("sandbox args must name a program")
	}
	if cfg.Cwd == "" {
		cfg.Cwd = DefaultCwd
	}
	if err := checkContainerPath("cwd", cfg.Cwd); err != nil {
		return cfg, err
	}
	if kernelFS(cfg.Cwd) {
		return cfg, kumo.InvalidParameter("cwd %q must not be inside /proc, /dev or /sys", cfg.Cwd)
	}
	for _, m := range cfg.Mounts {
		if m.Source == "" || !path.IsAbs(m.Source) {
			return cfg, kumo.InvalidParameter("mount source %q must be an absolute path", m.Source)
		}
		if err := checkContainerPath("mount destination", m.Destination); err != nil {
			return cfg, err
		}
		if m.Destination == "/" || kernelFS(m.Destination) || under(m.Destination, "/tmp") {
			return cfg, kumo.InvalidParameter("mount destination %q is reserved", m.Destination)
		}
	}
	for _, e := range cfg.Env {
		if !strings.Contains(e, "=") || strings.ContainsRune(e, 0) {
			return cfg, kumo.InvalidParameter("environment entry %q must be KEY=VALUE without NUL", e)
		}
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = DefaultMemoryMB
	}
	if cfg.EphemeralMB == 0 {
		cfg.EphemeralMB = DefaultEphemeralMB
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = kumo.DefaultPidsLimit
	}
	if cfg.MemoryMB < 0 || cfg.EphemeralMB < 0 || cfg.PidsLimit < 0 {
		return cfg, kumo.InvalidParameter("sandbox limits must not be negative")
	}
	if cfg.MemoryMB > kumo.MaxMemoryMB || cfg.EphemeralMB > kumo.MaxEphemeralMB {
		return cfg, kumo.InvalidParameter("sandbox memory %d MB / ephemeral %d MB over the maximum", cfg.MemoryMB, cfg.EphemeralMB)
	}
	if cfg.UID == 0 {
		cfg.UID = DefaultUID
	}
	if cfg.GID == 0 {
		cfg.GID = DefaultGID
	}
	if cfg.UID < 0 || cfg.GID < 0 {
		return cfg, kumo.InvalidParameter("sandbox uid/gid must not be negative")
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	return cfg, nil
}

// checkContainerPath refuses relative or unclean paths: a tenant-influenced
// cwd or mount target like /proc/self/fd/7 is how CVE-2024-21626 escaped.
func checkContainerPath(what, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return kumo.InvalidParameter("%s %q must be an absolute, clean path", what, p)
	}
	return nil
}

// kernelFS reports whether p is in a kernel filesystem the sandbox mounts
// itself. Binding over those would undo masking; a cwd there (such as
// /proc/self/fd/N, CVE-2024-21626) can point outside the sandbox.
func kernelFS(p string) bool {
	return under(p, "/proc") || under(p, "/dev") || under(p, "/sys")
}

func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// cpuQuota is the CFS quota for a memory size: proportional to memory like
// Lambda (1769 MB = one vCPU), with a floor so runc init is not starved.
func cpuQuota(memoryMB int) int64 {
	q := int64(cpuPeriod) * int64(memoryMB) / kumo.FullCPUMemoryMB
	return max(q, minCPUQuota)
}

// Option configures a Manager.
type Option func(*options) error

type options struct {
	logger       *slog.Logger
	cgroupPrefix string
}

var prefixPattern = lazyRegexp(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("logger: %w", kumo.ErrInvalidParameter)
		}
		o.logger = l
		return nil
	}
}

// WithCgroupPrefix sets the cgroup directory, relative to each hierarchy
// root, that holds every sandbox's cgroup. The default is "kumo". New kills
// everything under it, so two managers must never share a prefix.
func WithCgroupPrefix(prefix string) Option {
	return func(o *options) error {
		if !prefixPattern().MatchString(prefix) {
			return kumo.InvalidParameter("cgroup prefix %q must match %s", prefix, prefixPattern())
		}
		o.cgroupPrefix = prefix
		return nil
	}
}

func makeOptions(opts []Option) (options, error) {
	o := options{logger: slog.New(slog.DiscardHandler), cgroupPrefix: "kumo"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// lazyRegexp compiles on first use: package initialisation runs again in
// every sandbox start (the daemon binary is re-executed as the container's
// init), so it must stay cheap.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
