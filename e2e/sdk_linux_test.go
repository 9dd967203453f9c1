package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/require"
)

func TestRootSDK_FunctionLifecycle(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	c := h.lambda
	ctx := t.Context()
	name := uniqueName("sdk-life")
	h.deleteAtCleanup(t, name)
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", testRegion, testAccount, name)
	var revision string

	step(t, "CreateFunction", func(t *testing.T) {
		out, err := c.CreateFunction(ctx, createInput(name, a.fnZip, withEnv(map[string]string{"GREETING": "hi"})))
		require.NoError(t, err)
		require.Equal(t, arn, aws.ToString(out.FunctionArn))
		require.Equal(t, codeSha256(a.fnZip), aws.ToString(out.CodeSha256))
		require.Equal(t, int64(len(a.fnZip)), out.CodeSize)
		require.Equal(t, types.StateActive, out.State)
		require.Equal(t, types.LastUpdateStatusSuccessful, out.LastUpdateStatus)
		require.Equal(t, int32(3), aws.ToInt32(out.Timeout))
		require.Equal(t, int32(128), aws.ToInt32(out.MemorySize))
		require.Equal(t, types.PackageTypeZip, out.PackageType)
		require.Equal(t, []types.Architecture{types.ArchitectureX8664}, out.Architectures)
		require.Equal(t, "hi", out.Environment.Variables["GREETING"])
		require.Regexp(t, uuidRE, aws.ToString(out.RevisionId))
		revision = aws.ToString(out.RevisionId)
	})

	step(t, "FunctionActiveV2Waiter", func(t *testing.T) {
		w := lambda.NewFunctionActiveV2Waiter(c, func(o *lambda.FunctionActiveV2WaiterOptions) { o.MinDelay = 100 * time.Millisecond })
		require.NoError(t, w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute))
	})

	step(t, "GetFunction", func(t *testing.T) {
		out, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		require.NoError(t, err)
		require.Equal(t, arn, aws.ToString(out.Configuration.FunctionArn))
		require.Equal(t, revision, aws.ToString(out.Configuration.RevisionId))
		require.NotNil(t, out.Code)
		cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(arn + ":$LATEST")})
		require.NoError(t, err, "qualified ARN")
		require.Equal(t, codeSha256(a.fnZip), aws.ToString(cfg.CodeSha256))
	})

	step(t, "Invoke", func(t *testing.T) {
		out, body := h.invoke(t, name, map[string]any{"mode": "echo", "n": 1})
		require.Equal(t, int32(200), out.StatusCode)
		require.Equal(t, "$LATEST", aws.ToString(out.ExecutedVersion))
		require.Nil(t, out.FunctionError)
		require.Equal(t, map[string]any{"mode": "echo", "n": 1.0}, body["event"])
		require.Equal(t, "hi", body["env"].(map[string]any)["GREETING"])
		require.Equal(t, arn, body["invoked_arn"])
		logText := decodeLog(t, out.LogResult)
		require.LessOrEqual(t, len(logText), 4096)
		require.Contains(t, logText, "START RequestId: "+body["request_id"].(string))
		require.Contains(t, logText, "END RequestId: "+body["request_id"].(string))
		require.Contains(t, logText, "REPORT RequestId: "+body["request_id"].(string))
	})

	step(t, "Invoke function error", func(t *testing.T) {
		out, body := h.invoke(t, name, map[string]any{"mode": "error"})
		require.Equal(t, int32(200), out.StatusCode)
		require.Equal(t, "Unhandled", aws.ToString(out.FunctionError))
		require.Equal(t, "requested failure", body["errorMessage"])
		require.Equal(t, "errorString", body["errorType"])

	})

	step(t, "Invoke DryRun", func(t *testing.T) {
		out, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), InvocationType: types.InvocationTypeDryRun})
		require.NoError(t, err)
		require.Equal(t, int32(204), out.StatusCode)
	})

	step(t, "UpdateFunctionConfiguration", func(t *testing.T) {
		out, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name),
			Timeout:      aws.Int32(8),
			MemorySize:   aws.Int32(192),
			Environment:  &types.Environment{Variables: map[string]string{"GREETING": "hey"}},
			RevisionId:   aws.String(revision),
		})
		require.NoError(t, err)
		require.Equal(t, int32(8), aws.ToInt32(out.Timeout))
		require.NotEqual(t, revision, aws.ToString(out.RevisionId))
		w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 100 * time.Millisecond })
		require.NoError(t, w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute))

		_, body := h.invoke(t, name, map[string]any{"mode": "echo"})
		require.Equal(t, "hey", body["env"].(map[string]any)["GREETING"])
		require.Equal(t, 192.0, body["memory_mb"])
		require.Greater(t, body["deadline_ms"], 3000.0)

		_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
			FunctionName: aws.String(name), Timeout: aws.Int32(9), RevisionId: aws.String(revision),
		})
		var pf *types.PreconditionFailedException
		require.ErrorAs(t, err, &pf)
	})

	step(t, "UpdateFunctionCode", func(t *testing.T) {
		out, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String(name), ZipFile: a.v2Zip})
		require.NoError(t, err)
		require.Equal(t, codeSha256(a.v2Zip), aws.ToString(out.CodeSha256))
		w := lambda.NewFunctionUpdatedV2Waiter(c, func(o *lambda.FunctionUpdatedV2WaiterOptions) { o.MinDelay = 100 * time.Millisecond })
		require.NoError(t, w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}, time.Minute))
		inv, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
		require.NoError(t, err)
		require.JSONEq(t, `{"greeting":"hello from v2"}`, string(inv.Payload))
	})

	step(t, "Tags", func(t *testing.T) {
		_, err := c.TagResource(ctx, &lambda.TagResourceInput{Resource: aws.String(arn), Tags: map[string]string{"a": "1", "b": "2"}})
		require.NoError(t, err)
		_, err = c.UntagResource(ctx, &lambda.UntagResourceInput{Resource: aws.String(arn), TagKeys: []string{"a"}})
		require.NoError(t, err)
		out, err := c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String(arn)})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"b": "2"}, out.Tags)
		got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"b": "2"}, got.Tags)
	})

	step(t, "GetAccountSettings", func(t *testing.T) {
		out, err := c.GetAccountSettings(ctx, &lambda.GetAccountSettingsInput{})
		require.NoError(t, err)
		require.NotNil(t, out.AccountLimit)
		require.NotNil(t, out.AccountUsage)
		require.Positive(t, out.AccountUsage.FunctionCount)
	})

	step(t, "DeleteFunction", func(t *testing.T) {
		_, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		require.NoError(t, err)
		_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		require.ErrorAs(t, err, &nf)
		require.Equal(t, "Function not found: "+arn, aws.ToString(nf.Message))
		_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name)})
		require.ErrorAs(t, err, &nf)
		_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(name)})
		require.ErrorAs(t, err, &nf, "deleting twice")
	})
}

func TestRootSDK_TypedErrors(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	c := h.lambda
	ctx := t.Context()
	name := h.createFn(t, "sdk-err", a.fnZip)

	t.Run("ResourceConflictException", func(t *testing.T) {
		_, err := c.CreateFunction(ctx, createInput(name, a.fnZip))
		var e *types.ResourceConflictException
		require.ErrorAs(t, err, &e)
	})
	t.Run("InvalidParameterValueException", func(t *testing.T) {
		for _, in := range []*lambda.CreateFunctionInput{
			createInput(uniqueName("sdk-bad"), a.fnZip, withMemory(64)),
			createInput(uniqueName("sdk-bad"), a.fnZip, withTimeout(901)),
			createInput(uniqueName("sdk-bad"), a.fnZip, func(in *lambda.CreateFunctionInput) { in.Runtime = "cobol9" }),
			createInput(uniqueName("sdk-bad"), a.fnZip, func(in *lambda.CreateFunctionInput) { in.Role = aws.String("not-a-role") }),
			createInput(uniqueName("sdk-bad"), []byte("not a zip")),
		} {
			_, err := c.CreateFunction(ctx, in)
			var e *types.InvalidParameterValueException
			require.ErrorAs(t, err, &e, "create %+v", *in)
		}
	})
	t.Run("PreconditionFailedException", func(t *testing.T) {
		_, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
			FunctionName: aws.String(name), ZipFile: a.fnZip, RevisionId: aws.String("00000000-0000-0000-0000-000000000000"),
		})
		var e *types.PreconditionFailedException
		require.ErrorAs(t, err, &e)
	})
	t.Run("RequestTooLargeException", func(t *testing.T) {
		_, err := c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: jsonString(maxPayload + 1)})
		var e *types.RequestTooLargeException
		require.ErrorAs(t, err, &e)
	})
	t.Run("ResourceNotFoundException", func(t *testing.T) {
		_, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("sdk-no-such-fn")})
		var e *types.ResourceNotFoundException
		require.ErrorAs(t, err, &e)
		require.Equal(t, "User", aws.ToString(e.Type))
		_, err = c.ListTags(ctx, &lambda.ListTagsInput{Resource: aws.String("arn:aws:lambda:local:000000000000:function:sdk-no-such-fn")})
		require.ErrorAs(t, err, &e)
	})
	t.Run("not a 5xx", func(t *testing.T) {
		// None of the above may have been a server error in disguise.
		_, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("sdk-no-such-fn")})
		var se *types.ServiceException
		require.False(t, errors.As(err, &se))
	})
}

func TestRootSDK_ListFunctionsPaginator(t *testing.T) {
	h := sharedHost(t)
	a := artifacts(t)
	want := map[string]bool{}
	for range 5 {
		want[h.createFn(t, "sdk-list", a.fnZip)] = true
	}
	p := lambda.NewListFunctionsPaginator(h.lambda, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
	seen := map[string]int{}
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Functions), 2, "MaxItems=2")
		for _, f := range page.Functions {
			seen[aws.ToString(f.FunctionName)]++
			require.True(t, strings.HasPrefix(aws.ToString(f.FunctionArn), "arn:aws:lambda:local:000000000000:function:"))
		}
		pages++
		require.Less(t, pages, 1000, "paginator does not end")
	}
	require.GreaterOrEqual(t, pages, 3)
	for n, count := range seen {
		require.Equal(t, 1, count, "%s listed %d times", n, count)
	}
	for n := range want {
		require.Equal(t, 1, seen[n], "%s not listed", n)
	}
}

// jsonString is a valid JSON document (one string) of exactly n bytes.
func jsonString(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a'
	}
	b[0], b[n-1] = '"', '"'
	return b
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// Sequential invokes never need a second instance: each one finds the
// previous one's instance idle again.
func TestRootSDK_SequentialInvokesReuseOneInstance(t *testing.T) {
	h := sharedHost(t)
	name := h.createFn(t, "sdk-warm", artifacts(t).fnZip)
	var ids []string
	cold := 0
	for range 10 {
		out, body := h.invoke(t, name, map[string]any{"mode": "echo"})
		require.Nil(t, out.FunctionError, "%v", body)
		ids = append(ids, body["instance"].(string))
		if strings.Contains(decodeLog(t, out.LogResult), "Init Duration") {
			cold++
		}
	}
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	require.Len(t, distinct, 1, "10 sequential invokes ran in %d instances: %v", len(distinct), ids)
	require.Equal(t, 1, cold, "REPORT lines with Init Duration")
}
