package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
	"github.com/kumo-dev/kumo/runtime/internal/sandbox"
	"github.com/kumo-dev/kumo/runtime/kumo"
)

// instance is one execution environment: a sandbox, the Runtime API it
// talks to and the pipe carrying its output.
type instance struct {
	id   string
	fn   *kumo.Function
	sb   *sandbox.Sandbox
	api  *runtimeapi.Server
	out  *output
	dead bool

	// parkMu guards idle and frozen: an instance back in its pool is idle,
	// and frozen once the background freeze ran.
	parkMu       sync.Mutex
	idle         bool
	frozen       bool
	freezeTimer  *time.Timer
	lastUsed     time.Time
	initLog      []byte
	initDuration time.Duration

	destroyOnce sync.Once
	// release gives back the instance's hold on its image's root.
	release func()
}

// start creates an instance and runs its init phase. When init fails the
// invocation fails the way Lambda fails it, so start returns an Outcome with
// the error and no instance.
func (n *Node) start(ctx context.Context, fn *kumo.Function, inv Invocation) (*instance, Outcome, error) {
	began := time.Now()
	if err := n.ensureImage(ctx, fn); err != nil {
		return nil, Outcome{}, err
	}
	root, err := n.rootfs(ctx, fn.ImageDigest, true)
	if err != nil {
		return nil, Outcome{}, err
	}
	var inst *instance
	defer func() {
		if inst == nil {
			n.releaseRoot(fn.ImageDigest)
		}
	}()
	proc, err := n.processFor(ctx, fn, root)
	if err != nil {
		return nil, platformError(inv.RequestID, "Runtime.InvalidEntrypoint", err.Error(), nil), nil
	}
	out, err := newOutput()
	if err != nil {
		return nil, Outcome{}, err
	}
	inst = &instance{id: "f-" + newID(), fn: fn, out: out, release: func() { n.releaseRoot(fn.ImageDigest) }}
	initBuf := newLogBuffer(logHeadBytes, logTailBytes)
	out.setSink(initBuf)
	sb, err := n.sandboxes.Create(ctx, sandbox.Config{
		ID:          inst.id,
		Rootfs:      root,
		Args:        proc.args,
		Cwd:         proc.cwd,
		Env:         environment(n.scope, fn, proc),
		MemoryMB:    fn.MemorySize,
		EphemeralMB: fn.EphemeralStorage,
		Stdout:      out.w,
		Stderr:      out.w,
	})
	if err != nil {
		out.close()
		return nil, Outcome{}, fmt.Errorf("start sandbox for function %s: %w", fn.Name, err)
	}
	inst.sb = sb
	created := time.Since(began)
	inst.api = runtimeapi.New(sb.Listener(), runtimeapi.WithFunctionInfo(fn.Name, fn.VersionName(), proc.handler))

	initCtx, cancel := context.WithTimeout(ctx, InitTimeout)
	defer cancel()
	initErr := make(chan error, 1)
	go func() { initErr <- inst.api.WaitInit(initCtx) }()
	select {
	case err = <-initErr:
	case <-sb.Exited():
		cancel()
		<-initErr
		err = errExited
	}
	inst.initDuration = time.Since(began)
	n.log.Debug("instance init", "function", fn.Name, "sandbox_id", inst.id, "sandbox_ms", ms(created), "init_ms", ms(inst.initDuration), "error", err)
	if err == nil {
		if err := sb.LimitCPU(); err != nil {
			inst.destroy()
			return nil, Outcome{}, err
		}
		inst.out.flush(flushTimeout)
		inst.initLog = initBuf.Bytes()
		return inst, Outcome{}, nil
	}
	// Init failed: the output so far, then Lambda's error for the cause.
	inst.out.flush(flushTimeout)
	logText := initBuf.Bytes()
	var o Outcome
	var ie *runtimeapi.InitError
	switch {
	case errors.As(err, &ie):
		o = Outcome{Payload: ie.Payload, ErrorType: ie.ErrorType}
		if o.ErrorType == "" {
			o.ErrorType = "Runtime.Unknown"
		}
	case errors.Is(err, errExited):
		o = inst.exitOutcome(inv.RequestID)
	case ctx.Err() != nil:
		inst.destroy()
		return nil, Outcome{}, ctx.Err()
	default:
		o = platformError(inv.RequestID, "Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Runtime failed to initialize within %s", inv.RequestID, InitTimeout), nil)
	}
	o.Log = append(logText, fmt.Appendf(nil, "INIT_REPORT Init Duration: %s\tPhase: init\tStatus: error\tError Type: %s\n", ms(inst.initDuration), o.ErrorType)...)
	o.Log = append(o.Log, startLine(inv)...)
	o.Log = append(o.Log, endLines(inv, 0, fn.MemorySize, inst.maxMemMB(), inst.initDuration, true)...)
	o.Cold = true
	inst.destroy()
	return nil, o, nil
}

var errExited = errors.New("runtime exited")

// run hands one event to the runtime and waits for its answer, a timeout or
// the death of the process, whichever comes first.
func (inst *instance) run(ctx context.Context, inv Invocation, cold bool) Outcome {
	buf := newLogBuffer(logHeadBytes, logTailBytes)
	inst.out.setSink(buf)
	defer inst.out.setSink(nil)

	timeout := time.Duration(inst.fn.Timeout) * time.Second
	began := time.Now()
	deadline := began.Add(timeout)
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	type answer struct {
		res runtimeapi.Result
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		res, err := inst.api.Invoke(runCtx, runtimeapi.Invocation{
			RequestID:          inv.RequestID,
			Payload:            inv.Payload,
			Deadline:           deadline,
			InvokedFunctionARN: inv.InvokedARN,
			TraceID:            inv.TraceID,
			ClientContext:      inv.ClientContext,
		})
		ch <- answer{res, err}
	}()

	var o Outcome
	select {
	case a := <-ch:
		switch {
		case a.err == nil:
			o = Outcome{Payload: a.res.Payload, ErrorType: a.res.ErrorType}
		case errors.Is(a.err, context.DeadlineExceeded) && ctx.Err() == nil:
			inst.dead = true
			o = platformError(inv.RequestID, "Sandbox.Timedout", fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.RequestID, timeout.Seconds()), nil)
		default:
			inst.dead = true
			o = platformError(inv.RequestID, "Runtime.Unknown", fmt.Sprintf("RequestId: %s Error: invocation abandoned: %v", inv.RequestID, a.err), nil)
		}
	case <-inst.sb.Exited():
		cancel()
		<-ch
		inst.dead = true
		o = inst.exitOutcome(inv.RequestID)
	}
	dur := time.Since(began)
	// A runtime that reported an error stays usable, as in Lambda; one that
	// timed out or died does not.
	if inst.dead {
		// Kill before reading memory so the peak is final and the process
		// cannot write more output.
		_ = inst.sb.Destroy()
	} else {
		inst.out.flush(flushTimeout)
	}
	logText := append(startLine(inv), buf.Bytes()...)
	if o.ErrorType != "" && inst.dead {
		logText = append(logText, errorLogLine(o)...)
	}
	logText = append(logText, endLines(inv, dur, inst.fn.MemorySize, inst.maxMemMB(), inst.initDuration, cold)...)
	o.Log = logText
	o.Duration = dur
	return o
}

// unpark claims an idle instance for an invocation, thawing it if the
// background freeze already happened.
func (inst *instance) unpark() error {
	inst.parkMu.Lock()
	defer inst.parkMu.Unlock()
	inst.idle = false
	if inst.freezeTimer != nil {
		inst.freezeTimer.Stop()
	}
	if !inst.frozen {
		return nil
	}
	if err := inst.sb.Resume(); err != nil {
		return err
	}
	inst.frozen = false
	return nil
}

// reusable reports whether the instance may serve another invocation.
func (inst *instance) reusable() bool {
	if inst.dead {
		return false
	}
	select {
	case <-inst.sb.Exited():
		return false
	default:
		return true
	}
}

func (inst *instance) exitOutcome(requestID string) Outcome {
	cause := "unknown"
	if err := inst.sb.ExitErr(); err != nil {
		cause = err.Error()
	}
	if inst.sb.OOMKilled() {
		return platformError(requestID, "Runtime.OutOfMemory", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s (out of memory: the function exceeded its %d MB memory limit)", requestID, cause, inst.fn.MemorySize), nil)
	}
	return platformError(requestID, "Runtime.ExitError", fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %s", requestID, cause), nil)
}

func (inst *instance) maxMemMB() int {
	if inst.sb == nil {
		return 0
	}
	return int(math.Ceil(float64(inst.sb.MaxMemoryUsedBytes()) / (1 << 20)))
}

func (inst *instance) destroy() {
	inst.destroyOnce.Do(func() {
		inst.parkMu.Lock()
		if inst.freezeTimer != nil {
			inst.freezeTimer.Stop()
		}
		inst.parkMu.Unlock()
		if inst.api != nil {
			_ = inst.api.Close()
		}
		if inst.sb != nil {
			_ = inst.sb.Destroy()
		}
		if inst.out != nil {
			inst.out.close()
		}
		if inst.release != nil {
			inst.release()
		}
	})
}

// platformError is an error the platform produces (not the function), in
// the {errorMessage, errorType} shape the runtimes use.
func platformError(requestID, errorType, message string, stack []string) Outcome {
	body := map[string]any{"errorMessage": message, "errorType": errorType}
	if stack != nil {
		body["stackTrace"] = stack
	}
	b, _ := json.Marshal(body)
	return Outcome{Payload: b, ErrorType: errorType}
}

func errorLogLine(o Outcome) []byte {
	var e struct {
		ErrorMessage string `json:"errorMessage"`
	}
	_ = json.Unmarshal(o.Payload, &e)
	return fmt.Appendf(nil, "%s\n", e.ErrorMessage)
}

func startLine(inv Invocation) []byte {
	return fmt.Appendf(nil, "START RequestId: %s Version: %s\n", inv.RequestID, inv.Version)
}

func endLines(inv Invocation, dur time.Duration, memMB, maxMemMB int, init time.Duration, withInit bool) []byte {
	billed := int64(math.Ceil(float64(dur) / float64(time.Millisecond)))
	if billed < 1 {
		billed = 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "END RequestId: %s\n", inv.RequestID)
	fmt.Fprintf(&b, "REPORT RequestId: %s\tDuration: %s\tBilled Duration: %d ms\tMemory Size: %d MB\tMax Memory Used: %d MB\t", inv.RequestID, ms(dur), billed, memMB, maxMemMB)
	if withInit {
		fmt.Fprintf(&b, "Init Duration: %s\t", ms(init))
	}
	b.WriteString("\n")
	return []byte(b.String())
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

// environment is the function process's environment: the image's own
// variables, the user's over them, then Lambda's reserved ones, which win.
func environment(scope kumo.Scope, fn *kumo.Function, proc process) []string {
	now := time.Now().UTC()
	vars := map[string]string{}
	for k, v := range proc.imageEnv {
		vars[k] = v
	}
	for k, v := range fn.Environment {
		vars[k] = v
	}
	reserved := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          sandbox.RuntimeAPIAddr,
		"_HANDLER":                        proc.handler,
		"AWS_LAMBDA_FUNCTION_NAME":        fn.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(fn.MemorySize),
		"AWS_LAMBDA_FUNCTION_VERSION":     fn.VersionName(),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + fn.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      now.Format("2006/01/02") + "/[" + fn.VersionName() + "]" + newID() + newID(),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      scope.Region,
		"AWS_DEFAULT_REGION":              scope.Region,
		"LAMBDA_TASK_ROOT":                "/var/task",
		"LAMBDA_RUNTIME_DIR":              "/var/runtime",
	}
	defaults := map[string]string{
		"TZ":              ":UTC",
		"LANG":            "en_US.UTF-8",
		"PATH":            "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
		"LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
	}
	for k, v := range defaults {
		if _, ok := vars[k]; !ok {
			vars[k] = v
		}
	}
	// A container image names no runtime: AWS_EXECUTION_ENV is whatever
	// the image's own ENV says, as in Lambda.
	if fn.PackageType != kumo.PackageImage {
		reserved["AWS_EXECUTION_ENV"] = "AWS_Lambda_" + fn.Runtime
	}
	for k, v := range reserved {
		vars[k] = v
	}
	env := make([]string, 0, len(vars))
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}
