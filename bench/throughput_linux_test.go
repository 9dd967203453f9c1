package bench_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	// perRound is how many invocations each caller makes, back to back,
	// in one round of the throughput benchmark; a b.Loop iteration is one
	// kumo round and one bare round, so `-benchtime 40x` means 40 × 10
	// timed invocations per caller and per side.
	perRound = 10
	// maxWarmRounds bounds the rounds spent making one warm kumo instance
	// per caller before timing starts.
	maxWarmRounds = 10
)

// BenchmarkWarmThroughput measures warm sync invocations per second with
// several callers at once, each invoking the same function through the
// Lambda API back to back (kumo runs one sandbox per concurrent
// invocation), beside as many bare bootstraps, one per caller, each fed by
// its own Runtime API.
func BenchmarkWarmThroughput(b *testing.B) {
	for _, callers := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) { benchmarkThroughput(b, callers) })
	}
}

// load is one side of the throughput benchmark: every invocation's latency
// and the summed wall time of the rounds.
type load struct {
	series
	wall time.Duration
}

func (l *load) rate() float64 {
	if l.wall <= 0 {
		return 0
	}
	return float64(len(l.d)) / l.wall.Seconds()
}

func benchmarkThroughput(b *testing.B, callers int) {
	e := setup(b)
	ctx := b.Context()
	bare := &load{series: series{name: "bare process"}}
	kumo := &load{series: series{name: "kumo warm throughput"}}

	procs := make([]*bareProcess, callers)
	for i := range procs {
		p, err := newBare(e.codeDir)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Close() }()
		if err := p.start(); err != nil {
			b.Fatal(err)
		}
		procs[i] = p
	}
	samplers := []sampler{{&bare.series, func(warmup bool) ([]time.Duration, error) {
		d, wall, err := rounds(callers, func(i int) error { return procs[i].invoke(ctx, payload) })
		if !warmup {
			bare.wall += wall
		}
		return d, err
	}}}

	var colds atomic.Int64 // timed kumo invocations a new sandbox served
	warmRounds := 0
	if k := e.kumo; k != nil {
		name := k.uniqueName("throughput")
		if err := k.create(ctx, name); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = k.delete(context.Background(), name) }()
		round := func(warmup bool) ([]time.Duration, int64, time.Duration, error) {
			var n atomic.Int64
			d, wall, err := rounds(callers, func(int) error {
				cold, err := k.invoke(ctx, name, payload)
				if cold {
					n.Add(1)
				}
				return err
			})
			return d, n.Load(), wall, err
		}
		// The first round starts one sandbox per caller (every caller's
		// first call finds the others busy starting theirs); further rounds
		// until one has no cold start at all, so that the timed rounds
		// measure warm instances only.
		for {
			_, n, _, err := round(true)
			if err != nil {
				b.Fatalf("kumo warm-up round %d: %v", warmRounds, err)
			}
			warmRounds++
			if n == 0 {
				break
			}
			if warmRounds == maxWarmRounds {
				b.Fatalf("kumo still cold-started %d of %d invocations in warm-up round %d", n, callers*perRound, warmRounds)
			}
		}
		samplers = append(samplers, sampler{&kumo.series, func(warmup bool) ([]time.Duration, error) {
			d, n, wall, err := round(warmup)
			if !warmup {
				kumo.wall += wall
				colds.Add(n)
			}
			return d, err
		}})
	}
	interleave(b, samplers...)

	report(b, &kumo.series, "")
	report(b, &bare.series, "bare-")
	b.ReportMetric(bare.rate(), "bare-invokes/s")
	if e.kumoNote != "" {
		note(b, "note: "+e.kumoNote)
	}
	line := fmt.Sprintf("warm throughput, %2d caller(s) × %d back-to-back: ", callers, perRound)
	if e.kumo != nil {
		b.ReportMetric(kumo.rate(), "invokes/s")
		b.ReportMetric(float64(colds.Load()), "cold-starts")
		line += fmt.Sprintf("kumo %.0f invokes/s %s | ", kumo.rate(), p5099(&kumo.series))
	}
	line += fmt.Sprintf("bare %.0f invokes/s %s", bare.rate(), p5099(&bare.series))
	if e.kumo != nil {
		line += fmt.Sprintf(" | kumo/bare %.2f | %d of %d kumo invocations cold (%d warm-up rounds)",
			kumo.rate()/bare.rate(), colds.Load(), len(kumo.d), warmRounds)
	}
	note(b, line)
}

// rounds runs perRound calls of op back to back on each of n goroutines at
// once; it returns every call's latency and the wall time until the last
// goroutine finished.
func rounds(n int, op func(i int) error) ([]time.Duration, time.Duration, error) {
	durs := make([]time.Duration, n*perRound)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			for j := range perRound {
				t := time.Now()
				if err := op(i); err != nil {
					errs[i] = err
					return
				}
				durs[i*perRound+j] = time.Since(t)
			}
		})
	}
	wg.Wait()
	return durs, time.Since(t0), errors.Join(errs...)
}
