package bench_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// kumoServer is the real `kumo server` binary as a subprocess, driven
// through the Lambda API with aws-sdk-go-v2.
type kumoServer struct {
	cmd      *exec.Cmd
	exited   chan error
	logPath  string
	endpoint string
	lambda   *lambda.Client
	zip      []byte
	seq      atomic.Int64
	binary   string // the kumo CLI, for `kumo runtime build`
	dataDir  string
}

const (
	benchRole    = "arn:aws:iam::000000000000:role/x"
	startTimeout = 60 * time.Second
)

func startKumo(ctx context.Context, binary, dataDir, codeDir string) (_ *kumoServer, retErr error) {
	zipped, err := zipBootstrap(filepath.Join(codeDir, "bootstrap"))
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dataDir, "server.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "server", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dataDir, "kumo"))
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server: %w", binary, err)
	}
	k := &kumoServer{cmd: cmd, exited: make(chan error, 1), logPath: logPath, zip: zipped, binary: binary, dataDir: filepath.Join(dataDir, "kumo")}
	defer func() {
		if retErr != nil {
			_ = k.Close()
			retErr = fmt.Errorf("%w (server log %s)", retErr, logPath)
		}
	}()

	// The exports come first; after them stdout is only drained.
	type exports struct{ endpoint, credsPath string }
	found := make(chan exports, 1)
	go func() {
		var e exports
		out := found
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "export AWS_ENDPOINT_URL_LAMBDA="); ok {
				e.endpoint = v
			}
			if v, ok := strings.CutPrefix(line, "export AWS_SHARED_CREDENTIALS_FILE="); ok {
				e.credsPath = v
			}
			if e.endpoint != "" && e.credsPath != "" && out != nil {
				out <- e
				out = nil
			}
		}
		if out != nil {
			close(out)
		}
		k.exited <- cmd.Wait()
	}()
	var credsPath string
	select {
	case e, ok := <-found:
		if !ok {
			return k, errors.New("kumo server exited before printing its endpoint")
		}
		k.endpoint, credsPath = e.endpoint, e.credsPath
	case <-time.After(startTimeout):
		return k, errors.New("kumo server printed no endpoint in time")
	}
	if err := waitHealthy(ctx, k.endpoint); err != nil {
		return k, err
	}
	shared, err := config.LoadSharedConfigProfile(ctx, "kumo", func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{credsPath}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		return k, fmt.Errorf("read kumo credentials %s: %w", credsPath, err)
	}
	k.lambda = lambda.New(lambda.Options{
		Region:       "local",
		BaseEndpoint: aws.String(k.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(
			shared.Credentials.AccessKeyID, shared.Credentials.SecretAccessKey, ""),
		// A failed sample must fail, not be retried into a slow one.
		Retryer: aws.NopRetryer{},
		// The SDK keeps 10 idle connections per host; the throughput
		// benchmark's 16 callers would otherwise dial a new one for some
		// of their calls and time TCP handshakes, not kumo.
		HTTPClient: &http.Client{Transport: keepAliveTransport(64)},
	})
	return k, nil
}

// keepAliveTransport is the default transport keeping up to idle
// connections to each host.
func keepAliveTransport(idle int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = max(t.MaxIdleConns, idle)
	t.MaxIdleConnsPerHost = idle
	return t
}

func waitHealthy(ctx context.Context, endpoint string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/kumo/v1/health", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kumo server at %s not healthy: %w", endpoint, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops the server with SIGTERM, as an operator would.
func (k *kumoServer) Close() error {
	if k.cmd.Process == nil {
		return nil
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-k.exited:
		return err
	case <-time.After(40 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.exited
		return errors.New("kumo server ignored SIGTERM for 40s")
	}
}

// zipBootstrap packs the function as Lambda expects it: one executable
// `bootstrap` at the root of the archive.
func zipBootstrap(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (k *kumoServer) uniqueName(kind string) string {
	return fmt.Sprintf("bench-%s-%d-%d", kind, os.Getpid(), k.seq.Add(1))
}

func (k *kumoServer) create(ctx context.Context, name string) error {
	_, err := k.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.RuntimeProvidedal2023,
		Handler:      aws.String("bootstrap"),
		Role:         aws.String(benchRole),
		Code:         &types.FunctionCode{ZipFile: k.zip},
		MemorySize:   aws.Int32(128),
		Timeout:      aws.Int32(30),
	})
	if err != nil {
		return fmt.Errorf("create function %s: %w", name, err)
	}
	return nil
}

func (k *kumoServer) delete(ctx context.Context, name string) error {
	if _, err := k.lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)}); err != nil {
		return fmt.Errorf("delete function %s: %w", name, err)
	}
	return nil
}

// forceCold changes the configuration, which retires the warm instance:
// the next invoke starts a new sandbox.
func (k *kumoServer) forceCold(ctx context.Context, name string) error {
	_, err := k.lambda.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
		FunctionName: aws.String(name),
		Environment: &types.Environment{Variables: map[string]string{
			"BENCH_SAMPLE": strconv.FormatInt(k.seq.Add(1), 10),
		}},
	})
	if err != nil {
		return fmt.Errorf("update function %s configuration: %w", name, err)
	}
	return nil
}

// invoke calls the function with LogType Tail and reports, from the REPORT
// line's Init Duration, whether a new sandbox served it: a cold sample
// must not be served warm, and a warm sample that was a cold start must be
// counted, not hidden in the p99.
func (k *kumoServer) invoke(ctx context.Context, name string, payload []byte) (cold bool, err error) {
	r, err := k.invokeQualified(ctx, name, "", payload)
	return r.cold, err
}

// invoked is what one invocation reported beside the echoed payload.
type invoked struct {
	cold    bool   // the REPORT line has an Init Duration: a new sandbox served it
	version string // X-Amz-Executed-Version
}

// invokeQualified is invoke of a version or alias ("" for $LATEST).
func (k *kumoServer) invokeQualified(ctx context.Context, name, qualifier string, payload []byte) (invoked, error) {
	in := &lambda.InvokeInput{
		FunctionName: aws.String(name),
		Payload:      payload,
		LogType:      types.LogTypeTail,
	}
	if qualifier != "" {
		name += ":" + qualifier
		in.Qualifier = aws.String(qualifier)
	}
	out, err := k.lambda.Invoke(ctx, in)
	if err != nil {
		return invoked{}, fmt.Errorf("invoke %s: %w", name, err)
	}
	if out.FunctionError != nil {
		return invoked{}, fmt.Errorf("invoke %s: function error %s: %s", name, *out.FunctionError, out.Payload)
	}
	if err := checkEcho(payload, out.Payload); err != nil {
		return invoked{}, fmt.Errorf("invoke %s: %w", name, err)
	}
	tail, err := base64.StdEncoding.DecodeString(aws.ToString(out.LogResult))
	if err != nil {
		return invoked{}, fmt.Errorf("invoke %s: log result: %w", name, err)
	}
	if !bytes.Contains(tail, []byte("REPORT RequestId")) {
		return invoked{}, fmt.Errorf("invoke %s: no REPORT line in the log tail %q", name, tail)
	}
	return invoked{
		cold:    bytes.Contains(tail, []byte("Init Duration")),
		version: aws.ToString(out.ExecutedVersion),
	}, nil
}

// publish snapshots $LATEST as a new version and returns its number.
func (k *kumoServer) publish(ctx context.Context, name string) (string, error) {
	out, err := k.lambda.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("publish version of %s: %w", name, err)
	}
	return aws.ToString(out.Version), nil
}

// createAlias points alias at version, with optional extra weights.
func (k *kumoServer) createAlias(ctx context.Context, name, alias, version string, weights map[string]float64) error {
	in := &lambda.CreateAliasInput{
		FunctionName:    aws.String(name),
		Name:            aws.String(alias),
		FunctionVersion: aws.String(version),
	}
	if len(weights) > 0 {
		in.RoutingConfig = &types.AliasRoutingConfiguration{AdditionalVersionWeights: weights}
	}
	if _, err := k.lambda.CreateAlias(ctx, in); err != nil {
		return fmt.Errorf("create alias %s of %s: %w", alias, name, err)
	}
	return nil
}

// invokeCold is invoke for a sample that must be a cold start.
func (k *kumoServer) invokeCold(ctx context.Context, name string, payload []byte) error {
	cold, err := k.invoke(ctx, name, payload)
	if err == nil && !cold {
		err = fmt.Errorf("invoke %s: expected a cold start, the REPORT has no Init Duration", name)
	}
	return err
}
