package dev.kumo.ric;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/** Lambda's error document for a Throwable, and the stack-trace hygiene around it. */
final class Errors {
    /** Frames of this runtime are cut from traces users see, as AWS cuts its own. */
    private static final String PREFIX = "dev.kumo.ric.";
    private static final int MAX_CAUSES = 16;

    private Errors() {
    }

    /** The message Lambda reports: the message, else the class name. */
    static String message(Throwable t) {
        String m = t.getLocalizedMessage();
        return m == null ? t.getClass().getName() : m;
    }

    /** Cuts each trace (causes and suppressed too) at the first runtime frame. */
    static <T extends Throwable> T filter(T t) {
        filter(t, Collections.newSetFromMap(new IdentityHashMap<Throwable, Boolean>()));
        return t;
    }

    private static void filter(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return;
        }
        StackTraceElement[] trace = t.getStackTrace();
        for (int i = 0; i < trace.length; i++) {
            if (trace[i].getClassName().startsWith(PREFIX)) {
                StackTraceElement[] cut = new StackTraceElement[i];
                System.arraycopy(trace, 0, cut, 0, i);
                t.setStackTrace(cut);
                break;
            }
        }
        filter(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) {
            filter(s, seen);
        }
    }

    /** The printed (filtered) stack trace. */
    static String trace(Throwable t) {
        filter(t);
        StringWriter sw = new StringWriter();
        PrintWriter pw = new PrintWriter(sw);
        t.printStackTrace(pw);
        pw.flush();
        return sw.toString();
    }

    /** {errorMessage, errorType, stackTrace[, cause]} for t. */
    static byte[] json(Throwable t) {
        StringBuilder sb = new StringBuilder(512);
        append(sb, t, Collections.newSetFromMap(new IdentityHashMap<Throwable, Boolean>()), 0);
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void append(StringBuilder sb, Throwable t, Set<Throwable> seen, int depth) {
        seen.add(t);
        sb.append("{\"errorMessage\":");
        Json.quote(sb, message(t));
        sb.append(",\"errorType\":");
        Json.quote(sb, t.getClass().getName());
        sb.append(",\"stackTrace\":[");
        StackTraceElement[] trace = t.getStackTrace();
        for (int i = 0; i < trace.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            Json.quote(sb, trace[i].toString());
        }
        sb.append(']');
        Throwable cause = t.getCause();
        if (cause != null && !seen.contains(cause) && depth < MAX_CAUSES) {
            sb.append(",\"cause\":");
            append(sb, cause, seen, depth + 1);
        }
        sb.append('}');
    }
}
