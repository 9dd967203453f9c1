package com.amazonaws.services.lambda.runtime;

/** Settings that logging libraries built for Lambda toggle; kept for their sake. */
public final class LambdaRuntimeInternal {

    private static volatile boolean useLog4jAppender;

    private LambdaRuntimeInternal() {
    }

    public static void setUseLog4jAppender(boolean useLog4j) {
        useLog4jAppender = useLog4j;
    }

    public static boolean getUseLog4jAppender() {
        return useLog4jAppender;
    }
}
