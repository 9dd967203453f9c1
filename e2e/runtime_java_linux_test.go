package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// javaApp is a function as a user writes it against aws-lambda-java-core:
// a POJO in, a POJO out, the Context, a library from a layer.
const javaApp = `package example;

import com.amazonaws.services.lambda.runtime.Context;
import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;

public class Hello {
    public static class Request {
        private String name;
        private String mode;
        private List<Integer> numbers;

        public String getName() { return name; }
        public void setName(String name) { this.name = name; }
        public String getMode() { return mode; }
        public void setMode(String mode) { this.mode = mode; }
        public List<Integer> getNumbers() { return numbers; }
        public void setNumbers(List<Integer> numbers) { this.numbers = numbers; }
    }

    public static class Response {
        public String greeting;
        public long sum;
        public String requestId;
        public String functionName;
        public String functionVersion;
        public String invokedFunctionArn;
        public String logGroupName;
        public String logStreamName;
        public int memoryLimitInMB;
        public int remainingTimeInMillis;
        public String clientAppTitle;
        public Map<String, String> clientCustom;
        public String javaVersion;
        public String javaHome;
        public String taskRoot;
        public List<String> jvmArguments;
        public String unset;
    }

    public Response handleRequest(Request in, Context ctx) {
        if ("error".equals(in.getMode())) {
            fail(in.getName()); // CALL-LINE
        }
        System.out.println("print-marker " + ctx.getAwsRequestId());
        ctx.getLogger().log("log-marker\n");
        Response r = new Response();
        r.greeting = helper.Greeter.greet(in.getName());
        for (int n : in.getNumbers()) {
            r.sum += n;
        }
        r.requestId = ctx.getAwsRequestId();
        r.functionName = ctx.getFunctionName();
        r.functionVersion = ctx.getFunctionVersion();
        r.invokedFunctionArn = ctx.getInvokedFunctionArn();
        r.logGroupName = ctx.getLogGroupName();
        r.logStreamName = ctx.getLogStreamName();
        r.memoryLimitInMB = ctx.getMemoryLimitInMB();
        r.remainingTimeInMillis = ctx.getRemainingTimeInMillis();
        if (ctx.getClientContext() != null) {
            r.clientAppTitle = ctx.getClientContext().getClient().getAppTitle();
            r.clientCustom = ctx.getClientContext().getCustom();
        }
        r.javaVersion = System.getProperty("java.version");
        r.javaHome = System.getProperty("java.home");
        r.taskRoot = System.getenv("LAMBDA_TASK_ROOT");
        r.jvmArguments = ManagementFactory.getRuntimeMXBean().getInputArguments();
        return r;
    }

    static void fail(String why) {
        throw new IllegalStateException("failed: " + why); // THROW-LINE
    }
}
`

const javaBadStatic = `package example;

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
`

const javaGreeter = `package helper;

public class Greeter {
    public static String greet(String name) {
        return "hello " + name + " from a layer";
    }
}
`

// TestRootCLI_RuntimeJava runs kumo's java17 managed runtime the way a user
// would: classes compiled with javac, zipped at the root like a Lambda
// deployment package, a jar in a layer's java/lib, all through the aws CLI.
func TestRootCLI_RuntimeJava(t *testing.T) {
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("javac not found: this test compiles a Java function and needs a JDK 17 or later")
	}
	h := sharedHost(t)
	dir := t.TempDir()
	jar, err := filepath.Abs("../runtime/runtimes/java/var-runtime/lib/kumo-ric.jar")
	require.NoError(t, err)

	// The layer: helper.Greeter in java/lib/greeter.jar.
	src := filepath.Join(dir, "src")
	for name, body := range map[string]string{
		"helper/Greeter.java":    javaGreeter,
		"example/Hello.java":     javaApp,
		"example/BadStatic.java": javaBadStatic,
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(src, name), []byte(body), 0o644))
	}
	libClasses, fnClasses := filepath.Join(dir, "lib-classes"), filepath.Join(dir, "fn-classes")
	javacRun(t, javac, "-d", libClasses, filepath.Join(src, "helper/Greeter.java"))
	greeterJar := mustZip(t, classEntries(t, libClasses)...)
	javacRun(t, javac, "-cp", jar+":"+libClasses, "-d", fnClasses,
		filepath.Join(src, "example/Hello.java"), filepath.Join(src, "example/BadStatic.java"))

	layerName := uniqueName("java-lib")
	// Published with the test's t: its cleanup deletes the layer version.
	l := h.publishLayer(t, layerName, mustZip(t, zipEntry{name: "java/lib/greeter.jar", data: greeterJar}),
		"--compatible-runtimes", "java17")
	require.Equal(t, []string{"java17"}, l.CompatibleRuntimes)
	layerARN := l.LayerVersionArn

	fnZip := filepath.Join(dir, "fn.zip")
	require.NoError(t, os.WriteFile(fnZip, mustZip(t, classEntries(t, fnClasses)...), 0o644))
	outer := t
	create := func(t *testing.T, name, handler string, extra ...string) {
		t.Helper()
		h.deleteAtCleanup(outer, name) // not t: the function outlives the step
		h.createRuntimeFn(t, name, "java17", handler, fnZip, extra...)
	}

	name := uniqueName("java")
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", testRegion, testAccount, name)
	step(t, "create-function", func(t *testing.T) {
		create(t, name, "example.Hello::handleRequest", "--timeout", "10", "--memory-size", "512", "--layers", layerARN)
	})

	step(t, "invoke POJO, context and layer", func(t *testing.T) {
		cc := base64.StdEncoding.EncodeToString([]byte(`{"client":{"app_title":"kumo-e2e"},"custom":{"team":"kumo"},"env":{}}`))
		out, body := cliInvoke(t, h, name, `{"name":"java","numbers":[1,2,3],"ignored":true}`,
			"--log-type", "Tail", "--client-context", cc)
		require.Equal(t, 200, out.StatusCode)
		require.Empty(t, out.FunctionError, string(body))
		var got map[string]any
		require.NoError(t, json.Unmarshal(body, &got), string(body))
		require.NotContains(t, got, "unset", "null properties are left out, as AWS's serializer does")
		var r struct {
			Greeting, RequestID, FunctionName, FunctionVersion, InvokedFunctionArn string
			LogGroupName, LogStreamName, ClientAppTitle, JavaVersion, JavaHome     string
			TaskRoot                                                               string
			Sum                                                                    int64
			MemoryLimitInMB, RemainingTimeInMillis                                 int
			ClientCustom                                                           map[string]string
			JVMArguments                                                           []string
		}
		require.NoError(t, json.Unmarshal(body, &r), string(body))
		require.Equal(t, "hello java from a layer", r.Greeting)
		require.Equal(t, int64(6), r.Sum)
		require.Regexp(t, uuidRE, r.RequestID)
		require.Equal(t, name, r.FunctionName)
		require.Equal(t, "$LATEST", r.FunctionVersion)
		require.Equal(t, arn, r.InvokedFunctionArn)
		require.Equal(t, "/aws/lambda/"+name, r.LogGroupName)
		require.NotEmpty(t, r.LogStreamName)
		require.Equal(t, 512, r.MemoryLimitInMB)
		require.Positive(t, r.RemainingTimeInMillis)
		require.LessOrEqual(t, r.RemainingTimeInMillis, 10000)
		require.Equal(t, "kumo-e2e", r.ClientAppTitle)
		require.Equal(t, map[string]string{"team": "kumo"}, r.ClientCustom)
		require.True(t, strings.HasPrefix(r.JavaVersion, "17."), r.JavaVersion)
		require.True(t, strings.HasPrefix(r.JavaHome, "/usr/lib/jvm/java-17-openjdk-"), r.JavaHome)
		require.Equal(t, "/var/task", r.TaskRoot)
		// The JVM is sized from the function's memory: it cannot see the
		// sandbox's cgroup limit itself.
		require.Subset(t, r.JVMArguments, []string{"-Xmx445645k", "-XX:MaxMetaspaceSize=52429k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"})

		logText := decodeLog(t, &out.LogResult)
		start := strings.Index(logText, "START RequestId: "+r.RequestID)
		printed := strings.Index(logText, "print-marker "+r.RequestID+"\n")
		logged := strings.Index(logText, "log-marker\n")
		end := strings.Index(logText, "END RequestId: "+r.RequestID)
		require.True(t, start >= 0 && printed > start && logged > printed && end > logged, "log:\n%s", logText)
	})

	step(t, "invoke error", func(t *testing.T) {
		out, body := cliInvoke(t, h, name, `{"mode":"error","name":"on purpose"}`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct {
			ErrorMessage, ErrorType string
			StackTrace              []string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "java.lang.IllegalStateException", e.ErrorType)
		require.Equal(t, "failed: on purpose", e.ErrorMessage)
		require.GreaterOrEqual(t, len(e.StackTrace), 2, string(body))
		require.Equal(t, []string{
			fmt.Sprintf("example.Hello.fail(Hello.java:%d)", javaLine(t, javaApp, "THROW-LINE")),
			fmt.Sprintf("example.Hello.handleRequest(Hello.java:%d)", javaLine(t, javaApp, "CALL-LINE")),
		}, e.StackTrace[:2])
		for _, f := range e.StackTrace {
			require.NotContains(t, f, "dev.kumo.ric", "the runtime's own frames are cut, as AWS cuts its own")
		}
		require.Contains(t, decodeLog(t, &out.LogResult), "failed: on purpose: java.lang.IllegalStateException\njava.lang.IllegalStateException: failed: on purpose\n")

		// The same JVM keeps serving.
		out, body = cliInvoke(t, h, name, `{"name":"again","numbers":[]}`)
		require.Empty(t, out.FunctionError, string(body))
		require.Contains(t, string(body), `"greeting":"hello again from a layer"`)
	})

	step(t, "init error", func(t *testing.T) {
		bad := uniqueName("java-init")
		create(t, bad, "example.BadStatic::handleRequest")
		out, body := cliInvoke(t, h, bad, `"x"`, "--log-type", "Tail")
		require.Equal(t, 200, out.StatusCode)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct{ ErrorMessage, ErrorType string }
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "java.lang.ExceptionInInitializerError", e.ErrorType)
		require.Equal(t, "Error loading class example.BadStatic", e.ErrorMessage)
		logText := decodeLog(t, &out.LogResult)
		require.Contains(t, logText, "loading config\n")
		require.Contains(t, logText, "Caused by: java.lang.IllegalStateException: no config")
		require.Contains(t, logText, "Error Type: Runtime.BadFunctionCode")
	})

	step(t, "missing class", func(t *testing.T) {
		// AWS's Java runtime finishes init and fails each invocation.
		missing := uniqueName("java-nocls")
		create(t, missing, "example.Nope::handleRequest")
		out, body := cliInvoke(t, h, missing, `{}`)
		require.Equal(t, "Unhandled", out.FunctionError)
		var e struct{ ErrorMessage, ErrorType string }
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, "java.lang.ClassNotFoundException", e.ErrorType)
		require.Equal(t, "Class not found: example.Nope", e.ErrorMessage)
	})
}

func javacRun(t *testing.T, javac string, args ...string) {
	t.Helper()
	out, err := exec.Command(javac, append([]string{"--release", "17", "-encoding", "UTF-8"}, args...)...).CombinedOutput()
	require.NoError(t, err, "javac: %s", out)
}

// classEntries lists the files under dir as zip entries named from its root.
func classEntries(t *testing.T, dir string) []zipEntry {
	t.Helper()
	var entries []zipEntry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		entries = append(entries, zipEntry{name: filepath.ToSlash(rel), data: b})
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	return entries
}

// javaLine is the 1-based line of src holding marker.
func javaLine(t *testing.T, src, marker string) int {
	t.Helper()
	for i, l := range strings.Split(src, "\n") {
		if strings.Contains(l, marker) {
			return i + 1
		}
	}
	t.Fatalf("no %q in source", marker)
	return 0
}
