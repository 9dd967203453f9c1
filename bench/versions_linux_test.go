package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// aliasRounds is how many samples of every series one b.Loop iteration
// takes, so that `-benchtime 40x` gives 200 per series: enough for a p99
// that is not simply the slowest sample.
const aliasRounds = 5

// BenchmarkAliasVsDirect measures a warm invocation of version 1 through
// the Lambda API three ways, interleaved: directly (Qualifier "1"), through
// an alias pointing at it (Qualifier "live"), and through an alias that
// also sends half of the traffic to version 2 (Qualifier "split",
// AdditionalVersionWeights {"2": 0.5}). The difference is what resolving
// an alias, and picking a version by weight, adds to an invocation. No
// target; figures only.
func BenchmarkAliasVsDirect(b *testing.B) {
	e := setup(b)
	if e.kumo == nil {
		b.Skip(e.kumoNote)
	}
	k := e.kumo
	ctx := b.Context()
	name := k.uniqueName("alias")
	if err := k.create(ctx, name); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = k.delete(context.Background(), name) }()
	// Version 2 differs from 1 by an environment variable only: the same
	// code, so both versions' sandboxes cost the same.
	v1, err := k.publish(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	if err := k.forceCold(ctx, name); err != nil {
		b.Fatal(err)
	}
	v2, err := k.publish(ctx, name)
	if err != nil {
		b.Fatal(err)
	}
	if v1 != "1" || v2 != "2" {
		b.Fatalf("published versions %q and %q, want 1 and 2", v1, v2)
	}
	if err := k.createAlias(ctx, name, "live", v1, nil); err != nil {
		b.Fatal(err)
	}
	if err := k.createAlias(ctx, name, "split", v1, map[string]float64{v2: 0.5}); err != nil {
		b.Fatal(err)
	}

	direct := &series{name: "direct (Qualifier 1)"}
	live := &series{name: "alias live → 1"}
	split := &series{name: "alias split → 1, 50% 2"}
	ran := map[string]int{} // executed version of the split alias's timed samples
	colds := 0
	sample := func(s *series, qualifier string, warmup bool) error {
		t0 := time.Now()
		r, err := k.invokeQualified(ctx, name, qualifier, payload)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		if r.version != v1 && (s != split || r.version != v2) {
			return fmt.Errorf("invoke %s:%s ran version %q", name, qualifier, r.version)
		}
		if warmup {
			return nil
		}
		if r.cold {
			colds++
		}
		if s == split {
			ran[r.version]++
		}
		s.d = append(s.d, d)
		return nil
	}
	// Each version needs its warm instance before timing: version 2 is
	// warmed directly, since the split alias might not pick it.
	for range warmups {
		for _, q := range []string{v1, v2, "live", "split"} {
			if _, err := k.invokeQualified(ctx, name, q, payload); err != nil {
				b.Fatalf("warm-up: %v", err)
			}
		}
	}
	type leg struct {
		s         *series
		qualifier string
	}
	legs := []leg{{direct, v1}, {live, "live"}, {split, "split"}}
	i := 0
	for b.Loop() {
		for range aliasRounds {
			for j := range legs {
				l := legs[(i+j)%len(legs)]
				if err := sample(l.s, l.qualifier, false); err != nil {
					b.Fatalf("%s sample %d: %v", l.s.name, i, err)
				}
			}
			i++
		}
	}

	report(b, direct, "")
	report(b, live, "alias-")
	report(b, split, "split-")
	b.ReportMetric(float64(colds), "cold-starts")
	over := func(s *series, p float64) float64 { return ms(s.percentile(p)) - ms(direct.percentile(p)) }
	b.ReportMetric(over(live, 0.5), "alias-overhead-p50-ms")
	b.ReportMetric(over(live, 0.99), "alias-overhead-p99-ms")
	note(b, fmt.Sprintf("warm invoke of version 1 (%d interleaved samples each): direct %s", len(direct.d), p5099(direct)))
	for _, s := range []*series{live, split} {
		note(b, fmt.Sprintf("  %-24s %s | vs direct p50 %+.2f ms (×%.2f) p99 %+.2f ms (×%.2f)", s.name, p5099(s),
			over(s, 0.5), ms(s.percentile(0.5))/ms(direct.percentile(0.5)),
			over(s, 0.99), ms(s.percentile(0.99))/ms(direct.percentile(0.99))))
	}
	note(b, fmt.Sprintf("  (split ran version 2 for %d of %d samples; %d of %d samples were cold starts)",
		ran[v2], len(split.d), colds, 3*len(direct.d)))
}
