package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// boto3Script drives versions, aliases, concurrency and errors through
// boto3, the other client the issue names; it prints one JSON document.
const boto3Script = `
import base64, json, sys, boto3, botocore
from botocore.config import Config
name, zip_path = sys.argv[1], sys.argv[2]
c = boto3.client("lambda", config=Config(retries={"max_attempts": 0}))
out = {}
with open(zip_path, "rb") as f:
    code = f.read()
c.create_function(FunctionName=name, Runtime="provided.al2023", Role="arn:aws:iam::000000000000:role/x",
                  Handler="bootstrap", Code={"ZipFile": code}, Environment={"Variables": {"GREETING": "one"}})
c.get_waiter("function_active_v2").wait(FunctionName=name)
out["v1"] = c.publish_version(FunctionName=name)["Version"]
c.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "two"}})
c.get_waiter("function_updated_v2").wait(FunctionName=name)
out["v2"] = c.publish_version(FunctionName=name)["Version"]
alias = c.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                       RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
out["alias_arn"] = alias["AliasArn"]
seen = set()
for _ in range(60):
    r = c.invoke(FunctionName=name, Qualifier="live", Payload=b'{"mode":"echo"}')
    seen.add(r["ExecutedVersion"])
out["versions_seen"] = sorted(seen)
out["aliases"] = [a["Name"] for a in c.list_aliases(FunctionName=name)["Aliases"]]
c.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
try:
    c.invoke(FunctionName=name, Payload=b"{}")
    out["throttle"] = "none"
except c.exceptions.TooManyRequestsException as e:
    out["throttle"] = e.response["Reason"]
c.delete_function_concurrency(FunctionName=name)
try:
    c.delete_function(FunctionName=name, Qualifier="2")
    out["delete_in_use"] = "deleted"
except c.exceptions.ResourceConflictException:
    out["delete_in_use"] = "ResourceConflictException"
try:
    c.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})
    out["latest_weight"] = "accepted"
except c.exceptions.InvalidParameterValueException:
    out["latest_weight"] = "InvalidParameterValueException"
c.delete_function(FunctionName=name)
print(json.dumps(out))
`

func TestRootBoto3_VersionsAliasesConcurrency(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("python3 with boto3 is required: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "flow.py")
	zipPath := filepath.Join(dir, "fn.zip")
	require.NoError(t, os.WriteFile(script, []byte(boto3Script), 0o644))
	require.NoError(t, os.WriteFile(zipPath, a.fnZip, 0o644))
	name := uniqueName("boto3")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", script, name, zipPath)
	cmd.Env = h.cliEnv("")
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "boto3 flow failed:\n%s", stderr)
	var got struct {
		V1, V2       string
		AliasArn     string   `json:"alias_arn"`
		VersionsSeen []string `json:"versions_seen"`
		Aliases      []string
		Throttle     string
		DeleteInUse  string `json:"delete_in_use"`
		LatestWeight string `json:"latest_weight"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got), "%s", out)
	require.Equal(t, "1", got.V1)
	require.Equal(t, "2", got.V2)
	require.True(t, strings.HasSuffix(got.AliasArn, ":function:"+name+":live"), got.AliasArn)
	// 60 draws at 50%: both versions appear except with probability 2^-59.
	require.Equal(t, []string{"1", "2"}, got.VersionsSeen)
	require.Equal(t, []string{"live"}, got.Aliases)
	require.Equal(t, "ReservedFunctionConcurrentInvocationLimitExceeded", got.Throttle)
	require.Equal(t, "ResourceConflictException", got.DeleteInUse)
	require.Equal(t, "InvalidParameterValueException", got.LatestWeight)
}
