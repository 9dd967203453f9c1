package com.amazonaws.services.lambda.runtime;

import java.io.PrintStream;

/** Access to the runtime's logger outside a handler's Context. */
public final class LambdaRuntime {

    private LambdaRuntime() {
    }

    // Written straight to stdout and flushed: the platform attributes output
    // to an invocation by when it arrives.
    private static final LambdaLogger LOGGER = new LambdaLogger() {
        @Override
        public void log(String message) {
            PrintStream out = System.out;
            out.print(message);
            out.flush();
        }

        @Override
        public void log(byte[] message) {
            PrintStream out = System.out;
            if (message != null) {
                out.write(message, 0, message.length);
            }
            out.flush();
        }
    };

    /** Returns the logger that writes to the function's log. */
    public static LambdaLogger getLogger() {
        return LOGGER;
    }
}
