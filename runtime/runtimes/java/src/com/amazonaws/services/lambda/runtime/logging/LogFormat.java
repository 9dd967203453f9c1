package com.amazonaws.services.lambda.runtime.logging;

/** Log formats a function can be configured with. */
public enum LogFormat {
    JSON,
    TEXT;

    /** Parses a format name, ignoring case. */
    public static LogFormat fromString(String logFormat) {
        try {
            return valueOf(logFormat.toUpperCase(java.util.Locale.ROOT));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("Invalid log format: '" + logFormat
                    + "' expected one of [JSON, TEXT]");
        }
    }
}
