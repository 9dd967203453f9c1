// Command fn is the multi-mode test function of the e2e suite. The event's
// "mode" picks what it does; the default echoes the event and what the
// function sees of its environment and context.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// instanceID is fresh per process, so a caller can tell a cold start from
// a warm one.
var instanceID = func() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// envKeys are always echoed.
var envKeys = []string{
	"AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "_HANDLER", "AWS_REGION", "LAMBDA_TASK_ROOT", "GREETING",
}

type event struct {
	Mode string   `json:"mode"`
	Ms   int      `json:"ms"`
	MB   int      `json:"mb"`
	Addr string   `json:"addr"`
	Env  []string `json:"env"`
	Max  int      `json:"max"`
	Path string   `json:"path"`
}

func handler(ctx context.Context, raw json.RawMessage) (any, error) {
	trimmed := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(trimmed, "{") {
		// Not an object (e.g. a huge JSON string): answer with its size only.
		return map[string]any{"kind": "other", "len": len(raw), "instance": instanceID}, nil
	}
	var ev event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	// Every invocation's log names the process it ran in.
	fmt.Printf("instance=%s mode=%s\n", instanceID, ev.Mode)
	// With LOG_EVENT set the event itself goes to the log: async tests read
	// what a destination function received from its log.
	if os.Getenv("LOG_EVENT") != "" {
		fmt.Printf("event=%s\n", raw)
	}
	switch ev.Mode {
	case "", "echo":
		return echo(ctx, raw, ev), nil
	case "error":
		return nil, errors.New("requested failure")
	case "panic":
		panic("kaboom")
	case "sleep":
		time.Sleep(time.Duration(ev.Ms) * time.Millisecond)
		return map[string]any{"slept_ms": ev.Ms, "instance": instanceID}, nil
	case "spin":
		for {
			runtime.Gosched()
		}
	case "alloc":
		return alloc(ev.MB), nil
	case "forkbomb":
		return forkbomb(ev.Max), nil
	case "filltmp":
		return filltmp(), nil
	case "exit":
		fmt.Println("exiting with status 3")
		os.Exit(3)
	case "logflood":
		return logflood(ev.MB), nil
	case "writeroot":
		out := map[string]any{"instance": instanceID}
		for _, p := range []string{"/var/task/x", "/etc/x", "/x"} {
			out[p] = errString(os.WriteFile(p, []byte("x"), 0o644))
		}
		return out, nil
	case "whoami":
		return whoami(), nil
	case "readfile":
		b, err := os.ReadFile(ev.Path)
		return map[string]any{"path": ev.Path, "content": string(b), "error": errString(err), "executable": os.Args[0]}, nil
	case "connect":
		c, err := net.DialTimeout("tcp", ev.Addr, 2*time.Second)
		if err != nil {
			return map[string]any{"result": "error", "error": err.Error()}, nil
		}
		_ = c.Close()
		return map[string]any{"result": "connected"}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", ev.Mode)
}

func echo(ctx context.Context, raw json.RawMessage, ev event) map[string]any {
	env := map[string]string{}
	for _, k := range append(envKeys, ev.Env...) {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	out := map[string]any{
		"event":            raw,
		"env":              env,
		"instance":         instanceID,
		"function_name":    lambdacontext.FunctionName,
		"function_version": lambdacontext.FunctionVersion,
		"memory_mb":        lambdacontext.MemoryLimitInMB,
	}
	if dl, ok := ctx.Deadline(); ok {
		out["deadline_ms"] = time.Until(dl).Milliseconds()
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		out["request_id"] = lc.AwsRequestID
		out["invoked_arn"] = lc.InvokedFunctionArn
		if lc.ClientContext.Custom != nil || lc.ClientContext.Env != nil {
			out["client_custom"] = lc.ClientContext.Custom
			out["client_env"] = lc.ClientContext.Env
		}
	}
	return out
}

// alloc allocates and touches mb MiB, 1 MiB at a time.
func alloc(mb int) map[string]any {
	var keep [][]byte
	for i := 0; i < mb; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		keep = append(keep, b)
	}
	return map[string]any{"allocated_mb": len(keep), "instance": instanceID}
}

// forkbomb forks paused children with raw clone(2) until the kernel says
// no, or max children exist (a safety cap for hosts without a pids limit).
func forkbomb(max int) map[string]any {
	if max <= 0 {
		max = 5000
	}
	type result struct {
		n   int
		err string
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // the thread stays with the children's parent
		n := 0
		for n < max {
			pid, _, errno := syscall.RawSyscall(syscall.SYS_CLONE, uintptr(syscall.SIGCHLD), 0, 0)
			if errno != 0 {
				done <- result{n, errno.Error()}
				return
			}
			if pid == 0 {
				for {
					syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
				}
			}
			n++
		}
		done <- result{n, ""}
	}()
	r := <-done
	return map[string]any{"forked": r.n, "error": r.err, "instance": instanceID}
}

// filltmp writes 1 MiB blocks to /tmp until a write fails, then removes
// the file so the instance stays usable.
func filltmp() map[string]any {
	const path = "/tmp/fill"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return map[string]any{"bytes": 0, "error": err.Error()}
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i)
	}
	var n int64
	var werr error
	for {
		m, err := f.Write(block)
		n += int64(m)
		if err != nil {
			werr = err
			break
		}
	}
	_ = f.Close()
	_ = os.Remove(path)
	return map[string]any{"bytes": n, "error": errString(werr), "enospc": errors.Is(werr, syscall.ENOSPC)}
}

// logflood prints mb MiB of text to stdout in 1 KiB lines.
func logflood(mb int) map[string]any {
	line := strings.Repeat("x", 1023) + "\n"
	w := 0
	for i := 0; i < mb*1024; i++ {
		n, _ := os.Stdout.WriteString(line)
		w += n
	}
	return map[string]any{"printed": w, "instance": instanceID}
}

func whoami() map[string]any {
	out := map[string]any{"uid": os.Getuid(), "gid": os.Getgid(), "instance": instanceID}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		out["status_error"] = err.Error()
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapEff", "CapPrm", "NoNewPrivs", "Seccomp":
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() { lambda.Start(handler) }
