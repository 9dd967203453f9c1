package com.amazonaws.services.lambda.runtime;

/**
 * A handler that receives the event as a value of type I, converted from
 * the event's JSON, and whose result of type O is returned as JSON.
 *
 * @param <I> the event type
 * @param <O> the result type
 */
public interface RequestHandler<I, O> {

    /** Handles one invocation. */
    O handleRequest(I input, Context context);
}
