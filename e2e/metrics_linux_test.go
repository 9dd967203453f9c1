package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/stretchr/testify/require"
)

func TestRootMetrics_PrometheusScrape(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, newDataDir(t))
	name := h.createFn(t, "met", a.fnZip)
	for range 3 {
		h.invoke(t, name, map[string]any{"mode": "echo"})
	}
	out, _ := h.invoke(t, name, map[string]any{"mode": "error"})
	require.NotNil(t, out.FunctionError)
	_, err := h.lambda.PublishVersion(t.Context(), &lambda.PublishVersionInput{FunctionName: aws.String(name)})
	require.NoError(t, err)
	_, err = h.lambda.CreateAlias(t.Context(), &lambda.CreateAliasInput{FunctionName: aws.String(name), Name: aws.String("live"), FunctionVersion: aws.String("1")})
	require.NoError(t, err)
	_, err = h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Qualifier: aws.String("live"), Payload: []byte(`{}`)})
	require.NoError(t, err)
	_, err = h.lambda.PutFunctionConcurrency(t.Context(), &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(name), ReservedConcurrentExecutions: aws.Int32(0)})
	require.NoError(t, err)
	_, err = h.lambda.Invoke(t.Context(), &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{}`)})
	require.Error(t, err)

	resp, err := http.Get(h.endpoint + "/metrics") // Prometheus scrapes without signing
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		fmt.Sprintf(`kumo_invocations_total{alias="",function=%q,version="$LATEST"} 4`, name),
		fmt.Sprintf(`kumo_invocation_errors_total{alias="",function=%q,version="$LATEST"} 1`, name),
		fmt.Sprintf(`kumo_invocations_total{alias="live",function=%q,version="1"} 1`, name),
		fmt.Sprintf(`kumo_cold_starts_total{alias="",function=%q,version="$LATEST"} 1`, name),
		fmt.Sprintf(`kumo_cold_starts_total{alias="live",function=%q,version="1"} 1`, name),
		fmt.Sprintf(`kumo_throttles_total{function=%q,reason="ReservedFunctionConcurrentInvocationLimitExceeded"} 1`, name),
		fmt.Sprintf(`kumo_concurrent_executions{function=%q} 0`, name),
		fmt.Sprintf(`kumo_gb_seconds_total{function=%q}`, name),
		"go_goroutines",
		"process_cpu_seconds_total",
	} {
		require.Contains(t, text, want)
	}
}
