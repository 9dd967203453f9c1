package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Invocation is one finished invocation.
type Invocation struct {
	Function string
	Version  string // the version that ran
	Alias    string // the alias invoked through, "" for none
	Duration time.Duration
	// Init is the init duration on a cold start, 0 otherwise.
	Init     time.Duration
	Cold     bool
	Error    bool // a function error (Unhandled)
	MemoryMB int
}

// Metrics is the host's registry.
type Metrics struct {
	reg          *prometheus.Registry
	invocations  *prometheus.CounterVec
	errors       *prometheus.CounterVec
	throttles    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	concurrent   *prometheus.GaugeVec
	coldStarts   *prometheus.CounterVec
	initDuration *prometheus.HistogramVec
	billed       *prometheus.CounterVec
	gbSeconds    *prometheus.CounterVec
	asyncQueued  *queueCollector
	asyncAge     *prometheus.HistogramVec
	asyncRetried *prometheus.CounterVec
	asyncDead    *prometheus.CounterVec
}

var invocationLabels = []string{"function", "version", "alias"}

// New registers every metric and the standard Go and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kumo", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "kumo", Name: name, Help: help,
			// 0.5 ms .. ~15 min: warm invocations to the longest timeout.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 16),
		}, labels)
		m.reg.MustRegister(h)
		return h
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kumo", Name: name, Help: help}, labels)
		m.reg.MustRegister(g)
		return g
	}
	m.invocations = counter("invocations_total", "Invocations that ran, by function, version and alias.", invocationLabels...)
	m.errors = counter("invocation_errors_total", "Invocations that ended in a function error (including timeouts and crashes).", invocationLabels...)
	m.throttles = counter("throttles_total", "Invocations refused with TooManyRequestsException, by reason.", "function", "reason")
	m.duration = histogram("invocation_duration_seconds", "Duration of invocations, excluding init.", invocationLabels...)
	m.concurrent = gauge("concurrent_executions", "Invocations running now.", "function")
	m.coldStarts = counter("cold_starts_total", "Invocations that started a new sandbox.", invocationLabels...)
	m.initDuration = histogram("init_duration_seconds", "Init duration of new sandboxes.", "function", "version")
	m.billed = counter("billed_duration_seconds_total", "Billed duration (rounded up to the millisecond, as Lambda bills).", "function")
	m.gbSeconds = counter("gb_seconds_total", "Billed duration times configured memory in GB.", "function")
	m.asyncQueued = &queueCollector{desc: prometheus.NewDesc("kumo_async_events_queued", "Asynchronous events waiting or running, read from the queue at scrape time.", []string{"function"}, nil)}
	m.reg.MustRegister(m.asyncQueued)
	m.asyncAge = histogram("async_event_age_seconds", "Age of asynchronous events when they run.", "function")
	m.asyncRetried = counter("async_events_retried_total", "Asynchronous events retried.", "function")
	m.asyncDead = counter("async_events_dead_lettered_total", "Asynchronous events sent to a dead-letter queue or on-failure destination, or dropped when neither is configured.", "function")
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Invoked records a finished invocation and its metering.
func (m *Metrics) Invoked(i Invocation) {
	labels := prometheus.Labels{"function": i.Function, "version": i.Version, "alias": i.Alias}
	m.invocations.With(labels).Inc()
	if i.Error {
		m.errors.With(labels).Inc()
	}
	m.duration.With(labels).Observe(i.Duration.Seconds())
	if i.Cold {
		m.coldStarts.With(labels).Inc()
		m.initDuration.WithLabelValues(i.Function, i.Version).Observe(i.Init.Seconds())
	}
	billed := i.Duration.Round(time.Millisecond)
	if billed < i.Duration {
		billed += time.Millisecond
	}
	billed = max(billed, time.Millisecond)
	m.billed.WithLabelValues(i.Function).Add(billed.Seconds())
	m.gbSeconds.WithLabelValues(i.Function).Add(billed.Seconds() * float64(i.MemoryMB) / 1024)
}

// Throttled records a refused invocation.
func (m *Metrics) Throttled(function, reason string) {
	m.throttles.WithLabelValues(function, reason).Inc()
}

// Running moves the count of running invocations of a function.
func (m *Metrics) Running(function string, delta int) {
	m.concurrent.WithLabelValues(function).Add(float64(delta))
}

// SetAsyncQueue tells the metrics how to count queued asynchronous events;
// the queue is counted at scrape time, so the figure survives restarts.
func (m *Metrics) SetAsyncQueue(pending func(context.Context) (map[string]uint64, error)) {
	m.asyncQueued.mu.Lock()
	defer m.asyncQueued.mu.Unlock()
	m.asyncQueued.pending = pending
}

// queueCollector reports the async queue's length per function.
type queueCollector struct {
	desc    *prometheus.Desc
	mu      sync.Mutex
	pending func(context.Context) (map[string]uint64, error)
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	if pending == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := pending(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for fn, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), fn)
	}
}

// AsyncStarted records the age of an asynchronous event as it runs.
func (m *Metrics) AsyncStarted(function string, age time.Duration) {
	m.asyncAge.WithLabelValues(function).Observe(age.Seconds())
}

// AsyncRetried counts a retry of an asynchronous event.
func (m *Metrics) AsyncRetried(function string) { m.asyncRetried.WithLabelValues(function).Inc() }

// AsyncDeadLettered counts an event that ran out of retries or age.
func (m *Metrics) AsyncDeadLettered(function string) { m.asyncDead.WithLabelValues(function).Inc() }

// Forget drops a deleted function's series, so a host with many
// short-lived functions does not grow without bound.
func (m *Metrics) Forget(function string) {
	match := prometheus.Labels{"function": function}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.invocations, m.errors, m.throttles, m.duration, m.concurrent, m.coldStarts, m.initDuration, m.billed, m.gbSeconds, m.asyncAge, m.asyncRetried, m.asyncDead} {
		v.DeletePartialMatch(match)
	}
}
