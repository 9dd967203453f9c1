package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRootCLI_VersionsAndWeightedAlias(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "ver", a.fnZip, withEnv(map[string]string{"GREETING": "one"}))

	var v1, v1again, v2 struct {
		Version, FunctionArn string
	}
	h.awsJSON(t, &v1, "publish-version", "--function-name", name, "--description", "first")
	require.Equal(t, "1", v1.Version)
	require.Equal(t, "arn:aws:lambda:local:000000000000:function:"+name+":1", v1.FunctionArn)
	h.awsJSON(t, &v1again, "publish-version", "--function-name", name)
	require.Equal(t, "1", v1again.Version, "nothing changed: Lambda returns the existing version")

	h.awsJSON(t, nil, "update-function-configuration", "--function-name", name, "--environment", "Variables={GREETING=two}")
	h.awsJSON(t, &v2, "publish-version", "--function-name", name)
	require.Equal(t, "2", v2.Version)

	var versions struct{ Versions []struct{ Version string } }
	h.awsJSON(t, &versions, "list-versions-by-function", "--function-name", name)
	var got []string
	for _, v := range versions.Versions {
		got = append(got, v.Version)
	}
	require.Equal(t, []string{"$LATEST", "1", "2"}, got)

	// Each version runs its own configuration; the qualifier picks it.
	for _, tc := range []struct{ qualifier, greeting string }{{"1", "one"}, {"2", "two"}, {"$LATEST", "two"}} {
		out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String(tc.qualifier), Payload: []byte(`{"mode":"echo"}`)})
		require.NoError(t, err)
		require.Equal(t, tc.qualifier, aws.ToString(out.ExecutedVersion))
		var body map[string]any
		require.NoError(t, json.Unmarshal(out.Payload, &body))
		require.Equal(t, tc.greeting, body["env"].(map[string]any)["GREETING"], tc.qualifier)
	}

	// An alias sending 20% to version 2.
	var alias struct {
		AliasArn, FunctionVersion string
		RoutingConfig             struct{ AdditionalVersionWeights map[string]float64 }
	}
	h.awsJSON(t, &alias, "create-alias", "--function-name", name, "--name", "live", "--function-version", "1",
		"--routing-config", `{"AdditionalVersionWeights":{"2":0.2}}`)
	require.Equal(t, "arn:aws:lambda:local:000000000000:function:"+name+":live", alias.AliasArn)
	require.Equal(t, map[string]float64{"2": 0.2}, alias.RoutingConfig.AdditionalVersionWeights)

	// With n = 400 and p = 0.2 the count of version 2 has mean 80 and
	// standard deviation 8; [32, 128] is ±6 sd, which a fair split leaves
	// about once in a billion runs.
	counts := invokeSplit(t, h, name, "live", 400)
	t.Logf("alias live 20%% to v2: %v", counts)
	require.Equal(t, 400, counts["1"]+counts["2"])
	require.GreaterOrEqual(t, counts["2"], 32)
	require.LessOrEqual(t, counts["2"], 128)

	// Shift it all the way; an empty routing config removes the weights.
	h.awsJSON(t, nil, "update-alias", "--function-name", name, "--name", "live", "--function-version", "2", "--routing-config", `{"AdditionalVersionWeights":{}}`)
	counts = invokeSplit(t, h, name, "live", 40)
	require.Equal(t, map[string]int{"2": 40}, counts)

	// Versions in use cannot go; unused ones can.
	requireCLIError(t, h.aws(t, "delete-function", "--function-name", name, "--qualifier", "2"), "ResourceConflictException")
	h.awsJSON(t, nil, "delete-function", "--function-name", name, "--qualifier", "1")
	requireCLIError(t, h.aws(t, "invoke", "--function-name", name, "--qualifier", "1", "/dev/null"), "ResourceNotFoundException")

	// Lambda's routing rules.
	for _, tc := range []struct {
		name string
		args []string
		code string
	}{
		{"weight out of range", []string{"--function-version", "2", "--routing-config", `{"AdditionalVersionWeights":{"3":1.5}}`}, "InvalidParameterValueException"},
		{"latest with weights", []string{"--function-version", "$LATEST", "--routing-config", `{"AdditionalVersionWeights":{"2":0.5}}`}, "InvalidParameterValueException"},
		{"second additional version", []string{"--function-version", "2", "--routing-config", `{"AdditionalVersionWeights":{"3":0.1,"4":0.1}}`}, "InvalidParameterValueException"},
		{"numeric alias name", []string{"--function-version", "2"}, "InvalidParameterValueException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aliasName := "canary"
			if tc.name == "numeric alias name" {
				aliasName = "42"
			}
			r := h.aws(t, append([]string{"create-alias", "--function-name", name, "--name", aliasName}, tc.args...)...)
			requireCLIError(t, r, tc.code)
		})
	}
	resp := h.raw(t, http.MethodPost, "/2015-03-31/functions/"+name+"/aliases",
		[]byte(`{"Name":"raw","FunctionVersion":"2","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}`), nil, true)
	requireAPIError(t, resp, http.StatusBadRequest, "InvalidParameterValueException")
}

// invokeSplit invokes name:qualifier n times and counts executed versions.
func invokeSplit(t *testing.T, h *host, name, qualifier string, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String(qualifier), Payload: []byte(`{"mode":"echo"}`)})
		require.NoError(t, err)
		require.Nil(t, out.FunctionError)
		counts[aws.ToString(out.ExecutedVersion)]++
	}
	return counts
}

func TestRootSDK_ReservedConcurrencyIsExact(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "conc", a.fnZip, withTimeout(30))
	const limit, callers = 2, 6
	_, err := h.lambda.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(limit)})
	require.NoError(t, err)
	got, err := h.lambda.GetFunctionConcurrency(t.Context(), &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	require.Equal(t, int32(limit), aws.ToInt32(got.ReservedConcurrentExecutions))
	fn, err := h.lambda.GetFunction(t.Context(), &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	require.NotNil(t, fn.Concurrency)
	require.Equal(t, int32(limit), aws.ToInt32(fn.Concurrency.ReservedConcurrentExecutions))

	// Every caller asks at once; each invocation sleeps long enough that no
	// slot frees up before all have been answered or admitted.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, throttled := 0, 0
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := h.lambda.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"mode":"sleep","ms":3000}`)})
			mu.Lock()
			defer mu.Unlock()
			var tm *types.TooManyRequestsException
			switch {
			case err == nil && out.FunctionError == nil:
				ok++
			case errors.As(err, &tm):
				assert.Equal(t, types.ThrottleReasonReservedFunctionConcurrentInvocationLimitExceeded, tm.Reason)
				assert.NotNil(t, tm.RetryAfterSeconds, "Retry-After header")
				throttled++
			default:
				t.Errorf("unexpected result: %v %v", err, out)
			}
		}()
	}
	wg.Wait()
	require.Equal(t, limit, ok, "exactly the reserved number run")
	require.Equal(t, callers-limit, throttled, "the rest are throttled, none lost")

	// Reserved concurrency 0 throttles everything; deleting the
	// reservation lets invocations through again.
	_, err = h.lambda.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(0)})
	require.NoError(t, err)
	r := h.aws(t, "invoke", "--function-name", name, "/dev/null")
	requireCLIError(t, r, "TooManyRequestsException")
	_, err = h.lambda.DeleteFunctionConcurrency(t.Context(), &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	out, _ := h.invoke(t, name, map[string]any{"mode": "echo"})
	require.Nil(t, out.FunctionError)

	settings, err := h.lambda.GetAccountSettings(t.Context(), &lambda.GetAccountSettingsInput{})
	require.NoError(t, err)
	require.Equal(t, settings.AccountLimit.ConcurrentExecutions, aws.ToInt32(settings.AccountLimit.UnreservedConcurrentExecutions))
	_, err = h.lambda.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(settings.AccountLimit.ConcurrentExecutions)})
	var ip *types.InvalidParameterValueException
	require.ErrorAs(t, err, &ip, "reservations must leave the unreserved minimum")
}

func TestRootSDK_AliasUpdateKeepsInFlightInvocations(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	name := h.createFn(t, "alup", a.fnZip, withTimeout(30))
	for i := range 2 {
		_, err := h.lambda.UpdateFunctionConfiguration(t.Context(), &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String(name),
			Environment: &types.Environment{Variables: map[string]string{"GEN": fmt.Sprint(i)}}})
		require.NoError(t, err)
		_, err = h.lambda.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String(name)})
		require.NoError(t, err)
	}
	al, err := h.lambda.CreateAlias(t.Context(), &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	require.NoError(t, err)

	type result struct {
		out *lambda.InvokeOutput
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := h.lambda.Invoke(context.Background(), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("live"), Payload: []byte(`{"mode":"sleep","ms":2500}`)})
		done <- result{out, err}
	}()
	eventually(t, 20*time.Second, func() bool { return len(fnProcs(name)) > 0 }, "the slow invocation started")
	time.Sleep(300 * time.Millisecond)
	_, err = h.lambda.UpdateAlias(t.Context(), &lambda.UpdateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: al.RevisionId})
	require.NoError(t, err)

	r := <-done
	require.NoError(t, r.err, "an alias update never drops an invocation in flight")
	require.Nil(t, r.out.FunctionError, "%s", r.out.Payload)
	require.Equal(t, "1", aws.ToString(r.out.ExecutedVersion))
	require.Contains(t, string(r.out.Payload), `"slept_ms":2500`)
	out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
	require.NoError(t, err)
	require.Equal(t, "2", aws.ToString(out.ExecutedVersion), "the next invocation follows the new routing")
}

func TestRootAsync_EventsBeyondReservedConcurrencyWaitThenRun(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, newDataDir(t), "--async-retry-delay", "2s")
	name := h.createFn(t, "async-conc", a.fnZip, withTimeout(30))
	_, err := h.lambda.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(1)})
	require.NoError(t, err)

	var ids []string
	for range 4 {
		ids = append(ids, h.invokeEvent(t, name, map[string]any{"mode": "sleep", "ms": 700}))
	}
	// One runs at a time; the others are throttled, wait, and run later.
	eventually(t, 90*time.Second, func() bool {
		for _, id := range ids {
			if h.runsOf(t, name, id) == 0 {
				return false
			}
		}
		return true
	}, "every event beyond the limit eventually runs")
	for _, id := range ids {
		require.Equal(t, 1, h.runsOf(t, name, id), "event %s runs once: throttles do not spend retries or duplicate runs", id)
	}
	resp, err := http.Get(h.endpoint + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), fmt.Sprintf(`kumo_async_event_age_seconds_count{function=%q}`, name))
	require.Contains(t, string(body), fmt.Sprintf(`kumo_async_events_retried_total{function=%q}`, name), "throttled events were retried")
}
