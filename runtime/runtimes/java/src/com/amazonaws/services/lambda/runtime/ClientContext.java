package com.amazonaws.services.lambda.runtime;

import java.util.Map;

/** The client context a mobile SDK sends with an invocation. */
public interface ClientContext {

    /** The client application. */
    Client getClient();

    /** Custom values the client set. */
    Map<String, String> getCustom();

    /** Environment values the client reported (platform, model, locale, …). */
    Map<String, String> getEnvironment();
}
