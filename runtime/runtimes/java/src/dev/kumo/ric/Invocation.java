package dev.kumo.ric;

/** One event from GET /runtime/invocation/next. */
final class Invocation {
    final String requestId;
    final long deadlineMs;
    final String invokedFunctionArn;
    final String traceId;
    final String clientContext;
    final String cognitoIdentity;
    final byte[] payload;

    Invocation(String requestId, long deadlineMs, String invokedFunctionArn, String traceId,
            String clientContext, String cognitoIdentity, byte[] payload) {
        this.requestId = requestId;
        this.deadlineMs = deadlineMs;
        this.invokedFunctionArn = invokedFunctionArn;
        this.traceId = traceId;
        this.clientContext = clientContext;
        this.cognitoIdentity = cognitoIdentity;
        this.payload = payload;
    }
}
