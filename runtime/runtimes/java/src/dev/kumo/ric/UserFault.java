package dev.kumo.ric;

/**
 * A problem with the function's code found by the runtime itself (a
 * missing class or method, a constructor that throws). Like AWS's Java
 * runtime it is reported as {errorMessage, errorType} with no stackTrace;
 * the trace goes to the log. A fatal fault ends the process after it is
 * reported.
 */
final class UserFault extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final String msg;
    /** The exception class name, or null. */
    final String exception;
    /** The printed stack trace for the log, or null. */
    final String trace;
    final boolean fatal;

    UserFault(String msg, String exception, String trace, boolean fatal) {
        super(msg, null, false, false);
        this.msg = msg;
        this.exception = exception;
        this.trace = trace;
        this.fatal = fatal;
    }

    /** A fault carrying t's message, class and trace. */
    static UserFault of(Throwable t, boolean fatal) {
        return new UserFault(Errors.message(t), t.getClass().getName(), Errors.trace(t), fatal);
    }

    static UserFault classNotFound(Throwable t, String className) {
        return new UserFault("Class not found: " + className, t.getClass().getName(), Errors.trace(t), false);
    }

    /** The class could not be loaded or initialised (its static initialiser threw). */
    static UserFault initError(Throwable t, String className) {
        String m = t.getMessage();
        return new UserFault("Error loading class " + className + (m == null ? "" : ": " + m),
                t.getClass().getName(), Errors.trace(t), true);
    }

    /** The error document posted to the Runtime API. */
    byte[] json() {
        StringBuilder sb = new StringBuilder(128);
        sb.append("{\"errorMessage\":");
        Json.quote(sb, msg);
        if (exception != null) {
            sb.append(",\"errorType\":");
            Json.quote(sb, exception);
        }
        sb.append('}');
        return sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** The text written to the function's log. */
    String reportable() {
        if (exception != null || trace != null) {
            return msg + ": " + (exception == null ? "" : exception) + "\n" + (trace == null ? "" : trace) + "\n";
        }
        return msg + "\n";
    }
}
