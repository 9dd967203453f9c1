// Package metrics owns the host's Prometheus metrics: invocations, errors,
// throttles, durations, concurrency, cold starts, the async queue and
// metering (billed duration and GB-seconds), per function, version and
// alias, plus the Go runtime and process collectors.
package metrics
