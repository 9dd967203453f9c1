package runtimes_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/internal/runtimeapi"
)

const (
	javaDir       = "java"
	javaJar       = "java/var-runtime/lib/kumo-ric.jar"
	javaBootstrap = "java/var-runtime/bootstrap"
)

// TestJava_JarCurrent fails when the committed jar was not rebuilt after
// a change under java/src: the jar's manifest records the digest of the
// sources it was built from (see java/build.sh). Run `make java-ric`.
func TestJava_JarCurrent(t *testing.T) {
	t.Parallel()
	want := javaSourceDigest(t)
	zr, err := zip.OpenReader(javaJar)
	require.NoError(t, err)
	defer zr.Close()
	var manifest []byte
	for _, f := range zr.File {
		if f.Name == "META-INF/MANIFEST.MF" {
			rc, err := f.Open()
			require.NoError(t, err)
			var buf bytes.Buffer
			_, err = buf.ReadFrom(rc)
			require.NoError(t, err)
			require.NoError(t, rc.Close())
			manifest = buf.Bytes()
		}
		// Reproducible: every entry has the fixed time build.sh sets.
		assert.Equal(t, 1980, f.Modified.Year(), "entry %s", f.Name)
	}
	require.NotNil(t, manifest, "jar has no manifest")
	got := manifestAttrs(manifest)["Kumo-Source-SHA256"]
	require.Equal(t, want, got, "%s is stale: run `make java-ric` and commit the jar", javaJar)

	st, err := os.Stat(javaBootstrap)
	require.NoError(t, err)
	require.Equal(t, fs.FileMode(0o755), st.Mode().Perm(), "bootstrap must be executable")
}

// javaSourceDigest is build.sh's `find src -type f | LC_ALL=C sort |
// xargs sha256sum | sha256sum`.
func javaSourceDigest(t *testing.T) string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(filepath.Join(javaDir, "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(javaDir, p)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	sort.Strings(paths)
	var list bytes.Buffer
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(javaDir, p))
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		fmt.Fprintf(&list, "%s  %s\n", hex.EncodeToString(sum[:]), p)
	}
	sum := sha256.Sum256(list.Bytes())
	return hex.EncodeToString(sum[:])
}

// manifestAttrs parses a JAR manifest's main section, joining the
// continuation lines (starting with a space) that wrap values at 72 bytes.
func manifestAttrs(b []byte) map[string]string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if l == "" {
			break
		}
		if strings.HasPrefix(l, " ") && len(lines) > 0 {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	attrs := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, ": "); ok {
			attrs[k] = v
		}
	}
	return attrs
}

// javaHandlers are compiled against the client jar, as a function's code is
// compiled against aws-lambda-java-core.
var javaHandlers = map[string]string{
	"example/Hello.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

public class Hello {
    public static class Address {
        public String city;
        public int zip;
    }

    public static class Request {
        private String name;
        private int count;
        private List<String> tags;
        private Address address;
        public Map<String, Integer> scores;

        public String getName() { return name; }
        public void setName(String name) { this.name = name; }
        public int getCount() { return count; }
        public void setCount(int count) { this.count = count; }
        public List<String> getTags() { return tags; }
        public void setTags(List<String> tags) { this.tags = tags; }
        public Address getAddress() { return address; }
        public void setAddress(Address address) { this.address = address; }
    }

    public static class Response {
        private String greeting;
        private List<String> tags = new ArrayList<>();
        private String city;
        private boolean vip;
        private Integer total;
        private String unset;

        public String getGreeting() { return greeting; }
        public List<String> getTags() { return tags; }
        public String getCity() { return city; }
        public boolean isVip() { return vip; }
        public Integer getTotal() { return total; }
        public String getUnset() { return unset; }
    }

    private final int instance = counter++;
    private static int counter;
    private int calls;

    public Response handleRequest(Request in, Context ctx) {
        calls++;
        System.out.println("stdout: hello " + in.getName());
        System.err.println("stderr: hello " + in.getName());
        ctx.getLogger().log("logger: hello " + in.getName() + "\n");
        LambdaRuntime.getLogger().log("runtime logger: hello " + in.getName() + "\n");
        // No newline: it reaches the log all the same (System.out flushes each write, as on AWS).
        System.out.print("no-newline:" + in.getName());
        Response r = new Response();
        r.greeting = "Hello, " + in.getName() + " x" + in.getCount() + " (instance " + instance + ", call " + calls + ")";
        if (in.getTags() != null) {
            for (String t : in.getTags()) {
                r.tags.add(t.toUpperCase());
            }
        }
        r.city = in.getAddress() == null ? null : in.getAddress().city + " " + in.getAddress().zip;
        r.vip = in.getCount() > 2;
        if (in.scores != null) {
            int sum = 0;
            for (int v : in.scores.values()) {
                sum += v;
            }
            r.total = sum;
        }
        return r;
    }
}
`,
	"example/Ctx.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.LinkedHashMap;
import java.util.Map;

public class Ctx implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> in, Context c) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("requestId", c.getAwsRequestId());
        m.put("functionName", c.getFunctionName());
        m.put("functionVersion", c.getFunctionVersion());
        m.put("memory", c.getMemoryLimitInMB());
        m.put("arn", c.getInvokedFunctionArn());
        m.put("logGroup", c.getLogGroupName());
        m.put("logStream", c.getLogStreamName());
        m.put("remaining", c.getRemainingTimeInMillis());
        m.put("trace", System.getProperty("com.amazonaws.xray.traceHeader"));
        m.put("identity", c.getIdentity() == null ? null : c.getIdentity().getIdentityId() + "/" + c.getIdentity().getIdentityPoolId());
        if (c.getClientContext() != null) {
            m.put("installationId", c.getClientContext().getClient().getInstallationId());
            m.put("appTitle", c.getClientContext().getClient().getAppTitle());
            m.put("custom", c.getClientContext().getCustom());
            m.put("env", c.getClientContext().getEnvironment());
        }
        Map<String, String> types = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : in.entrySet()) {
            types.put(e.getKey(), e.getValue() == null ? "null" : e.getValue().getClass().getName());
        }
        m.put("types", types);
        m.put("event", in);
        return m;
    }
}
`,
	"example/Strings.java": `package example;

public class Strings {
    public static String upper(String s) {
        return s == null ? "was null" : s.toUpperCase();
    }

    public static int twice(int n) {
        return n * 2;
    }

    public void nothing(java.util.Map<String, Object> in) {
        System.out.println("nothing got " + in);
    }
}
`,
	"example/Echo.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

public class Echo implements RequestStreamHandler {
    @Override
    public void handleRequest(InputStream in, OutputStream out, Context ctx) throws IOException {
        String s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        out.write(("[" + ctx.getAwsRequestId() + "] " + s.toUpperCase()).getBytes(StandardCharsets.UTF_8));
    }

    public static void copy(InputStream in, OutputStream out) throws IOException {
        in.transferTo(out);
        out.write(" (copied)".getBytes(StandardCharsets.UTF_8));
    }
}
`,
	"example/Boom.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.io.IOException;
import java.util.Map;

public class Boom implements RequestHandler<Map<String, Object>, String> {
    @Override
    public String handleRequest(Map<String, Object> in, Context ctx) {
        if (in.containsKey("ok")) {
            return "fine";
        }
        throw new IllegalStateException("boom: " + in.get("why"), new IOException("disk on fire")); // BOOM-LINE
    }

    public static String checked(String s) throws Exception {
        throw new Exception("checked " + s); // CHECKED-LINE
    }
}
`,
	"example/BadStatic.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

public class BadStatic implements RequestHandler<String, String> {
    static final String CONFIG = load();

    static String load() {
        System.out.println("loading config");
        throw new IllegalStateException("no config");
    }

    @Override
    public String handleRequest(String in, Context ctx) {
        return CONFIG;
    }
}
`,
	"example/BadCtor.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

public class BadCtor implements RequestHandler<String, String> {
    public BadCtor() {
        throw new IllegalArgumentException("bad constructor");
    }

    @Override
    public String handleRequest(String in, Context ctx) {
        return in;
    }
}
`,
	"example/Generic.java": `package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import java.util.List;

public class Generic implements RequestHandler<Generic.Envelope<Generic.Point>, Generic.Envelope<Generic.Point>> {
    public record Point(int x, int y) {}

    public static class Envelope<T> {
        public T data;
        public List<T> items;
        public Kind kind;
    }

    public enum Kind { SMALL, LARGE }

    @Override
    public Envelope<Point> handleRequest(Envelope<Point> in, Context ctx) {
        Envelope<Point> out = new Envelope<>();
        out.data = new Point(in.data.y(), in.data.x());
        out.items = in.items;
        out.kind = in.items.size() > 1 ? Kind.LARGE : Kind.SMALL;
        return out;
    }
}
`,
	"example/UsesLib.java": `package example;

public class UsesLib {
    public String handleRequest(String name) {
        return helper.Greeter.greet(name);
    }
}
`,
}

// javaCustom replaces the runtime's JSON conversion through
// CustomPojoSerializer, as aws-lambda-java-core lets a function do.
var javaCustom = map[string]string{
	"custom/Brackets.java": `package custom;

import com.amazonaws.services.lambda.runtime.CustomPojoSerializer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.Type;
import java.nio.charset.StandardCharsets;

public class Brackets implements CustomPojoSerializer {
    @SuppressWarnings("unchecked")
    public <T> T fromJson(InputStream input, Type type) {
        try {
            return (T) ("raw " + type.getTypeName() + " " + new String(input.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public <T> T fromJson(String input, Type type) {
        throw new UnsupportedOperationException();
    }

    public <T> void toJson(T value, OutputStream output, Type type) {
        try {
            output.write(("<<" + value + ">>").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
`,
	"custom/Handler.java": `package custom;

public class Handler {
    public String handle(String in) {
        return in + "!";
    }
}
`,
}

// javaLib is compiled into lib/helper.jar of the task root.
const javaLib = `package helper;

public class Greeter {
    public static String greet(String name) {
        return "greetings from a lib jar, " + name;
    }
}
`

// javaTask compiles the handlers into a task root (classes at its root and
// lib/helper.jar, like an unzipped AWS deployment package) and returns it
// with the JAVA_HOME the bootstrap should use.
func javaTask(t *testing.T) (taskDir, customDir, javaHome string) {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("javac not found: the Java runtime tests need a JDK 17 or later")
	}
	javaHome = os.Getenv("JAVA_HOME")
	if javaHome == "" {
		real, err := filepath.EvalSymlinks(javac)
		require.NoError(t, err)
		javaHome = filepath.Dir(filepath.Dir(real))
	}
	jar, err := filepath.Abs(javaJar)
	require.NoError(t, err)

	src := t.TempDir()
	taskDir = t.TempDir()
	libClasses := t.TempDir()
	writeFiles(t, src, map[string]string{"helper/Greeter.java": javaLib})
	runJavac(t, javac, "-d", libClasses, filepath.Join(src, "helper/Greeter.java"))
	require.NoError(t, os.MkdirAll(filepath.Join(taskDir, "lib"), 0o755))
	writeJar(t, filepath.Join(taskDir, "lib", "helper.jar"), libClasses)

	writeFiles(t, src, javaHandlers)
	args := []string{"-cp", jar + string(os.PathListSeparator) + filepath.Join(taskDir, "lib", "helper.jar"), "-d", taskDir}
	for name := range javaHandlers {
		args = append(args, filepath.Join(src, name))
	}
	runJavac(t, javac, args...)

	// A task root of its own: its service file switches every object
	// handler in it to the custom serializer.
	customDir = t.TempDir()
	writeFiles(t, src, javaCustom)
	args = []string{"-cp", jar, "-d", customDir}
	for name := range javaCustom {
		args = append(args, filepath.Join(src, name))
	}
	runJavac(t, javac, args...)
	writeFiles(t, customDir, map[string]string{
		"META-INF/services/com.amazonaws.services.lambda.runtime.CustomPojoSerializer": "# the one serializer\ncustom.Brackets\n",
	})
	return taskDir, customDir, javaHome
}

func runJavac(t *testing.T, javac string, args ...string) {
	t.Helper()
	out, err := exec.Command(javac, append([]string{"--release", "17", "-encoding", "UTF-8"}, args...)...).CombinedOutput()
	require.NoError(t, err, "javac: %s", out)
}

// writeJar zips the files under dir (a jar needs no manifest to be on a class path).
func writeJar(t *testing.T, path, dir string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		w, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func startJava(t *testing.T, taskDir, javaHome, handler string) *ricHost {
	t.Helper()
	bootstrap, err := filepath.Abs(javaBootstrap)
	require.NoError(t, err)
	return startRIC(t, ricSpec{
		Argv:    []string{bootstrap},
		TaskDir: taskDir,
		Handler: handler,
		Env:     map[string]string{"JAVA_HOME": javaHome},
	})
}

// lineOf returns the 1-based line of the handler source holding marker.
func lineOf(t *testing.T, file, marker string) int {
	t.Helper()
	for i, l := range strings.Split(javaHandlers[file], "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("%s has no %q", file, marker)
	return 0
}

func TestJava_Handlers(t *testing.T) {
	taskDir, customDir, javaHome := javaTask(t)

	t.Run("pojo handler method, several invocations, output captured", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, taskDir, javaHome, "example.Hello::handleRequest")
		require.NoError(t, h.waitInit())
		for i := 1; i <= 3; i++ {
			var out map[string]any
			h.invokeJSON(fmt.Sprintf(`{"name":"ana%d","count":%d,"tags":["a","b"],"address":{"city":"Lisbon","zip":1100},
				"scores":{"x":1,"y":2},"unknown":{"ignored":true}}`, i, i), &out)
			require.Equal(t, map[string]any{
				"greeting": fmt.Sprintf("Hello, ana%d x%d (instance 0, call %d)", i, i, i),
				"tags":     []any{"A", "B"},
				"city":     "Lisbon 1100",
				"vip":      i > 2,
				"total":    float64(3),
			}, out, "null properties are left out, like AWS's serializer")
			for _, want := range []string{"stdout: hello ana", "stderr: hello ana", "logger: hello ana", "runtime logger: hello ana", "no-newline:ana"} {
				want := fmt.Sprintf("%s%d", want, i)
				require.Eventually(t, func() bool { return strings.Contains(h.out.String(), want) },
					2*time.Second, 10*time.Millisecond, "output has no %q:\n%s", want, h.out.String())
			}
		}
	})

	t.Run("RequestHandler with Map input and context fields", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, taskDir, javaHome, "example.Ctx")
		require.NoError(t, h.waitInit())
		res := h.invoke(runtimeapi.Invocation{
			RequestID: "req-java-1",
			Payload:   []byte(`{"s":"x","i":7,"big":12345678901,"f":1.5,"b":true,"n":null,"l":[1,"two"],"o":{"k":"v"}}`),
			TraceID:   "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
			ClientContext: `{"client":{"installation_id":"inst-1","app_title":"App","app_version_name":"1.0",
				"app_version_code":"1","app_package_name":"com.example"},"custom":{"k":"v"},"env":{"platform":"Android"}}`,
			CognitoIdentity: `{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}`,
		}, 30*time.Second)
		require.Empty(t, res.ErrorType, "payload: %s", res.Payload)
		var out map[string]any
		require.NoError(t, json.Unmarshal(res.Payload, &out))
		remaining := out["remaining"].(float64)
		assert.Greater(t, remaining, float64(20000))
		assert.LessOrEqual(t, remaining, float64(30000))
		delete(out, "remaining")
		require.Equal(t, map[string]any{
			"requestId":       "req-java-1",
			"functionName":    "fn",
			"functionVersion": "$LATEST",
			"memory":          float64(256),
			"arn":             "arn:aws:lambda:local:000000000000:function:fn",
			"logGroup":        "/aws/lambda/fn",
			"logStream":       "2026/11/25/[$LATEST]abcdef",
			"trace":           "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
			"identity":        "id-1/pool-1",
			"installationId":  "inst-1",
			"appTitle":        "App",
			"custom":          map[string]any{"k": "v"},
			"env":             map[string]any{"platform": "Android"},
			"types": map[string]any{
				"s": "java.lang.String", "i": "java.lang.Integer", "big": "java.lang.Long",
				"f": "java.lang.Double", "b": "java.lang.Boolean", "n": "null",
				"l": "java.util.ArrayList", "o": "java.util.LinkedHashMap",
			},
			"event": map[string]any{"s": "x", "i": float64(7), "big": float64(12345678901), "f": 1.5, "b": true,
				"n": nil, "l": []any{float64(1), "two"}, "o": map[string]any{"k": "v"}},
		}, out)

		// Without client context or identity, both are null (as on AWS).
		var plain map[string]any
		h.invokeJSON(`{}`, &plain)
		require.Nil(t, plain["identity"])
		require.NotContains(t, plain, "installationId")
	})

	t.Run("strings, numbers and void", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			handler, payload, want string
		}{
			{"example.Strings::upper", `"héllo"`, `"HÉLLO"`},
			{"example.Strings::upper", `null`, `"was null"`},
			{"example.Strings::upper", `["one"]`, `"ONE"`},
			{"example.Strings::twice", `21`, `42`},
			{"example.Strings::nothing", `{"a":1}`, `null`},
			{"example.Echo::copy", `{"raw":true}`, `{"raw":true} (copied)`},
			{"example.UsesLib::handleRequest", `"bo"`, `"greetings from a lib jar, bo"`},
		} {
			h := startJava(t, taskDir, javaHome, tc.handler)
			require.NoError(t, h.waitInit())
			res := h.invoke(runtimeapi.Invocation{Payload: []byte(tc.payload)}, 10*time.Second)
			require.Empty(t, res.ErrorType, "%s: %s", tc.handler, res.Payload)
			require.Equal(t, tc.want, string(res.Payload), tc.handler)
		}
	})

	t.Run("CustomPojoSerializer on the class path", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, customDir, javaHome, "custom.Handler::handle")
		require.NoError(t, h.waitInit())
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{"a": 1}`)}, 10*time.Second)
		require.Empty(t, res.ErrorType, "%s", res.Payload)
		require.Equal(t, `<<raw java.lang.String {"a": 1}!>>`, string(res.Payload))
	})

	t.Run("RequestStreamHandler", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, taskDir, javaHome, "example.Echo")
		require.NoError(t, h.waitInit())
		for _, id := range []string{"r1", "r2"} {
			res := h.invoke(runtimeapi.Invocation{RequestID: id, Payload: []byte(`not json at all`)}, 10*time.Second)
			require.Empty(t, res.ErrorType)
			require.Equal(t, "["+id+"] NOT JSON AT ALL", string(res.Payload))
		}
	})

	t.Run("generic POJO, record and enum", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, taskDir, javaHome, "example.Generic")
		require.NoError(t, h.waitInit())
		var out map[string]any
		h.invokeJSON(`{"data":{"x":1,"y":2},"items":[{"x":3,"y":4},{"x":5,"y":6}]}`, &out)
		require.Equal(t, map[string]any{
			"data":  map[string]any{"x": float64(2), "y": float64(1)},
			"items": []any{map[string]any{"x": float64(3), "y": float64(4)}, map[string]any{"x": float64(5), "y": float64(6)}},
			"kind":  "LARGE",
		}, out)
	})

	t.Run("thrown exception has Lambda's Java error shape and the client survives", func(t *testing.T) {
		t.Parallel()
		h := startJava(t, taskDir, javaHome, "example.Boom")
		require.NoError(t, h.waitInit())
		res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{"why":"testing"}`)}, 10*time.Second)
		require.Equal(t, "Runtime.UserException", res.ErrorType)
		var e struct {
			lambdaError
			Cause *lambdaError `json:"cause"`
		}
		require.NoError(t, json.Unmarshal(res.Payload, &e), "%s", res.Payload)
		require.Equal(t, "boom: testing", e.ErrorMessage)
		require.Equal(t, "java.lang.IllegalStateException", e.ErrorType)
		require.NotEmpty(t, e.StackTrace)
		require.Equal(t, fmt.Sprintf("example.Boom.handleRequest(Boom.java:%d)", lineOf(t, "example/Boom.java", "BOOM-LINE")), e.StackTrace[0])
		for _, f := range e.StackTrace {
			require.NotContains(t, f, "dev.kumo.ric", "runtime frames are cut, as AWS cuts its own")
		}
		require.NotNil(t, e.Cause, "%s", res.Payload)
		require.Equal(t, "disk on fire", e.Cause.ErrorMessage)
		require.Equal(t, "java.io.IOException", e.Cause.ErrorType)
		// The log gets AWS's "message: type" line and the printed trace.
		require.Eventually(t, func() bool {
			return strings.Contains(h.out.String(), "boom: testing: java.lang.IllegalStateException\njava.lang.IllegalStateException: boom: testing\n")
		}, 2*time.Second, 10*time.Millisecond)

		var ok string
		h.invokeJSON(`{"ok":1}`, &ok)
		require.Equal(t, "fine", ok)

		// A checked exception from a method handler, through reflection.
		h2 := startJava(t, taskDir, javaHome, "example.Boom::checked")
		require.NoError(t, h2.waitInit())
		res = h2.invoke(runtimeapi.Invocation{Payload: []byte(`"x"`)}, 10*time.Second)
		e2 := decodeError(t, res.Payload)
		require.Equal(t, "java.lang.Exception", e2.ErrorType)
		require.Equal(t, "checked x", e2.ErrorMessage)
		require.Equal(t, fmt.Sprintf("example.Boom.checked(Boom.java:%d)", lineOf(t, "example/Boom.java", "CHECKED-LINE")), e2.StackTrace[0])

		// An event that does not fit the handler's input type.
		h3 := startJava(t, taskDir, javaHome, "example.Strings::upper")
		require.NoError(t, h3.waitInit())
		res = h3.invoke(runtimeapi.Invocation{Payload: []byte(`{"not":"a string"}`)}, 10*time.Second)
		e3 := decodeError(t, res.Payload)
		require.Equal(t, "java.lang.RuntimeException", e3.ErrorType)
		require.Equal(t, "An error occurred during JSON parsing", e3.ErrorMessage)
		require.Contains(t, string(res.Payload), "Cannot deserialize value of type `java.lang.String` from Object value")
	})

	t.Run("init errors", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			handler, errorType, message string
		}{
			// A static initialiser that throws fails init, as on AWS.
			{"example.BadStatic::handleRequest", "java.lang.ExceptionInInitializerError", "Error loading class example.BadStatic"},
			// So does a handler constructor that throws.
			{"example.BadCtor", "java.lang.IllegalArgumentException", "bad constructor"},
		} {
			h := startJava(t, taskDir, javaHome, tc.handler)
			err := h.waitInit()
			var ie *runtimeapi.InitError
			require.True(t, errors.As(err, &ie), "%s: want an init error, got %v", tc.handler, err)
			require.Equal(t, "Runtime.BadFunctionCode", ie.ErrorType)
			e := decodeError(t, ie.Payload)
			require.Equal(t, tc.errorType, e.ErrorType, tc.handler)
			require.Equal(t, tc.message, e.ErrorMessage, tc.handler)
			select {
			case err := <-h.done:
				h.done <- err
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee), "%s exited with %v", tc.handler, err)
				require.Equal(t, 1, ee.ExitCode())
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the client did not exit after reporting its init error", tc.handler)
			}
		}
	})

	t.Run("missing class or method fails each invocation", func(t *testing.T) {
		t.Parallel()
		// AWS's Java runtime completes init and reports these on invoke.
		for _, tc := range []struct {
			handler, errorType, message string
		}{
			{"example.Nope::handleRequest", "java.lang.ClassNotFoundException", "Class not found: example.Nope"},
			{"example.Hello::nope", "", "No public method named nope with appropriate method signature found on class example.Hello"},
			{"example.Strings", "", "Class does not implement an appropriate handler interface: example.Strings"},
		} {
			h := startJava(t, taskDir, javaHome, tc.handler)
			require.NoError(t, h.waitInit())
			for range 2 {
				res := h.invoke(runtimeapi.Invocation{Payload: []byte(`{}`)}, 10*time.Second)
				require.Equal(t, "Runtime.BadFunctionCode", res.ErrorType, tc.handler)
				e := decodeError(t, res.Payload)
				require.Equal(t, tc.errorType, e.ErrorType, tc.handler)
				require.Equal(t, tc.message, e.ErrorMessage, tc.handler)
				require.Empty(t, e.StackTrace, "user faults carry no stackTrace, as on AWS")
			}
		}
	})
}
