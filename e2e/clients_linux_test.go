package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// The aws CLI.

type cliResult struct {
	stdout, stderr string
	rc             int
}

func (r cliResult) String() string {
	return fmt.Sprintf("rc=%d\nstdout: %s\nstderr: %s", r.rc, tail(r.stdout, 2048), tail(r.stderr, 2048))
}

// cliEnv points the aws CLI at h, using credsFile (h's own when empty).
func (h *host) cliEnv(credsFile string) []string {
	if credsFile == "" {
		credsFile = h.credsFile
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_SHARED_CREDENTIALS_FILE="+credsFile,
		"AWS_CONFIG_FILE="+filepath.Join(built.dir, "no-aws-config"),
		"AWS_PROFILE=kumo",
		"AWS_ENDPOINT_URL_LAMBDA="+h.endpoint,
		"AWS_REGION="+testRegion,
		"AWS_DEFAULT_REGION="+testRegion, // CLI v1 (botocore) reads only this one
		"AWS_MAX_ATTEMPTS=1",
		"AWS_PAGER=",
	)
}

// aws runs `aws lambda ARGS...` and returns what it printed.
func (h *host) aws(t *testing.T, args ...string) cliResult {
	t.Helper()
	return h.awsWith(t, "", args...)
}

func (h *host) awsWith(t *testing.T, credsFile string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	argv := append([]string{"lambda"}, args...)
	if !contains(args, "--output") {
		argv = append(argv, "--output", "json")
	}
	cmd := exec.CommandContext(ctx, "aws", argv...)
	cmd.Env = h.cliEnv(credsFile)
	cmd.Dir = built.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	rc := 0
	if err != nil {
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "run aws %v", args)
		rc = ee.ExitCode()
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), rc: rc}
}

// awsJSON runs the CLI, requires rc 0 and decodes its JSON output into v.
func (h *host) awsJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	r := h.aws(t, args...)
	require.Equal(t, 0, r.rc, "aws lambda %s\n%s", strings.Join(args, " "), r)
	if v != nil {
		require.NoError(t, json.Unmarshal([]byte(r.stdout), v), "aws lambda %s: output %q", strings.Join(args, " "), r.stdout)
	}
}

// requireCLIError wants rc 255 and the error code in the CLI's message.
func requireCLIError(t *testing.T, r cliResult, code string) {
	t.Helper()
	require.Equal(t, 255, r.rc, "want a service error %s\n%s", code, r)
	require.Contains(t, r.stderr, "An error occurred ("+code+")", r.String())
}

// ---------------------------------------------------------------------------
// Raw HTTP, signed with SigV4 like the SDK does.

type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r rawResponse) errorType() string {
	v := r.header.Get("X-Amzn-ErrorType")
	v, _, _ = strings.Cut(v, ":")
	if i := strings.LastIndex(v, "#"); i >= 0 {
		v = v[i+1:]
	}
	return v
}

func (r rawResponse) String() string {
	return fmt.Sprintf("%d %s %s", r.status, r.errorType(), tail(string(r.body), 512))
}

// raw sends method path (already escaped, may carry a query) with body;
// sign=false sends no Authorization at all.
func (h *host) raw(t *testing.T, method, path string, body []byte, header http.Header, sign bool) rawResponse {
	t.Helper()
	r, err := h.rawErr(t.Context(), method, path, body, header, sign)
	require.NoError(t, err, "%s %s", method, path)
	return r
}

func (h *host) rawErr(ctx context.Context, method, path string, body []byte, header http.Header, sign bool) (rawResponse, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.endpoint+path, bytes.NewReader(body))
	if err != nil {
		return rawResponse{}, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil && req.Header.Get("Content-Type") == "" && !strings.HasSuffix(req.URL.Path, "/invocations") {
		req.Header.Set("Content-Type", "application/json")
	}
	if sign {
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(ctx, h.creds, req, hex.EncodeToString(sum[:]), "lambda", testRegion, time.Now()); err != nil {
			return rawResponse{}, err
		}
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func requireAPIError(t *testing.T, r rawResponse, status int, errType string) {
	t.Helper()
	require.Equal(t, status, r.status, "want %d %s, got %s", status, errType, r)
	if errType != "" {
		require.Equal(t, errType, r.errorType(), "got %s", r)
	}
}

// createBody is a valid CreateFunction JSON body; edit changes it first.
func createBody(t *testing.T, name string, zip []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	m := map[string]any{
		"FunctionName": name,
		"Role":         testRole,
		"Runtime":      testRuntime,
		"Handler":      "bootstrap",
		"Code":         map[string]any{"ZipFile": base64.StdEncoding.EncodeToString(zip)},
	}
	if edit != nil {
		edit(m)
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}
