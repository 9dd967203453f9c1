package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fnLogRecord is one record of GET /kumo/v1/functions/NAME/logs.
type fnLogRecord struct {
	RequestID string `json:"requestId"`
	Data      string `json:"data"`
}

func (h *host) fnLogs(t *testing.T, name string) []fnLogRecord {
	t.Helper()
	r := h.raw(t, http.MethodGet, "/kumo/v1/functions/"+url.PathEscape(name)+"/logs?limit=10000", nil, nil, true)
	require.Equal(t, http.StatusOK, r.status, "%s", r)
	var out []fnLogRecord
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	sc.Buffer(make([]byte, 0, 1<<20), 8<<20)
	for sc.Scan() {
		var rec fnLogRecord
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		out = append(out, rec)
	}
	return out
}

// runsOf counts the invocations of request id in name's log: every run of
// the test function prints its instance line.
func (h *host) runsOf(t *testing.T, name, id string) int {
	t.Helper()
	n := 0
	for _, r := range h.fnLogs(t, name) {
		if r.RequestID == id && strings.Contains(r.Data, "instance=") {
			n++
		}
	}
	return n
}

// records are the invocation records a LOG_EVENT destination function
// logged, by the request id of the event they describe.
func (h *host) records(t *testing.T, dest string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range h.fnLogs(t, dest) {
		for line := range strings.Lines(r.Data) {
			raw, ok := strings.CutPrefix(strings.TrimSpace(line), "event=")
			if !ok {
				continue
			}
			var rec map[string]any
			if json.Unmarshal([]byte(raw), &rec) != nil {
				continue
			}
			if rc, ok := rec["requestContext"].(map[string]any); ok {
				out[rc["requestId"].(string)] = rec
			}
		}
	}
	return out
}

// invokeEvent invokes asynchronously through the SDK and returns the
// event's request id.
func (h *host) invokeEvent(t *testing.T, name string, payload any) string {
	t.Helper()
	out, err := h.lambda.Invoke(t.Context(), &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: types.InvocationTypeEvent,
		Payload:        payloadBytes(t, payload),
	})
	require.NoError(t, err, "invoke %s asynchronously", name)
	require.Equal(t, int32(202), out.StatusCode)
	id, ok := awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	require.True(t, ok && id != "", "202 carries the event's request id")
	return id
}

func fnARN(name string) string { return "arn:aws:lambda:local:000000000000:function:" + name }

func TestRootAsync_EventRuns(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, newDataDir(t), "--async-retry-delay", "1s")
	fn := h.createFn(t, "as-run", a.fnZip)

	t.Run("aws CLI prints 202", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.json")
		r := h.aws(t, "invoke", "--function-name", fn, "--invocation-type", "Event", "--payload", `{"mode":"echo","via":"cli"}`, out)
		require.Equal(t, 0, r.rc, "%s", r)
		require.JSONEq(t, `{"StatusCode": 202}`, r.stdout)
	})
	t.Run("SDK event runs under its request id", func(t *testing.T) {
		id := h.invokeEvent(t, fn, map[string]any{"mode": "echo"})
		eventually(t, 60*time.Second, func() bool { return h.runsOf(t, fn, id) == 1 }, "event %s runs", id)
	})
	t.Run("payload limit 1 MB", func(t *testing.T) {
		const limit = 1048576
		big := func(n int) []byte { return []byte(`"` + strings.Repeat("a", n-2) + `"`) }
		hdr := http.Header{"X-Amz-Invocation-Type": {"Event"}}
		r := h.raw(t, http.MethodPost, invokePath(fn), big(limit+1), hdr, true)
		requireAPIError(t, r, http.StatusRequestEntityTooLarge, "RequestTooLargeException")
		r = h.raw(t, http.MethodPost, invokePath(fn), big(limit), hdr, true)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r)
		require.NotEmpty(t, r.header.Get("x-amzn-RequestId"))
		// The same size is fine synchronously (6 MB limit).
		r = h.raw(t, http.MethodPost, invokePath(fn), big(limit+1), nil, true)
		require.Equal(t, http.StatusOK, r.status, "%s", r)
	})
	t.Run("unknown function is 404, not 202", func(t *testing.T) {
		r := h.raw(t, http.MethodPost, invokePath("no-such-fn"), []byte(`{}`), http.Header{"X-Amz-Invocation-Type": {"Event"}}, true)
		requireAPIError(t, r, http.StatusNotFound, "ResourceNotFoundException")
	})
}

func TestRootAsync_RetriesThenOnFailureDestination(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, newDataDir(t), "--async-retry-delay", "1s")
	fn := h.createFn(t, "as-fail", a.fnZip)
	dest := h.createFn(t, "as-dest", a.fnZip, withEnv(map[string]string{"LOG_EVENT": "1"}))
	var cfg map[string]any
	h.awsJSON(t, &cfg, "put-function-event-invoke-config", "--function-name", fn,
		"--maximum-retry-attempts", "2",
		"--destination-config", fmt.Sprintf(`{"OnFailure":{"Destination":%q}}`, fnARN(dest)))
	require.Equal(t, float64(2), cfg["MaximumRetryAttempts"])

	id := h.invokeEvent(t, fn, map[string]any{"mode": "error"})
	var rec map[string]any
	eventually(t, 90*time.Second, func() bool {
		rec = h.records(t, dest)[id]
		return rec != nil
	}, "the on-failure destination receives the record of %s", id)
	assert.Equal(t, 3, h.runsOf(t, fn, id), "1 attempt + 2 retries\n%v", h.fnLogs(t, fn))
	rc := rec["requestContext"].(map[string]any)
	assert.Equal(t, "RetriesExhausted", rc["condition"])
	assert.Equal(t, float64(3), rc["approximateInvokeCount"])
	assert.Equal(t, fnARN(fn)+":$LATEST", rc["functionArn"])
	assert.Equal(t, "1.0", rec["version"])
	assert.Equal(t, map[string]any{"mode": "error"}, rec["requestPayload"])
	resp := rec["responseContext"].(map[string]any)
	assert.Equal(t, "Unhandled", resp["functionError"])
	assert.Equal(t, float64(200), resp["statusCode"])
	assert.Equal(t, "requested failure", rec["responsePayload"].(map[string]any)["errorMessage"])
	// Nothing more runs after the event is settled.
	time.Sleep(3 * time.Second)
	assert.Equal(t, 3, h.runsOf(t, fn, id))
}

func TestRootAsync_EventInvokeConfigCRUD(t *testing.T) {
	a := artifacts(t)
	h := sharedHost(t)
	fn := h.createFn(t, "as-cfg", a.fnZip)
	other := h.createFn(t, "as-cfg-dest", a.fnZip)
	nats := "arn:aws:kumo:local:000000000000:nats:results.x"

	var put map[string]any
	h.awsJSON(t, &put, "put-function-event-invoke-config", "--function-name", fn,
		"--maximum-retry-attempts", "1", "--maximum-event-age-in-seconds", "3600",
		"--destination-config", fmt.Sprintf(`{"OnSuccess":{"Destination":%q},"OnFailure":{"Destination":%q}}`, nats, fnARN(other)))
	assert.Equal(t, fnARN(fn)+":$LATEST", put["FunctionArn"])
	assert.Equal(t, float64(1), put["MaximumRetryAttempts"])
	assert.Equal(t, float64(3600), put["MaximumEventAgeInSeconds"])
	assert.IsType(t, float64(0), put["LastModified"], "LastModified is an epoch number")
	assert.Equal(t, map[string]any{
		"OnSuccess": map[string]any{"Destination": nats},
		"OnFailure": map[string]any{"Destination": fnARN(other)},
	}, put["DestinationConfig"])

	// Update merges: only the retries change.
	var upd map[string]any
	h.awsJSON(t, &upd, "update-function-event-invoke-config", "--function-name", fn, "--maximum-retry-attempts", "0")
	assert.Equal(t, float64(0), upd["MaximumRetryAttempts"])
	assert.Equal(t, float64(3600), upd["MaximumEventAgeInSeconds"])
	assert.Equal(t, put["DestinationConfig"], upd["DestinationConfig"])

	// aws-sdk-go-v2 decodes it, LastModified included.
	got, err := h.lambda.GetFunctionEventInvokeConfig(t.Context(), &lambda.GetFunctionEventInvokeConfigInput{FunctionName: aws.String(fn)})
	require.NoError(t, err)
	require.NotNil(t, got.LastModified)
	assert.WithinDuration(t, time.Now(), *got.LastModified, 5*time.Minute)
	assert.Equal(t, int32(0), aws.ToInt32(got.MaximumRetryAttempts))
	assert.Equal(t, fnARN(other), aws.ToString(got.DestinationConfig.OnFailure.Destination))
	list, err := h.lambda.ListFunctionEventInvokeConfigs(t.Context(), &lambda.ListFunctionEventInvokeConfigsInput{FunctionName: aws.String(fn)})
	require.NoError(t, err)
	require.Len(t, list.FunctionEventInvokeConfigs, 1)

	// Put replaces: the destinations are gone.
	put = nil
	h.awsJSON(t, &put, "put-function-event-invoke-config", "--function-name", fn, "--maximum-retry-attempts", "2")
	assert.Equal(t, map[string]any{"OnSuccess": map[string]any{}, "OnFailure": map[string]any{}}, put["DestinationConfig"])
	assert.NotContains(t, put, "MaximumEventAgeInSeconds")

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"retries above 2", []string{"--maximum-retry-attempts", "3"}},
		{"age above 6 h", []string{"--maximum-event-age-in-seconds", "21601"}},
		{"SQS destination", []string{"--destination-config", `{"OnFailure":{"Destination":"arn:aws:sqs:local:000000000000:q"}}`}},
		{"itself as destination", []string{"--destination-config", fmt.Sprintf(`{"OnSuccess":{"Destination":%q}}`, fnARN(fn))}},
		{"reserved subject", []string{"--destination-config", `{"OnSuccess":{"Destination":"arn:aws:kumo:local:000000000000:nats:kumo.async.x"}}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.aws(t, append([]string{"put-function-event-invoke-config", "--function-name", fn}, tc.args...)...)
			requireCLIError(t, r, "InvalidParameterValueException")
		})
	}
	// Below the minimum botocore refuses client-side; the server too.
	for _, body := range []string{`{"MaximumEventAgeInSeconds":59}`, `{"MaximumRetryAttempts":-1}`} {
		r := h.raw(t, http.MethodPut, "/2019-09-25/functions/"+fn+"/event-invoke-config", []byte(body), nil, true)
		requireAPIError(t, r, http.StatusBadRequest, "InvalidParameterValueException")
	}
	r := h.raw(t, http.MethodPut, "/2019-09-25/functions/"+fn+"/event-invoke-config", []byte(`{"Bogus":1}`), nil, true)
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r)

	requireCLIError(t, h.aws(t, "get-function-event-invoke-config", "--function-name", "no-such-fn"), "ResourceNotFoundException")
	requireCLIError(t, h.aws(t, "get-function-event-invoke-config", "--function-name", other), "ResourceNotFoundException")
	requireCLIError(t, h.aws(t, "update-function-event-invoke-config", "--function-name", other, "--maximum-retry-attempts", "1"), "ResourceNotFoundException")

	r2 := h.aws(t, "delete-function-event-invoke-config", "--function-name", fn)
	require.Equal(t, 0, r2.rc, "%s", r2)
	requireCLIError(t, h.aws(t, "get-function-event-invoke-config", "--function-name", fn), "ResourceNotFoundException")
	requireCLIError(t, h.aws(t, "delete-function-event-invoke-config", "--function-name", fn), "ResourceNotFoundException")
	var empty map[string]any
	h.awsJSON(t, &empty, "list-function-event-invoke-configs", "--function-name", fn)
	assert.Equal(t, []any{}, empty["FunctionEventInvokeConfigs"])

	t.Run("DeadLetterConfig", func(t *testing.T) {
		dlq := "arn:aws:kumo:local:000000000000:nats:dlq." + fn
		var c map[string]any
		h.awsJSON(t, &c, "update-function-configuration", "--function-name", fn, "--dead-letter-config", "TargetArn="+dlq)
		assert.Equal(t, map[string]any{"TargetArn": dlq}, c["DeadLetterConfig"])
		cfg, err := h.lambda.GetFunctionConfiguration(t.Context(), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(fn)})
		require.NoError(t, err)
		require.NotNil(t, cfg.DeadLetterConfig)
		assert.Equal(t, dlq, aws.ToString(cfg.DeadLetterConfig.TargetArn))
		requireCLIError(t, h.aws(t, "update-function-configuration", "--function-name", fn, "--dead-letter-config", "TargetArn=arn:aws:sqs:us-east-1:000000000000:q"), "InvalidParameterValueException")
		c = nil
		h.awsJSON(t, &c, "update-function-configuration", "--function-name", fn, "--dead-letter-config", "TargetArn=")
		assert.NotContains(t, c, "DeadLetterConfig")
	})
}

func TestRootAsync_QueuedEventsSurviveSIGKILL(t *testing.T) {
	a := artifacts(t)
	dir := newDataDir(t)
	h1 := newHost(t, dir, "--concurrency", "1", "--async-retry-delay", "1s")
	fn := h1.createFn(t, "as-kill", a.fnZip, withTimeout(60))
	// One event runs (sleeping) when the server dies; the others wait
	// behind it for the only slot.
	running := h1.invokeEvent(t, fn, map[string]any{"mode": "sleep", "ms": 20000})
	eventually(t, 30*time.Second, func() bool { return len(fnProcs(fn)) > 0 }, "the first event is running")
	ids := []string{running}
	for i := range 5 {
		ids = append(ids, h1.invokeEvent(t, fn, map[string]any{"mode": "echo", "i": i}))
	}
	require.Error(t, h1.signal(syscall.SIGKILL, 30*time.Second), "killed")

	h2 := newHost(t, dir, "--async-retry-delay", "1s")
	eventually(t, 120*time.Second, func() bool {
		for _, id := range ids {
			if h2.runsOf(t, fn, id) == 0 {
				return false
			}
		}
		return true
	}, "every event accepted before the kill runs after the restart")
	for _, id := range ids {
		assert.GreaterOrEqual(t, h2.runsOf(t, fn, id), 1, id)
	}
}

func TestRootAsync_ExpiredEventIsNotRun(t *testing.T) {
	a := artifacts(t)
	h := newHost(t, newDataDir(t), "--concurrency", "1", "--async-retry-delay", "1s")
	slow := h.createFn(t, "as-slow", a.fnZip, withTimeout(120))
	victim := h.createFn(t, "as-victim", a.fnZip)
	dest := h.createFn(t, "as-age-dest", a.fnZip, withEnv(map[string]string{"LOG_EVENT": "1"}))
	h.awsJSON(t, nil, "put-function-event-invoke-config", "--function-name", victim,
		"--maximum-event-age-in-seconds", "60",
		"--destination-config", fmt.Sprintf(`{"OnFailure":{"Destination":%q}}`, fnARN(dest)))

	// The only slot is taken for longer than the event may live, so every
	// try of the event is throttled until it is too old.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		_, _ = h.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(slow), Payload: []byte(`{"mode":"sleep","ms":75000}`)})
	}()
	defer wg.Wait()
	eventually(t, 30*time.Second, func() bool { return len(fnProcs(slow)) > 0 }, "the slow function holds the slot")
	id := h.invokeEvent(t, victim, map[string]any{"mode": "echo"})

	var rec map[string]any
	eventually(t, 150*time.Second, func() bool {
		rec = h.records(t, dest)[id]
		return rec != nil
	}, "the expired event's record reaches the on-failure destination")
	rc := rec["requestContext"].(map[string]any)
	assert.Equal(t, "EventAgeExceeded", rc["condition"])
	assert.Equal(t, float64(0), rc["approximateInvokeCount"])
	assert.Equal(t, 0, h.runsOf(t, victim, id), "an expired event never runs")
	found := false
	for _, r := range h.fnLogs(t, victim) {
		found = found || r.RequestID == id && strings.Contains(r.Data, "Condition: EventAgeExceeded")
	}
	assert.True(t, found, "the expiry is recorded in the function's log")
}
