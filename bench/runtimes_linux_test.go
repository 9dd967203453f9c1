package bench_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// runtimeFn is an echo function in one managed runtime.
type runtimeFn struct {
	runtime, handler string
	files            map[string][]byte
	// compile turns files into the zip's contents where a runtime needs a
	// build step (Java); nil otherwise.
	compile func(dir string) (map[string][]byte, error)
}

func runtimeFns(e *env) ([]runtimeFn, error) {
	bootstrap, err := os.ReadFile(filepath.Join(e.codeDir, "bootstrap"))
	if err != nil {
		return nil, err
	}
	return []runtimeFn{
		{runtime: "provided.al2023", handler: "bootstrap", files: map[string][]byte{"bootstrap": bootstrap}},
		{runtime: "python3.11", handler: "app.handler", files: map[string][]byte{
			"app.py": []byte("def handler(event, context):\n    return event\n"),
		}},
		{runtime: "nodejs20.x", handler: "index.handler", files: map[string][]byte{
			"index.mjs": []byte("export const handler = async (event) => event;\n"),
		}},
		{runtime: "ruby3.1", handler: "app.handler", files: map[string][]byte{
			"app.rb": []byte("def handler(event:, context:)\n  event\nend\n"),
		}},
		{runtime: "java17", handler: "bench.Echo::handleRequest", compile: compileJavaEcho},
	}, nil
}

const javaEcho = `package bench;

import java.util.Map;

public class Echo {
    public Map<String, Object> handleRequest(Map<String, Object> event) {
        return event;
    }
}
`

// compileJavaEcho compiles the Java echo handler with the host's javac;
// the zip holds the classes at its root, as Lambda expects.
func compileJavaEcho(dir string) (map[string][]byte, error) {
	src := filepath.Join(dir, "src", "bench", "Echo.java")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(src, []byte(javaEcho), 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "classes")
	if b, err := exec.Command("javac", "--release", "17", "-d", out, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("javac: %w\n%s", err, b)
	}
	class, err := os.ReadFile(filepath.Join(out, "bench", "Echo.class"))
	if err != nil {
		return nil, err
	}
	return map[string][]byte{"bench/Echo.class": class}, nil
}

func zipFiles(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(body); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (k *kumoServer) createIn(ctx context.Context, name, runtime, handler string, code []byte) error {
	_, err := k.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(name),
		Runtime:      types.Runtime(runtime),
		Handler:      aws.String(handler),
		Role:         aws.String(benchRole),
		Code:         &types.FunctionCode{ZipFile: code},
		MemorySize:   aws.Int32(512),
		Timeout:      aws.Int32(30),
	})
	if err != nil {
		return fmt.Errorf("create %s function %s: %w", runtime, name, err)
	}
	return nil
}

// runtimeBuilt reports whether `kumo runtime list` shows runtime built:
// then earlier benchmarks already used (and unpacked) its base image.
func (k *kumoServer) runtimeBuilt(ctx context.Context, runtime string) (bool, error) {
	out, err := exec.CommandContext(ctx, k.binary, "runtime", "list", "--data-dir", k.dataDir, "--endpoint", k.endpoint).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("kumo runtime list: %w\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == runtime {
			return f[1] == "yes", nil
		}
	}
	return false, fmt.Errorf("kumo runtime list does not show %s:\n%s", runtime, out)
}

// buildRuntime builds a runtime's base image ahead of time with the CLI,
// so that the first function's timing is its unpack, not the build.
func (k *kumoServer) buildRuntime(ctx context.Context, runtime string) (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, k.binary, "runtime", "build", runtime, "--data-dir", k.dataDir, "--endpoint", k.endpoint)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("kumo runtime build %s: %w\n%s", runtime, err, out)
	}
	return time.Since(t0), nil
}

// BenchmarkColdStartRuntimes measures, per managed runtime, the cold start
// of an echo function (new sandbox → response, p50/p99), and deploy → first
// response of the first function of the runtime on this host (its base
// layers are unpacked then: one sample) against a later one (layers cached).
func BenchmarkColdStartRuntimes(b *testing.B) {
	e := setup(b)
	if e.kumo == nil {
		b.Skip(e.kumoNote)
	}
	k := e.kumo
	ctx := b.Context()
	fns, err := runtimeFns(e)
	if err != nil {
		b.Fatal(err)
	}
	type measured struct {
		fn          runtimeFn
		name        string
		cold        *series
		build       time.Duration
		first, next time.Duration
		usedBefore  bool // an earlier benchmark built and unpacked it
	}
	var all []*measured
	var samplers []sampler
	for _, fn := range fns {
		files := fn.files
		if fn.compile != nil {
			if _, err := exec.LookPath("javac"); err != nil {
				note(b, "note: javac not found: "+fn.runtime+" is not measured")
				continue
			}
			if files, err = fn.compile(b.TempDir()); err != nil {
				b.Fatal(err)
			}
		}
		code, err := zipFiles(files)
		if err != nil {
			b.Fatal(err)
		}
		m := &measured{fn: fn, cold: &series{name: fn.runtime + " cold start"}}
		if m.usedBefore, err = k.runtimeBuilt(ctx, fn.runtime); err != nil {
			b.Fatal(err)
		}
		if m.build, err = k.buildRuntime(ctx, fn.runtime); err != nil {
			b.Fatal(err)
		}
		deploy := func() (string, time.Duration, error) {
			name := k.uniqueName("rt")
			t0 := time.Now()
			if err := k.createIn(ctx, name, fn.runtime, fn.handler, code); err != nil {
				return "", 0, err
			}
			err := k.invokeCold(ctx, name, payload)
			return name, time.Since(t0), err
		}
		if m.name, m.first, err = deploy(); err != nil {
			b.Fatal(err)
		}
		second, d, err := deploy()
		if err != nil {
			b.Fatal(err)
		}
		m.next = d
		if err := k.delete(ctx, second); err != nil {
			b.Fatal(err)
		}
		all = append(all, m)
		samplers = append(samplers, sampler{m.cold, func(bool) ([]time.Duration, error) {
			if err := k.forceCold(ctx, m.name); err != nil {
				return nil, err
			}
			t0 := time.Now()
			err := k.invokeCold(ctx, m.name, payload)
			return one(time.Since(t0), err)
		}})
	}
	defer func() {
		for _, m := range all {
			_ = k.delete(context.Background(), m.name)
		}
	}()
	interleave(b, samplers...)
	note(b, "cold start per runtime (echo handler, 512 MB, new sandbox → response; deploy = CreateFunction + first invoke):")
	for _, m := range all {
		b.ReportMetric(ms(m.cold.percentile(0.5)), m.fn.runtime+"-p50-ms")
		first, build := "first of runtime (unpack)", fmt.Sprintf("base image build %.1f s", m.build.Seconds())
		if m.usedBefore {
			first, build = "first here (layers unpacked by earlier benchmarks)", "base image built earlier"
		}
		note(b, fmt.Sprintf("  %-16s cold %s | deploy %s %.0f ms vs cached %.0f ms | %s",
			m.fn.runtime, p5099(m.cold), first, ms(m.first), ms(m.next), build))
	}
}
