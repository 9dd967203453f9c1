package com.amazonaws.services.lambda.runtime;

import com.amazonaws.services.lambda.runtime.logging.LogLevel;

/**
 * Writes to the function's log. A message is written as given: no newline
 * is added.
 */
public interface LambdaLogger {

    /** Writes message to the function's log. */
    void log(String message);

    /** Writes the bytes of message to the function's log. */
    void log(byte[] message);

    /** Writes message at a level; the text log format ignores the level. */
    default void log(String message, LogLevel logLevel) {
        log(message);
    }

    /** Writes message at a level; the text log format ignores the level. */
    default void log(byte[] message, LogLevel logLevel) {
        log(message);
    }
}
