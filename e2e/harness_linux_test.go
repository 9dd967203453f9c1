package e2e

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/require"
)

const (
	testRegion  = "local"
	testAccount = "000000000000"
	testRole    = "arn:aws:iam::000000000000:role/x"
	testRuntime = "provided.al2023"

	// maxPayload is Lambda's synchronous invoke payload limit.
	maxPayload = 6291456
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: starts a real kumo server with runc sandboxes")
	}
}

// ---------------------------------------------------------------------------
// Builds: the kumo binary and the test functions, once per test binary.

type artifactSet struct {
	dir     string // scratch root for every test's files and data dirs
	kumo    string
	seccomp bool   // kumo was built with the seccomp tag
	fnZip   []byte // testdata/fn as bootstrap
	fnPath  string
	v2Zip   []byte // testdata/greeter as bootstrap
	v2Path  string
	urlZip  []byte // testdata/urlfn (function URL handler) as bootstrap
	urlPath string
}

var (
	buildOnce sync.Once
	built     artifactSet
	buildErr  error
)

// artifacts skips the test unless root, and builds everything once.
func artifacts(t *testing.T) *artifactSet {
	t.Helper()
	requireRoot(t)
	buildOnce.Do(func() { built, buildErr = buildAll() })
	require.NoError(t, buildErr)
	return &built
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module")
	}
	return filepath.Dir(gomod), nil
}

func buildAll() (artifactSet, error) {
	var a artifactSet
	dir, err := os.MkdirTemp("", "kumo-e2e-")
	if err != nil {
		return a, err
	}
	a.dir = dir
	// Sandboxes run as a non-root user; nothing on the way to code may be 0700.
	if err := os.Chmod(dir, 0o755); err != nil {
		return a, err
	}
	root, err := moduleRoot()
	if err != nil {
		return a, err
	}
	a.kumo = os.Getenv("KUMO_TEST_BINARY")
	if a.kumo == "" {
		a.kumo = filepath.Join(dir, "kumo")
		cmd := exec.Command("go", "build", "-tags", "seccomp", "-o", a.kumo, "./cmd/kumo")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return a, fmt.Errorf("build kumo: %w\n%s", err, out)
		}
	}
	if a.kumo, err = filepath.Abs(a.kumo); err != nil {
		return a, err
	}
	if out, err := exec.Command("go", "version", "-m", a.kumo).Output(); err == nil {
		for line := range strings.Lines(string(out)) {
			f := strings.Fields(line)
			if len(f) >= 2 && f[0] == "build" && strings.HasPrefix(f[1], "-tags=") {
				a.seccomp = strings.Contains(f[1], "seccomp")
			}
		}
	}
	bins := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bins+"/",
		"./e2e/testdata/fn", "./e2e/testdata/greeter", "./e2e/testdata/urlfn")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return a, fmt.Errorf("build test functions: %w\n%s", err, out)
	}
	for _, f := range []struct {
		bin  string
		zip  *[]byte
		path *string
	}{{"fn", &a.fnZip, &a.fnPath}, {"greeter", &a.v2Zip, &a.v2Path}, {"urlfn", &a.urlZip, &a.urlPath}} {
		b, err := os.ReadFile(filepath.Join(bins, f.bin))
		if err != nil {
			return a, err
		}
		z, err := makeZip(zipEntry{name: "bootstrap", data: b, mode: 0o755})
		if err != nil {
			return a, err
		}
		*f.zip = z
		*f.path = filepath.Join(dir, f.bin+".zip")
		if err := os.WriteFile(*f.path, z, 0o644); err != nil {
			return a, err
		}
	}
	return a, nil
}

// zipEntry is one member of a test zip; a non-empty symlink makes it a
// symbolic link to that target.
type zipEntry struct {
	name    string
	data    []byte
	mode    os.FileMode
	symlink string
}

func makeZip(entries ...zipEntry) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: time.Now()}
		data := e.data
		switch {
		case e.symlink != "":
			h.SetMode(os.ModeSymlink | 0o777)
			data = []byte(e.symlink)
		case e.mode != 0:
			h.SetMode(e.mode)
		default:
			h.SetMode(0o644)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func codeSha256(zip []byte) string {
	sum := sha256.Sum256(zip)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ---------------------------------------------------------------------------
// Servers.

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *logBuffer) Since(off int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if off > l.b.Len() {
		off = 0
	}
	return string(l.b.Bytes()[off:])
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

type host struct {
	bin       string
	dataDir   string
	endpoint  string
	credsFile string
	creds     aws.Credentials
	lambda    *lambda.Client
	http      *http.Client

	cmd     *exec.Cmd
	stdout  logBuffer
	stderr  logBuffer
	exited  chan struct{}
	waitErr error

	canaryOnce sync.Once
	canaryName string
	canaryErr  error
}

// startHost runs `kumo server` on dataDir and waits until it is healthy.
func startHost(bin, dataDir string, args ...string) (*host, error) {
	return startHostEnv(bin, dataDir, nil, args...)
}

// startHostEnv is startHost with extra environment variables (KEY=VALUE)
// for the server process.
func startHostEnv(bin, dataDir string, env []string, args ...string) (*host, error) {
	h := &host{bin: bin, dataDir: dataDir, exited: make(chan struct{}), http: &http.Client{Timeout: 3 * time.Minute}}
	argv := append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--shutdown-grace", "5s"}, args...)
	h.cmd = exec.Command(bin, argv...)
	if env != nil {
		h.cmd.Env = append(os.Environ(), env...)
	}
	h.cmd.Stderr = &h.stderr
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := h.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exports := make(chan map[string]string, 1)
	go func() {
		vars := map[string]string{}
		sent := false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&h.stdout, line)
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
				vars[k] = strings.Trim(v, `"'`)
			}
			if !sent && vars["AWS_ENDPOINT_URL_LAMBDA"] != "" && vars["AWS_SHARED_CREDENTIALS_FILE"] != "" {
				exports <- vars
				sent = true
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		h.waitErr = h.cmd.Wait()
		close(h.exited)
	}()
	fail := func(err error) (*host, error) {
		_ = h.cmd.Process.Kill()
		<-h.exited
		return nil, fmt.Errorf("%w\nstdout:\n%s\nstderr:\n%s", err, h.stdout.Since(0), tail(h.stderr.Since(0), 8192))
	}
	var vars map[string]string
	select {
	case vars = <-exports:
	case <-h.exited:
		return fail(fmt.Errorf("kumo server exited before printing its endpoint: %v", h.waitErr))
	case <-time.After(90 * time.Second):
		return fail(errors.New("kumo server printed no endpoint within 90s"))
	}
	h.endpoint = vars["AWS_ENDPOINT_URL_LAMBDA"]
	h.credsFile = vars["AWS_SHARED_CREDENTIALS_FILE"]
	if r := vars["AWS_REGION"]; r != "" && r != testRegion && !contains(args, "--region") {
		return fail(fmt.Errorf("AWS_REGION=%q, want %q", r, testRegion))
	}
	if err := waitHealthy(h, 60*time.Second); err != nil {
		return fail(err)
	}
	creds, err := readCredentials(h.credsFile)
	if err != nil {
		return fail(err)
	}
	h.creds = creds
	h.lambda = lambda.New(lambda.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(h.endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       h.http,
	})
	return h, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func waitHealthy(h *host, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-h.exited:
			return fmt.Errorf("kumo server exited: %v", h.waitErr)
		default:
		}
		resp, err := http.Get(h.endpoint + "/kumo/v1/health")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not healthy within %v: %s", timeout, last)
}

// readCredentials reads the kumo profile of a shared-credentials file.
func readCredentials(path string) (aws.Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return aws.Credentials{}, err
	}
	var c aws.Credentials
	section := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "kumo" {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, fmt.Errorf("no kumo profile keys in %s", path)
	}
	return c, nil
}

// signal sends sig and waits for the server to exit.
func (h *host) signal(sig syscall.Signal, timeout time.Duration) error {
	select {
	case <-h.exited:
		return fmt.Errorf("already exited: %v", h.waitErr)
	default:
	}
	if err := h.cmd.Process.Signal(sig); err != nil {
		return err
	}
	select {
	case <-h.exited:
		return h.waitErr
	case <-time.After(timeout):
		_ = h.cmd.Process.Kill()
		<-h.exited
		return fmt.Errorf("kumo server did not exit within %v of %v", timeout, sig)
	}
}

// stop shuts the server down cleanly; it must exit 0.
func (h *host) stop() error { return h.signal(syscall.SIGTERM, 60*time.Second) }

func (h *host) running() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// newHost starts a server only this test uses; it is stopped at cleanup.
func newHost(t *testing.T, dataDir string, args ...string) *host {
	t.Helper()
	return newHostEnv(t, dataDir, nil, args...)
}

// newHostEnv is newHost with extra environment variables (KEY=VALUE).
func newHostEnv(t *testing.T, dataDir string, env []string, args ...string) *host {
	t.Helper()
	a := artifacts(t)
	h, err := startHostEnv(a.kumo, dataDir, env, args...)
	require.NoError(t, err)
	t.Cleanup(func() {
		if h.running() {
			if err := h.stop(); err != nil {
				t.Errorf("stop kumo server: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("kumo server stderr:\n%s", tail(h.stderr.Since(0), 16384))
		}
	})
	return h
}

var (
	sharedOnce sync.Once
	shared     *host
	sharedErr  error
)

// sharedHost is one server for the read-mostly tests, started on first use
// and stopped by TestMain.
func sharedHost(t *testing.T) *host {
	t.Helper()
	a := artifacts(t)
	sharedOnce.Do(func() {
		dir := filepath.Join(a.dir, "shared-data")
		if sharedErr = os.Mkdir(dir, 0o755); sharedErr != nil {
			return
		}
		shared, sharedErr = startHost(a.kumo, dir, "--idle-timeout", "60s")
	})
	require.NoError(t, sharedErr)
	require.True(t, shared.running(), "shared kumo server is gone: %v\n%s", shared.waitErr, tail(shared.stderr.Since(0), 8192))
	off := shared.stderr.Len()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shared kumo server stderr during this test:\n%s", tail(shared.stderr.Since(off), 16384))
		}
	})
	return shared
}

// cleanupShared stops the shared server and checks that it left nothing
// running or mounted; it reports whether all was clean.
func cleanupShared() bool {
	ok := true
	if shared != nil && shared.running() {
		if err := shared.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: stop shared kumo server: %v\n%s\n", err, tail(shared.stderr.Since(0), 8192))
			ok = false
		}
	}
	if shared != nil {
		abs, _ := filepath.Abs(shared.dataDir)
		sum := sha256.Sum256([]byte(abs))
		prefix := "kumo-" + hex.EncodeToString(sum[:])[:10]
		deadline := time.Now().Add(15 * time.Second)
		for len(procsInCgroup(prefix)) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if pids := procsInCgroup(prefix); len(pids) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: processes remain in %s after the shared server stopped:\n%s\n", prefix, procDesc(pids))
			ok = false
		}
		if m := mountsUnder(shared.dataDir); len(m) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: mounts remain after the shared server stopped: %v\n", m)
			ok = false
		}
		defer removeEmptyCgroups(prefix)
	}
	if built.dir != "" {
		if err := safeRemoveAll(built.dir); err != nil {
			fmt.Fprintf(os.Stderr, "leaving %s behind: %v\n", built.dir, err)
		}
	}
	return ok
}

// ---------------------------------------------------------------------------
// Functions.

var nameSeq atomic.Int64

// uniqueName is a function name no other test (or earlier run) uses.
func uniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", prefix, nameSeq.Add(1), hex.EncodeToString(b))
}

type fnOpt func(*lambda.CreateFunctionInput)

func withTimeout(s int32) fnOpt {
	return func(in *lambda.CreateFunctionInput) { in.Timeout = aws.Int32(s) }
}
func withMemory(mb int32) fnOpt {
	return func(in *lambda.CreateFunctionInput) { in.MemorySize = aws.Int32(mb) }
}
func withTmp(mb int32) fnOpt {
	return func(in *lambda.CreateFunctionInput) {
		in.EphemeralStorage = &types.EphemeralStorage{Size: aws.Int32(mb)}
	}
}
func withEnv(vars map[string]string) fnOpt {
	return func(in *lambda.CreateFunctionInput) { in.Environment = &types.Environment{Variables: vars} }
}

func createInput(name string, zip []byte, opts ...fnOpt) *lambda.CreateFunctionInput {
	in := &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Role:         aws.String(testRole),
		Runtime:      types.Runtime(testRuntime),
		Handler:      aws.String("bootstrap"),
		Code:         &types.FunctionCode{ZipFile: zip},
	}
	for _, o := range opts {
		o(in)
	}
	return in
}

// createFn creates a function from zip through the SDK and deletes it at
// cleanup (which also ends its sandboxes).
func (h *host) createFn(t *testing.T, prefix string, zip []byte, opts ...fnOpt) string {
	t.Helper()
	name := uniqueName(prefix)
	_, err := h.lambda.CreateFunction(t.Context(), createInput(name, zip, opts...))
	require.NoError(t, err, "create function %s", name)
	h.deleteAtCleanup(t, name)
	return name
}

func (h *host) deleteAtCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		if h.running() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = h.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		}
	})
}

func payloadBytes(t *testing.T, payload any) []byte {
	t.Helper()
	switch p := payload.(type) {
	case []byte:
		return p
	case string:
		return []byte(p)
	}
	b, err := json.Marshal(payload)
	require.NoError(t, err)
	return b
}

// invoke calls a function synchronously with the log tail; the transport
// must succeed (function errors are in out.FunctionError).
func (h *host) invoke(t *testing.T, name string, payload any) (*lambda.InvokeOutput, map[string]any) {
	t.Helper()
	out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{
		FunctionName: aws.String(name),
		Payload:      payloadBytes(t, payload),
		LogType:      types.LogTypeTail,
	})
	require.NoError(t, err, "invoke %s", name)
	var body map[string]any
	require.NoError(t, json.Unmarshal(out.Payload, &body), "invoke %s: payload %q", name, tail(string(out.Payload), 512))
	return out, body
}

func decodeLog(t *testing.T, logResult *string) string {
	t.Helper()
	require.NotNil(t, logResult, "no LogResult")
	b, err := base64.StdEncoding.DecodeString(*logResult)
	require.NoError(t, err)
	return string(b)
}

// canary proves the host still runs functions: health answers and a
// warm-or-cold echo invoke succeeds.
func (h *host) canary(t *testing.T) {
	t.Helper()
	require.True(t, h.running(), "kumo server exited: %v", h.waitErr)
	resp, err := http.Get(h.endpoint + "/kumo/v1/health")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "health")
	h.canaryOnce.Do(func() {
		h.canaryName = uniqueName("canary")
		_, h.canaryErr = h.lambda.CreateFunction(context.Background(), createInput(h.canaryName, built.fnZip))
	})
	require.NoError(t, h.canaryErr)
	out, body := h.invoke(t, h.canaryName, map[string]any{"mode": "echo", "canary": true})
	require.Nil(t, out.FunctionError, "canary failed: %s", out.Payload)
	require.NotEmpty(t, body["instance"])
}
