package com.amazonaws.services.lambda.runtime;

import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Type;

/**
 * Replaces the runtime's JSON conversion for RequestHandler-style handlers.
 * The runtime uses the one implementation the function's class path lists
 * in META-INF/services/com.amazonaws.services.lambda.runtime.CustomPojoSerializer.
 */
public interface CustomPojoSerializer {

    /** Reads a value of the given type from input. */
    <T> T fromJson(InputStream input, Type type);

    /** Reads a value of the given type from input. */
    <T> T fromJson(String input, Type type);

    /** Writes value, declared as type, to output. */
    <T> void toJson(T value, OutputStream output, Type type);
}
