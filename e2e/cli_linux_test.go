package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// step runs a dependent step of a flow: later steps make no sense once one
// has failed.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

type cliInvokeOut struct {
	StatusCode      int
	ExecutedVersion string
	FunctionError   string
	LogResult       string
}

// cliInvoke runs `aws lambda invoke` and returns its stdout document and
// the outfile's content.
func cliInvoke(t *testing.T, h *host, name, payload string, extra ...string) (cliInvokeOut, []byte) {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "out.json")
	args := append([]string{"invoke", "--function-name", name, "--cli-read-timeout", "0"}, extra...)
	if payload != "" {
		args = append(args, "--payload", payload)
	}
	var out cliInvokeOut
	h.awsJSON(t, &out, append(args, outFile)...)
	b, err := os.ReadFile(outFile)
	require.NoError(t, err)
	return out, b
}

// runtimeFn is what create-function answers for a managed-runtime function.
type runtimeFn struct {
	Runtime, Handler string
	Layers           []struct{ Arn string }
}

// createRuntimeFn creates a function of a managed runtime from a zip file
// with the aws CLI, checks its runtime and handler, and waits until it is
// Active. The caller deletes it.
func (h *host) createRuntimeFn(t *testing.T, name, runtime, handler, zipPath string, extra ...string) runtimeFn {
	t.Helper()
	var cfg runtimeFn
	h.awsJSON(t, &cfg, append([]string{"create-function", "--function-name", name, "--runtime", runtime,
		"--handler", handler, "--role", testRole, "--zip-file", "fileb://" + zipPath}, extra...)...)
	require.Equal(t, runtime, cfg.Runtime)
	require.Equal(t, handler, cfg.Handler)
	r := h.aws(t, "wait", "function-active-v2", "--function-name", name)
	require.Equal(t, 0, r.rc, r.String())
	return cfg
}

func TestRootCLI_FunctionLifecycle(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	name := uniqueName("cli-life")
	h.deleteAtCleanup(t, name)
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", testRegion, testAccount, name)
	var revision string

	step(t, "create-function", func(t *testing.T) {
		var cfg struct {
			FunctionName, FunctionArn, CodeSha256, State, LastUpdateStatus, PackageType, RevisionId, Version, Runtime, Handler string
			CodeSize                                                                                                           int64
			Timeout, MemorySize                                                                                                int
			Architectures                                                                                                      []string
		}
		h.awsJSON(t, &cfg, "create-function", "--function-name", name, "--runtime", testRuntime,
			"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath)
		require.Equal(t, name, cfg.FunctionName)
		require.Equal(t, arn, cfg.FunctionArn)
		require.Equal(t, codeSha256(a.fnZip), cfg.CodeSha256)
		require.Equal(t, int64(len(a.fnZip)), cfg.CodeSize)
		require.Equal(t, "Active", cfg.State)
		require.Equal(t, "Successful", cfg.LastUpdateStatus)
		require.Equal(t, 3, cfg.Timeout)
		require.Equal(t, 128, cfg.MemorySize)
		require.Equal(t, "Zip", cfg.PackageType)
		require.Equal(t, []string{"x86_64"}, cfg.Architectures)
		require.Equal(t, "$LATEST", cfg.Version)
		require.Equal(t, testRuntime, cfg.Runtime)
		require.Equal(t, "bootstrap", cfg.Handler)
		require.Regexp(t, uuidRE, cfg.RevisionId)
		revision = cfg.RevisionId
	})

	step(t, "wait function-active-v2", func(t *testing.T) {
		r := h.aws(t, "wait", "function-active-v2", "--function-name", name)
		require.Equal(t, 0, r.rc, r.String())
		require.Empty(t, strings.TrimSpace(r.stdout))
	})

	step(t, "get-function", func(t *testing.T) {
		var got struct {
			Configuration struct{ FunctionArn, State, LastUpdateStatus, CodeSha256, RevisionId string }
			Code          struct{ RepositoryType string }
		}
		h.awsJSON(t, &got, "get-function", "--function-name", name)
		require.Equal(t, arn, got.Configuration.FunctionArn)
		require.Equal(t, "Active", got.Configuration.State)
		require.Equal(t, "Successful", got.Configuration.LastUpdateStatus)
		require.Equal(t, codeSha256(a.fnZip), got.Configuration.CodeSha256)
		require.Equal(t, revision, got.Configuration.RevisionId)
		require.Equal(t, "S3", got.Code.RepositoryType)

		r := h.aws(t, "get-function", "--function-name", name, "--query", "Configuration.[State,LastUpdateStatus]", "--output", "text")
		require.Equal(t, 0, r.rc, r.String())
		require.Equal(t, "Active\tSuccessful", strings.TrimSpace(r.stdout))

		var cfg struct{ FunctionArn string }
		h.awsJSON(t, &cfg, "get-function-configuration", "--function-name", arn)
		require.Equal(t, arn, cfg.FunctionArn, "lookup by full ARN")
	})

	step(t, "invoke", func(t *testing.T) {
		out, body := cliInvoke(t, h, name, `{"mode":"echo","name":"kumo"}`)
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "$LATEST", out.ExecutedVersion)
		require.Empty(t, out.FunctionError)
		var echo struct {
			Event        map[string]any    `json:"event"`
			Env          map[string]string `json:"env"`
			RequestID    string            `json:"request_id"`
			InvokedARN   string            `json:"invoked_arn"`
			FunctionName string            `json:"function_name"`
			Version      string            `json:"function_version"`
			MemoryMB     int               `json:"memory_mb"`
			DeadlineMs   int64             `json:"deadline_ms"`
		}
		require.NoError(t, json.Unmarshal(body, &echo), string(body))
		require.Equal(t, "kumo", echo.Event["name"])
		require.Regexp(t, uuidRE, echo.RequestID)
		require.Equal(t, arn, echo.InvokedARN)
		require.Equal(t, name, echo.FunctionName)
		require.Equal(t, "$LATEST", echo.Version)
		require.Equal(t, 128, echo.MemoryMB)
		require.Positive(t, echo.DeadlineMs)
		require.LessOrEqual(t, echo.DeadlineMs, int64(3000))
	})

	step(t, "invoke --log-type Tail", func(t *testing.T) {
		out, _ := cliInvoke(t, h, name, `{"mode":"echo"}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		b, err := base64.StdEncoding.DecodeString(out.LogResult)
		require.NoError(t, err, out.LogResult)
		require.LessOrEqual(t, len(b), 4096)
		logText := string(b)
		require.Contains(t, logText, "START RequestId: ")
		require.Contains(t, logText, "Version: $LATEST")
		require.Contains(t, logText, "END RequestId: ")
		require.Contains(t, logText, "REPORT RequestId: ")
		require.Contains(t, logText, "Duration: ")
		require.Contains(t, logText, "Memory Size: 128 MB")
	})

	step(t, "invoke --client-context", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"custom":{"team":"kumo"},"env":{"stage":"e2e"}}`))
		out, body := cliInvoke(t, h, name, `{"mode":"echo"}`, "--client-context", cc)
		require.Equal(t, 200, out.StatusCode)
		var echo struct {
			Custom map[string]string `json:"client_custom"`
			Env    map[string]string `json:"client_env"`
		}
		require.NoError(t, json.Unmarshal(body, &echo), string(body))
		require.Equal(t, map[string]string{"team": "kumo"}, echo.Custom)
		require.Equal(t, map[string]string{"stage": "e2e"}, echo.Env)
	})

	step(t, "invoke function error", func(t *testing.T) {
		out, body := cliInvoke(t, h, name, `{"mode":"error"}`)
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		require.JSONEq(t, `{"errorMessage":"requested failure","errorType":"errorString"}`, string(body))
	})

	step(t, "invoke DryRun", func(t *testing.T) {
		out, body := cliInvoke(t, h, name, "", "--invocation-type", "DryRun")
		require.Equal(t, 204, out.StatusCode)
		require.Empty(t, body)
	})

	step(t, "update-function-configuration", func(t *testing.T) {
		var cfg struct {
			Timeout, MemorySize int
			RevisionId          string
			Environment         struct{ Variables map[string]string }
		}
		h.awsJSON(t, &cfg, "update-function-configuration", "--function-name", name,
			"--timeout", "10", "--memory-size", "256", "--environment", "Variables={GREETING=hey}")
		require.Equal(t, 10, cfg.Timeout)
		require.Equal(t, 256, cfg.MemorySize)
		require.Equal(t, map[string]string{"GREETING": "hey"}, cfg.Environment.Variables)
		require.NotEqual(t, revision, cfg.RevisionId)
		r := h.aws(t, "wait", "function-updated-v2", "--function-name", name)
		require.Equal(t, 0, r.rc, r.String())

		_, body := cliInvoke(t, h, name, `{"mode":"echo"}`)
		var echo struct {
			Env        map[string]string `json:"env"`
			MemoryMB   int               `json:"memory_mb"`
			DeadlineMs int64             `json:"deadline_ms"`
		}
		require.NoError(t, json.Unmarshal(body, &echo), string(body))
		require.Equal(t, "hey", echo.Env["GREETING"])
		require.Equal(t, 256, echo.MemoryMB)
		require.Greater(t, echo.DeadlineMs, int64(3000), "deadline must reflect the new 10 s timeout")
		require.LessOrEqual(t, echo.DeadlineMs, int64(10000))
	})

	step(t, "stale --revision-id", func(t *testing.T) {
		r := h.aws(t, "update-function-configuration", "--function-name", name, "--timeout", "5",
			"--revision-id", revision)
		requireCLIError(t, r, "PreconditionFailedException")
		r = h.aws(t, "update-function-code", "--function-name", name, "--zip-file", "fileb://"+a.v2Path,
			"--revision-id", "00000000-0000-0000-0000-000000000000")
		requireCLIError(t, r, "PreconditionFailedException")
	})

	step(t, "update-function-code", func(t *testing.T) {
		var cfg struct {
			CodeSha256, RevisionId, LastUpdateStatus string
			CodeSize                                 int64
		}
		h.awsJSON(t, &cfg, "update-function-code", "--function-name", name, "--zip-file", "fileb://"+a.v2Path)
		require.Equal(t, codeSha256(a.v2Zip), cfg.CodeSha256)
		require.Equal(t, int64(len(a.v2Zip)), cfg.CodeSize)
		require.Contains(t, []string{"InProgress", "Successful"}, cfg.LastUpdateStatus)
		r := h.aws(t, "wait", "function-updated-v2", "--function-name", name)
		require.Equal(t, 0, r.rc, r.String())

		out, body := cliInvoke(t, h, name, `{"mode":"echo"}`)
		require.Empty(t, out.FunctionError, string(body))
		require.JSONEq(t, `{"greeting":"hello from v2"}`, string(body), "the new code must run")
	})

	step(t, "tags", func(t *testing.T) {
		r := h.aws(t, "tag-resource", "--resource", arn, "--tags", "team=x,env=y")
		require.Equal(t, 0, r.rc, r.String())
		var tags struct{ Tags map[string]string }
		h.awsJSON(t, &tags, "list-tags", "--resource", arn)
		require.Equal(t, map[string]string{"team": "x", "env": "y"}, tags.Tags)
		r = h.aws(t, "untag-resource", "--resource", arn, "--tag-keys", "env")
		require.Equal(t, 0, r.rc, r.String())
		var after struct{ Tags map[string]string }
		h.awsJSON(t, &after, "list-tags", "--resource", arn)
		require.Equal(t, map[string]string{"team": "x"}, after.Tags)
	})

	step(t, "get-account-settings", func(t *testing.T) {
		var s struct {
			AccountLimit struct {
				TotalCodeSize, CodeSizeUnzipped, CodeSizeZipped int64
				ConcurrentExecutions                            int
			}
			AccountUsage struct {
				TotalCodeSize int64
				FunctionCount int
			}
		}
		h.awsJSON(t, &s, "get-account-settings")
		require.Positive(t, s.AccountLimit.ConcurrentExecutions)
		require.Positive(t, s.AccountLimit.CodeSizeZipped)
		require.Positive(t, s.AccountLimit.CodeSizeUnzipped)
		require.GreaterOrEqual(t, s.AccountUsage.FunctionCount, 1)
		require.Positive(t, s.AccountUsage.TotalCodeSize)
	})

	step(t, "delete-function", func(t *testing.T) {
		var del struct{ StatusCode int }
		h.awsJSON(t, &del, "delete-function", "--function-name", name)
		require.Equal(t, 204, del.StatusCode)
		r := h.aws(t, "get-function", "--function-name", name)
		requireCLIError(t, r, "ResourceNotFoundException")
		require.Contains(t, r.stderr, "Function not found: "+arn)
	})
}

func TestRootCLI_ListFunctionsPagination(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	prefix := uniqueName("cli-list")
	want := map[string]bool{}
	for i := range 5 {
		name := fmt.Sprintf("%s-%d", prefix, i)
		r := h.aws(t, "create-function", "--function-name", name, "--runtime", testRuntime,
			"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath)
		require.Equal(t, 0, r.rc, r.String())
		h.deleteAtCleanup(t, name)
		want[name] = true
	}

	var all struct {
		Functions []struct{ FunctionName string }
		NextToken string
	}
	h.awsJSON(t, &all, "list-functions", "--page-size", "2")
	seen := map[string]int{}
	for _, f := range all.Functions {
		seen[f.FunctionName]++
	}
	for name, n := range seen {
		require.Equal(t, 1, n, "%s listed %d times", name, n)
	}
	for name := range want {
		require.Equal(t, 1, seen[name], "%s missing from list-functions --page-size 2", name)
	}
	require.Empty(t, all.NextToken)

	var some struct {
		Functions []struct{ FunctionName string }
		NextToken string
	}
	h.awsJSON(t, &some, "list-functions", "--max-items", "3", "--page-size", "2")
	require.Len(t, some.Functions, 3)
	require.NotEmpty(t, some.NextToken, "more functions exist, so --max-items must leave a NextToken")
	var rest struct {
		Functions []struct{ FunctionName string }
	}
	h.awsJSON(t, &rest, "list-functions", "--page-size", "2", "--starting-token", some.NextToken)
	got := map[string]int{}
	for _, f := range append(some.Functions, rest.Functions...) {
		got[f.FunctionName]++
	}
	require.Equal(t, seen, got, "--max-items then --starting-token must list every function exactly once")
}

func TestRootCLI_Errors(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	existing := h.createFn(t, "cli-err", a.fnZip)

	t.Run("missing function", func(t *testing.T) {
		r := h.aws(t, "get-function", "--function-name", "no-such-fn")
		requireCLIError(t, r, "ResourceNotFoundException")
		require.Contains(t, r.stderr, "Function not found: arn:aws:lambda:local:000000000000:function:no-such-fn")
		r = h.aws(t, "invoke", "--function-name", "no-such-fn", filepath.Join(t.TempDir(), "o"))
		requireCLIError(t, r, "ResourceNotFoundException")
	})
	t.Run("bad name", func(t *testing.T) {
		r := h.aws(t, "get-function", "--function-name", "bad name!")
		requireCLIError(t, r, "InvalidParameterValueException")
	})
	t.Run("duplicate create", func(t *testing.T) {
		r := h.aws(t, "create-function", "--function-name", existing, "--runtime", testRuntime,
			"--handler", "bootstrap", "--role", testRole, "--zip-file", "fileb://"+a.fnPath)
		requireCLIError(t, r, "ResourceConflictException")
	})
	t.Run("bad signature", func(t *testing.T) {
		creds := filepath.Join(t.TempDir(), "credentials")
		require.NoError(t, os.WriteFile(creds, []byte(fmt.Sprintf(
			"[kumo]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
			h.creds.AccessKeyID, "WRONGSECRETwrongsecretWRONGSECRET0123456")), 0o600))
		r := h.awsWith(t, creds, "get-function", "--function-name", existing)
		requireCLIError(t, r, "InvalidSignatureException")
	})
	t.Run("unknown access key", func(t *testing.T) {
		creds := filepath.Join(t.TempDir(), "credentials")
		require.NoError(t, os.WriteFile(creds, []byte(
			"[kumo]\naws_access_key_id = AKIAUNKNOWNKEY000000\naws_secret_access_key = whatever0whatever0whatever0\n"), 0o600))
		r := h.awsWith(t, creds, "list-functions")
		requireCLIError(t, r, "UnrecognizedClientException")
	})
}
