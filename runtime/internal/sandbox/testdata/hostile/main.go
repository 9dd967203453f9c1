// Command hostile probes a sandbox from the inside for tests. argv[1]
// selects the probe; results are printed one "key=value" per line.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hostile MODE [ARGS]")
		os.Exit(2)
	}
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "status":
		status()
	case "fill":
		fill(args[0])
	case "oom":
		oom()
	case "connect":
		for _, addr := range args {
			connect(addr)
		}
	case "tick":
		for i := 0; ; i++ {
			fmt.Println("tick", i)
			time.Sleep(5 * time.Millisecond)
		}
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "exit":
		fmt.Fprintln(os.Stderr, "exiting with 3")
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		os.Exit(2)
	}
}

// status prints identity, privilege and filesystem facts, and the errno of
// syscalls the seccomp filter must deny.
func status() {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Println("status_error=" + err.Error())
	}
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Uid", "Gid", "CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp":
			fmt.Printf("%s=%s\n", k, strings.Join(strings.Fields(v), ","))
		}
	}
	fmt.Printf("pid=%d\n", os.Getpid())
	wd, _ := os.Getwd()
	fmt.Printf("cwd=%s\n", wd)
	host, _ := os.Hostname()
	fmt.Printf("hostname=%s\n", host)
	fmt.Printf("write_root=%s\n", errString(os.WriteFile("/probe", []byte("x"), 0o644)))
	fmt.Printf("write_task=%s\n", errString(os.WriteFile("/var/task/probe", []byte("x"), 0o644)))
	fmt.Printf("write_tmp=%s\n", errString(os.WriteFile("/tmp/probe", []byte("x"), 0o644)))
	_, err = os.ReadFile("/dev/null")
	fmt.Printf("read_devnull=%s\n", errString(err))
	for _, p := range []string{"/proc/interrupts", "/proc/timer_list"} {
		b, err := os.ReadFile(p)
		fmt.Printf("len%s=%d err%s=%s\n", p, len(b), p, errString(err))
	}
	fmt.Printf("write_proc_sys=%s\n", errString(os.WriteFile("/proc/sys/kernel/hostname", []byte("x"), 0)))
	fmt.Printf("write_sys=%s\n", errString(os.WriteFile("/sys/kernel/profiling", []byte("1"), 0)))
	var rl unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	fmt.Printf("nofile=%d\n", rl.Cur)
	_ = unix.Getrlimit(unix.RLIMIT_CORE, &rl)
	fmt.Printf("core=%d\n", rl.Max)
	ifaces, _ := net.Interfaces()
	var names []string
	for _, i := range ifaces {
		names = append(names, i.Name)
	}
	fmt.Printf("interfaces=%s\n", strings.Join(names, ","))

	_, _, e := unix.RawSyscall(unix.SYS_KEYCTL, 0 /* KEYCTL_GET_KEYRING_ID */, uintptr(0xfffffffd) /* session */, 0)
	fmt.Printf("keyctl=%s\n", errnoString(e))
	var params [120]byte
	_, _, e = unix.RawSyscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
	fmt.Printf("io_uring_setup=%s\n", errnoString(e))
	_, _, e = unix.RawSyscall(unix.SYS_BPF, 0, 0, 0)
	fmt.Printf("bpf=%s\n", errnoString(e))
	_, _, e = unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 1, 0)
	fmt.Printf("ptrace=%s\n", errnoString(e))
	_, _, e = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	fmt.Printf("clone3=%s\n", errnoString(e))
	_, _, e = unix.RawSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER, 0, 0)
	fmt.Printf("unshare=%s\n", errnoString(e))
}

// fill writes 1 MiB blocks to a file until the write fails.
func fill(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Println("open_error=" + err.Error())
		return
	}
	block := make([]byte, 1<<20)
	n := 0
	for {
		if _, err := f.Write(block); err != nil {
			fmt.Printf("written_mb=%d\nfill_error=%s\n", n, errString(err))
			return
		}
		n++
	}
}

// oom touches memory until the cgroup's OOM killer ends the process.
func oom() {
	var keep [][]byte
	for i := 0; ; i++ {
		b := make([]byte, 8<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = byte(j)
		}
		keep = append(keep, b)
		fmt.Println("allocated_mb", (i+1)*8)
	}
}

// connect dials addr and prints the first line read or the error.
func connect(addr string) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		fmt.Printf("connect %s=%s\n", addr, errString(err))
		return
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 64))
	if err != nil {
		fmt.Printf("connect %s=read: %s\n", addr, errString(err))
		return
	}
	fmt.Printf("connect %s=ok:%s\n", addr, strings.TrimSpace(string(b)))
}

// errString names the errno when there is one, so tests can compare stably.
func errString(err error) string {
	if err == nil {
		return "ok"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errnoString(errno)
	}
	return err.Error()
}

func errnoString(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return e.Error()
}
