package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testKMSKeyArn = "arn:aws:kms:local:000000000000:key/0b7a2c4e-1111-2222-3333-444455556666"

func randomCanary(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// grepTree lists the regular files under dir holding needle. Reading the
// raw bytes finds everything `strings` would, and more.
func grepTree(t *testing.T, dir, needle string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			// Sandboxes come and go while a running host is read.
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if bytes.Contains(b, []byte(needle)) {
			hits = append(hits, path)
		}
		return nil
	})
	require.NoError(t, err)
	return hits
}

func echoEnv(t *testing.T, h *host, name, key string) string {
	t.Helper()
	out, body := h.invoke(t, name, map[string]any{"mode": "echo", "env": []string{key}})
	require.Nil(t, out.FunctionError, "%v", body)
	v, _ := body["env"].(map[string]any)[key].(string)
	return v
}

func TestRootSecrets_EnvironmentEncryptedAtRest(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	// Debug logging: the most a host ever writes about its requests.
	h := newHost(t, dir, "--log-level", "debug")
	const key = "KUMO_SECRET_CANARY"
	canary, canary2 := randomCanary("env-canary-"), randomCanary("env-canary-upd-")

	name := h.createFn(t, "sealed", a.fnZip,
		withEnv(map[string]string{key: canary}),
		func(in *lambda.CreateFunctionInput) { in.KMSKeyArn = aws.String(testKMSKeyArn) })
	cfg, err := h.lambda.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	assert.Equal(t, testKMSKeyArn, aws.ToString(cfg.KMSKeyArn), "KMSKeyArn is stored and returned")
	require.NotNil(t, cfg.Environment)
	assert.Equal(t, canary, cfg.Environment.Variables[key], "the API still returns the plaintext")
	require.Equal(t, canary, echoEnv(t, h, name, key), "the function sees the value")

	t.Run("update through the aws CLI", func(t *testing.T) {
		var out map[string]any
		h.awsJSON(t, &out, "update-function-configuration", "--function-name", name,
			"--environment", fmt.Sprintf("Variables={%s=%s}", key, canary2), "--kms-key-arn", "")
		assert.NotContains(t, out, "KMSKeyArn", "an empty KMSKeyArn clears it")
		eventually(t, 60*time.Second, func() bool { return echoEnv(t, h, name, key) == canary2 },
			"the function sees the updated value")
		r := h.aws(t, "update-function-configuration", "--function-name", name, "--kms-key-arn", "not-an-arn")
		requireCLIError(t, r, "InvalidParameterValueException")
		r = h.aws(t, "update-function-configuration", "--function-name", name, "--kms-key-arn", "arn:aws:kms:local:0:key/\u00e9\u2028")
		requireCLIError(t, r, "InvalidParameterValueException")
	})

	requireNothingInClear := func(t *testing.T) {
		t.Helper()
		for _, c := range []string{canary, canary2} {
			assert.Empty(t, grepTree(t, dir, c), "files under the data dir hold %s in clear", c)
			assert.NotContains(t, h.stderr.Since(0), c, "the server log holds an environment value")
			assert.NotContains(t, h.stdout.Since(0), c)
		}
		// The grep reads the engine's files: the function's name is there.
		assert.NotEmpty(t, grepTree(t, filepath.Join(dir, "nats"), name), "the grep does not see the engine's files")
	}
	t.Run("nothing in clear while running", requireNothingInClear)

	st, err := os.Stat(filepath.Join(dir, "master.key"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	keyBefore, err := os.ReadFile(filepath.Join(dir, "master.key"))
	require.NoError(t, err)

	require.NoError(t, h.stop())
	t.Run("nothing in clear after shutdown", requireNothingInClear)

	t.Run("restart keeps the environment", func(t *testing.T) {
		h2 := newHost(t, dir)
		assert.Equal(t, canary2, echoEnv(t, h2, name, key))
		keyAfter, err := os.ReadFile(filepath.Join(dir, "master.key"))
		require.NoError(t, err)
		assert.Equal(t, keyBefore, keyAfter, "the master key is never rewritten")
		require.NoError(t, h2.stop())
	})

	keyPath := filepath.Join(dir, "master.key")
	otherKey := "kumo-master-key-v1 " + strings.Repeat("QUJD", 10) + "QUI=\n"
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T)
		want    string
	}{
		{"malformed key", func(t *testing.T) {
			require.NoError(t, os.WriteFile(keyPath, []byte("garbage\n"), 0o600))
		}, "malformed"},
		{"truncated key", func(t *testing.T) {
			require.NoError(t, os.WriteFile(keyPath, keyBefore[:20], 0o600))
		}, "malformed"},
		{"readable by others", func(t *testing.T) {
			require.NoError(t, os.WriteFile(keyPath, keyBefore, 0o600))
			require.NoError(t, os.Chmod(keyPath, 0o644))
		}, "owner only"},
		{"another key", func(t *testing.T) {
			require.NoError(t, os.WriteFile(keyPath, []byte(otherKey), 0o600))
		}, "does not open"},
		{"missing key", func(*testing.T) {}, "missing"}, // removed below for every case
	} {
		t.Run("startup fails: "+tc.name, func(t *testing.T) {
			_ = os.Remove(keyPath)
			tc.prepare(t)
			before, _ := os.ReadFile(keyPath)
			h, err := startHost(a.kumo, dir)
			if err == nil {
				_ = h.stop()
				t.Fatal("the host started")
			}
			require.ErrorContains(t, err, "master key")
			require.ErrorContains(t, err, tc.want)
			after, _ := os.ReadFile(keyPath)
			assert.Equal(t, before, after, "a failed start leaves the key file as it was")
		})
	}

	t.Run("restored key works again", func(t *testing.T) {
		require.NoError(t, os.WriteFile(keyPath, keyBefore, 0o600))
		require.NoError(t, os.Chmod(keyPath, 0o600))
		h3 := newHost(t, dir)
		assert.Equal(t, canary2, echoEnv(t, h3, name, key))
	})
}

// auditEntry is what `kumo audit -o json` prints per line.
type auditEntry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	RequestID string    `json:"requestId"`
	Principal string    `json:"principal"`
	Source    string    `json:"source"`
	Operation string    `json:"operation"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Function  string    `json:"function"`
	Status    int       `json:"status"`
	ErrorCode string    `json:"errorCode"`
}

func (h *host) auditLog(t *testing.T) ([]auditEntry, string) {
	t.Helper()
	stdout, stderr, rc := h.kumo(t, "audit", "-o", "json")
	require.Equal(t, 0, rc, "kumo audit: %s", stderr)
	var out []auditEntry
	for line := range strings.Lines(stdout) {
		var e auditEntry
		require.NoError(t, json.Unmarshal([]byte(line), &e), line)
		out = append(out, e)
	}
	return out, stdout
}

// withoutReads drops the audit log's own reads.
func withoutReads(es []auditEntry) []auditEntry {
	return slices.DeleteFunc(slices.Clone(es), func(e auditEntry) bool { return e.Operation == "kumo:GetAuditLog" })
}

func TestRootAudit_ControlPlaneCalls(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h := newHost(t, dir)
	name := uniqueName("audited")
	h.deleteAtCleanup(t, name)
	bodyCanary := randomCanary("body-canary-")

	type want struct {
		op, principal, code string
		method              string
		status              int
	}
	var wants []want
	ok := func(op, method string, status int) {
		wants = append(wants, want{op: op, principal: h.creds.AccessKeyID, method: method, status: status})
	}

	h.awsJSON(t, nil, "create-function", "--function-name", name, "--runtime", testRuntime,
		"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath,
		"--environment", "Variables={SECRET="+bodyCanary+"}")
	ok("CreateFunction", "POST", 201)
	h.awsJSON(t, nil, "get-function", "--function-name", name)
	ok("GetFunction", "GET", 200)
	h.awsJSON(t, nil, "invoke", "--function-name", name, "--payload", `{"mode":"echo","x":"`+bodyCanary+`"}`,
		filepath.Join(t.TempDir(), "out.json"))
	// Invoke is data plane: not audited.
	h.awsJSON(t, nil, "update-function-configuration", "--function-name", name, "--description", "desc "+bodyCanary)
	ok("UpdateFunctionConfiguration", "PUT", 200)
	r := h.aws(t, "get-function", "--function-name", name+"-missing")
	requireCLIError(t, r, "ResourceNotFoundException")
	wants = append(wants, want{"GetFunction", h.creds.AccessKeyID, "ResourceNotFoundException", "GET", 404})
	h.awsJSON(t, nil, "delete-function", "--function-name", name)
	ok("DeleteFunction", "DELETE", 204)

	bad := filepath.Join(t.TempDir(), "credentials")
	require.NoError(t, os.WriteFile(bad, []byte(fmt.Sprintf("[kumo]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
		h.creds.AccessKeyID, "WRONGSECRETwrongsecretWRONGSECRET0123456")), 0o600))
	r = h.awsWith(t, bad, "get-function", "--function-name", name)
	requireCLIError(t, r, "InvalidSignatureException")
	wants = append(wants, want{"GetFunction", "invalid", "InvalidSignatureException", "GET", 403})
	unsigned := h.raw(t, http.MethodGet, "/2015-03-31/functions", nil, nil, false)
	require.Equal(t, http.StatusForbidden, unsigned.status)
	wants = append(wants, want{"ListFunctions", "anonymous", "MissingAuthenticationTokenException", "GET", 403})

	var entries []auditEntry
	var text string
	eventually(t, 30*time.Second, func() bool {
		var all []auditEntry
		all, text = h.auditLog(t)
		entries = withoutReads(all)
		return len(entries) >= len(wants)
	}, "kumo audit lists %d calls", len(wants))
	require.Len(t, entries, len(wants), "exactly the control-plane calls, no invocations:\n%s", text)
	for i, e := range entries {
		w := wants[i]
		assert.Equal(t, w.op, e.Operation, "entry %d", i)
		assert.Equal(t, w.principal, e.Principal, "entry %d %s", i, e.Operation)
		assert.Equal(t, w.method, e.Method, "entry %d %s", i, e.Operation)
		assert.Equal(t, w.status, e.Status, "entry %d %s", i, e.Operation)
		assert.Equal(t, w.code, e.ErrorCode, "entry %d %s", i, e.Operation)
		assert.Equal(t, "127.0.0.1", e.Source, "entry %d", i)
		assert.NotEmpty(t, e.RequestID, "entry %d", i)
		if i > 0 {
			assert.Greater(t, e.Seq, entries[i-1].Seq, "in order")
			assert.False(t, e.Time.Before(entries[i-1].Time), "in order")
		}
		if e.Operation != "ListFunctions" {
			assert.True(t, strings.HasPrefix(e.Function, name), "entry %d names the function: %q", i, e.Function)
		}
	}
	assert.NotContains(t, text, bodyCanary, "no request body content in the audit log")
	assert.NotContains(t, text, h.creds.SecretAccessKey)

	t.Run("text output", func(t *testing.T) {
		stdout, stderr, rc := h.kumo(t, "audit")
		require.Equal(t, 0, rc, stderr)
		assert.Contains(t, stdout, "CreateFunction")
		assert.Contains(t, stdout, "403 InvalidSignatureException")
		assert.NotContains(t, stdout, bodyCanary)
		_, stderr, rc = h.kumo(t, "audit", "-o", "yaml")
		assert.NotEqual(t, 0, rc)
		assert.Contains(t, stderr, "want text or json")
	})

	t.Run("follow", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		last := entries[len(entries)-1].Seq
		cmd := exec.CommandContext(ctx, h.bin, "audit", "--follow", "--after", fmt.Sprint(last), "-o", "json",
			"--data-dir", h.dataDir, "--endpoint", h.endpoint)
		cmd.Env = h.cliEnv("")
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
		cmd.WaitDelay = 10 * time.Second
		var out, errOut logBuffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		require.NoError(t, cmd.Start())
		r := h.aws(t, "get-function-configuration", "--function-name", "followed-fn")
		requireCLIError(t, r, "ResourceNotFoundException")
		eventually(t, 30*time.Second, func() bool { return strings.Contains(out.Since(0), `"function":"followed-fn"`) },
			"kumo audit --follow prints the new call; got:\n%s\nstderr: %s", out.Since(0), errOut.Since(0))
		assert.NotContains(t, out.Since(0), `"operation":"CreateFunction"`, "--after skips older records")
		cancel()
		_ = cmd.Wait()
		require.NotNil(t, cmd.ProcessState)
		assert.Equal(t, 0, cmd.ProcessState.ExitCode(), "stderr: %s", errOut.Since(0))
	})

	t.Run("flushed on clean shutdown", func(t *testing.T) {
		r := h.aws(t, "get-function", "--function-name", "last-call-before-stop")
		requireCLIError(t, r, "ResourceNotFoundException")
		require.NoError(t, h.stop())
		h2 := newHost(t, dir)
		all, _ := h2.auditLog(t)
		var found bool
		for _, e := range all {
			found = found || e.Function == "last-call-before-stop"
		}
		assert.True(t, found, "the last call before shutdown is in the log after restart")
		assert.GreaterOrEqual(t, len(withoutReads(all)), len(wants)+2)
	})
}
