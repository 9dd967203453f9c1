package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	m.Invoked(metrics.Invocation{Function: "f", Version: "1", Alias: "live", Duration: 1500 * time.Microsecond, Init: 20 * time.Millisecond, Cold: true, MemoryMB: 1024})
	m.Invoked(metrics.Invocation{Function: "f", Version: "2", Alias: "live", Duration: 100 * time.Microsecond, Error: true, MemoryMB: 1024})
	m.Throttled("f", "ReservedFunctionConcurrentInvocationLimitExceeded")
	m.Running("f", 1)
	queued := map[string]uint64{"f": 3}
	m.SetAsyncQueue(func(context.Context) (map[string]uint64, error) { return queued, nil })
	m.AsyncRetried("f")
	m.AsyncDeadLettered("f")
	m.AsyncStarted("f", time.Second)
	text := scrape(t, m)
	for _, want := range []string{
		`kumo_invocations_total{alias="live",function="f",version="1"} 1`,
		`kumo_invocations_total{alias="live",function="f",version="2"} 1`,
		`kumo_invocation_errors_total{alias="live",function="f",version="2"} 1`,
		`kumo_cold_starts_total{alias="live",function="f",version="1"} 1`,
		`kumo_init_duration_seconds_count{function="f",version="1"} 1`,
		`kumo_throttles_total{function="f",reason="ReservedFunctionConcurrentInvocationLimitExceeded"} 1`,
		`kumo_concurrent_executions{function="f"} 1`,
		// 1.5 ms bills as 2 ms, 0.1 ms as 1 ms: 3 ms in all, at 1 GB.
		`kumo_billed_duration_seconds_total{function="f"} 0.003`,
		`kumo_gb_seconds_total{function="f"} 0.003`,
		`kumo_async_events_queued{function="f"} 3`,
		`kumo_async_events_retried_total{function="f"} 1`,
		`kumo_async_events_dead_lettered_total{function="f"} 1`,
		`kumo_async_event_age_seconds_count{function="f"} 1`,
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		assert.Contains(t, text, want)
	}

	m.Forget("f")
	queued = map[string]uint64{} // the queue is read live, not remembered
	assert.NotContains(t, scrape(t, m), `function="f"`, "a deleted function's series go")
	assert.True(t, strings.Contains(scrape(t, m), "go_goroutines"))
}
