package com.amazonaws.services.lambda.runtime.logging;

/** Log levels; UNDEFINED is the level of a message logged without one. */
public enum LogLevel {
    UNDEFINED,
    TRACE,
    DEBUG,
    INFO,
    WARN,
    ERROR,
    FATAL;

    /** Parses a level name, ignoring case. */
    public static LogLevel fromString(String logLevel) {
        try {
            return valueOf(logLevel.toUpperCase(java.util.Locale.ROOT));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("Invalid log level: '" + logLevel
                    + "' expected one of [TRACE, DEBUG, INFO, WARN, ERROR, FATAL]");
        }
    }
}
