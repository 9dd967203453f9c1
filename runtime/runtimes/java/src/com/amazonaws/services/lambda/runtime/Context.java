package com.amazonaws.services.lambda.runtime;

/**
 * What a handler can learn about the invocation it is serving and the
 * function it belongs to. The runtime passes one per invocation.
 */
public interface Context {

    /** The request id of this invocation, the one the caller sees. */
    String getAwsRequestId();

    /** The log group the function's output goes to. */
    String getLogGroupName();

    /** The log stream of this execution environment. */
    String getLogStreamName();

    /** The function's name. */
    String getFunctionName();

    /** The version being run, for example "$LATEST" or "3". */
    String getFunctionVersion();

    /** The ARN the caller invoked, with its qualifier if it used one. */
    String getInvokedFunctionArn();

    /** The caller's Amazon Cognito identity, or null when there is none. */
    CognitoIdentity getIdentity();

    /** The mobile client context the caller sent, or null. */
    ClientContext getClientContext();

    /** Milliseconds left before the invocation times out (never negative). */
    int getRemainingTimeInMillis();

    /** The memory configured for the function, in MB. */
    int getMemoryLimitInMB();

    /** The logger that writes to the function's log. */
    LambdaLogger getLogger();

    /** The X-Ray trace header of this invocation, or null. */
    default String getXrayTraceId() {
        return null;
    }

    /** The tenant id of this invocation, or null. */
    default String getTenantId() {
        return null;
    }
}
