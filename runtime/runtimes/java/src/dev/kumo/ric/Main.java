package dev.kumo.ric;

import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOError;
import java.io.IOException;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * kumo's runtime interface client for Java: loads the function's handler
 * and serves invocations from the Lambda Runtime API until the sandbox is
 * stopped, behaving like AWS's aws-lambda-java-runtime-interface-client.
 */
public final class Main {
    private static final String TRACE_PROPERTY = "com.amazonaws.xray.traceHeader";
    private static final String USER_FAULT_TYPE = "Runtime.BadFunctionCode";
    private static final String USER_EXCEPTION_TYPE = "Runtime.UserException";

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        // UTF-8 whatever the locale; buffered, flushed at each line as the
        // JVM's own streams are, and before each answer (flush below).
        System.setOut(new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 8192), true,
                StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.err), 8192), true,
                StandardCharsets.UTF_8));

        String api = System.getenv("AWS_LAMBDA_RUNTIME_API");
        if (api == null || api.isEmpty()) {
            System.err.println("kumo java runtime: AWS_LAMBDA_RUNTIME_API is not set");
            System.exit(1);
        }
        String handler = args.length > 0 && !args[0].isEmpty() ? args[0] : System.getenv("_HANDLER");
        if (handler == null) {
            handler = "";
        }
        RuntimeApi client = new RuntimeApi(api);

        ClassLoader loader = functionLoader();
        Thread.currentThread().setContextClassLoader(loader);
        Handlers.Handler h;
        try {
            h = Handlers.load(handler, loader);
        } catch (UserFault f) {
            log(f.reportable());
            flush();
            int status = client.initError(f.json(), USER_FAULT_TYPE);
            if (status != 202) {
                System.err.println("kumo java runtime: POST /runtime/init/error: HTTP " + status);
            }
            System.exit(1);
            return;
        }

        LambdaContext.Function fn = new LambdaContext.Function(
                env("AWS_LAMBDA_FUNCTION_NAME"), env("AWS_LAMBDA_FUNCTION_VERSION"), memory(),
                env("AWS_LAMBDA_LOG_GROUP_NAME"), env("AWS_LAMBDA_LOG_STREAM_NAME"));
        serve(client, h, fn);
    }

    /** The loop: an exception escaping it (the Runtime API is gone) ends the process non-zero. */
    private static void serve(RuntimeApi client, Handlers.Handler h, LambdaContext.Function fn) throws IOException {
        while (true) {
            Invocation inv = client.next();
            if (inv.traceId != null) {
                System.setProperty(TRACE_PROPERTY, inv.traceId);
            } else {
                System.clearProperty(TRACE_PROPERTY);
            }
            boolean exit = false;
            byte[] body = null;
            byte[] error = null;
            String errorType = null;
            try {
                body = h.call(inv, new LambdaContext(fn, inv));
            } catch (UserFault f) {
                exit = f.fatal;
                log(f.reportable());
                error = f.json();
                errorType = USER_FAULT_TYPE;
            } catch (Throwable t) {
                // Out of memory or a broken stdout leaves the JVM unusable: report, then exit.
                exit = t instanceof VirtualMachineError || t instanceof IOError;
                Errors.filter(t);
                error = Errors.json(t);
                errorType = USER_EXCEPTION_TYPE;
                log(UserFault.of(t, false).reportable());
            }
            flush();
            if (error == null) {
                check(client.respond(inv.requestId, body), "response", inv.requestId);
            } else {
                check(client.fail(inv.requestId, error, errorType), "error", inv.requestId);
            }
            // The handler may have left the interrupted flag set.
            Thread.interrupted();
            if (exit) {
                System.exit(1);
            }
        }
    }

    private static void check(int status, String what, String requestId) {
        if (status != 202) {
            System.err.println("kumo java runtime: POST /runtime/invocation/" + requestId + "/" + what + ": HTTP " + status);
        }
    }

    /**
     * The function's class path, as AWS builds it: the task root (classes
     * at the zip's root), its lib/*.jar, then the layers' /opt/java/lib/*.jar,
     * jars in name order. Its parent is the application loader, so the
     * com.amazonaws.services.lambda.runtime classes always come from this
     * runtime, even when a function bundles aws-lambda-java-core.
     */
    private static ClassLoader functionLoader() throws MalformedURLException {
        String root = System.getenv("LAMBDA_TASK_ROOT");
        if (root == null || root.isEmpty()) {
            root = System.getProperty("user.dir");
        }
        List<URL> urls = new ArrayList<>();
        urls.add(new File(root).toURI().toURL());
        jars(new File(root, "lib"), urls);
        jars(new File("/opt/java/lib"), urls);
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader());
    }

    private static void jars(File dir, List<URL> urls) throws MalformedURLException {
        String[] names = dir.list();
        if (names == null) {
            return;
        }
        Arrays.sort(names);
        for (String n : names) {
            if (n.endsWith(".jar")) {
                urls.add(new File(dir, n).toURI().toURL());
            }
        }
    }

    private static String env(String name) {
        String v = System.getenv(name);
        return v == null || v.isEmpty() ? null : v;
    }

    private static int memory() {
        try {
            return Integer.parseInt(System.getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").trim());
        } catch (RuntimeException e) {
            return 128;
        }
    }

    private static void log(String s) {
        System.out.print(s);
    }

    /** Everything the function printed reaches the platform before its answer does. */
    private static void flush() {
        System.out.flush();
        System.err.flush();
    }
}
