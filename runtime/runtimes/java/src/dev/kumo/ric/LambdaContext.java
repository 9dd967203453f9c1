package dev.kumo.ric;

import com.amazonaws.services.lambda.runtime.Client;
import com.amazonaws.services.lambda.runtime.ClientContext;
import com.amazonaws.services.lambda.runtime.CognitoIdentity;
import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.LambdaLogger;
import com.amazonaws.services.lambda.runtime.LambdaRuntime;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** The Context of one invocation. */
final class LambdaContext implements Context {
    /** What stays the same for every invocation of this process. */
    static final class Function {
        final String name;
        final String version;
        final int memoryMB;
        final String logGroup;
        final String logStream;

        Function(String name, String version, int memoryMB, String logGroup, String logStream) {
            this.name = name;
            this.version = version;
            this.memoryMB = memoryMB;
            this.logGroup = logGroup;
            this.logStream = logStream;
        }
    }

    private final Function fn;
    private final Invocation inv;
    private final CognitoIdentity identity;
    private final ClientContext clientContext;

    LambdaContext(Function fn, Invocation inv) {
        this.fn = fn;
        this.inv = inv;
        this.identity = cognito(inv.cognitoIdentity);
        this.clientContext = clientContext(inv.clientContext);
    }

    @Override
    public String getAwsRequestId() {
        return inv.requestId;
    }

    @Override
    public String getLogGroupName() {
        return fn.logGroup;
    }

    @Override
    public String getLogStreamName() {
        return fn.logStream;
    }

    @Override
    public String getFunctionName() {
        return fn.name;
    }

    @Override
    public String getFunctionVersion() {
        return fn.version;
    }

    @Override
    public String getInvokedFunctionArn() {
        return inv.invokedFunctionArn;
    }

    @Override
    public CognitoIdentity getIdentity() {
        return identity;
    }

    @Override
    public ClientContext getClientContext() {
        return clientContext;
    }

    @Override
    public int getRemainingTimeInMillis() {
        long left = inv.deadlineMs - System.currentTimeMillis();
        return left > 0 ? (int) Math.min(left, Integer.MAX_VALUE) : 0;
    }

    @Override
    public int getMemoryLimitInMB() {
        return fn.memoryMB;
    }

    @Override
    public LambdaLogger getLogger() {
        return LambdaRuntime.getLogger();
    }

    @Override
    public String getXrayTraceId() {
        return inv.traceId;
    }

    /** The Cognito identity header, or null when absent or unreadable. */
    private static CognitoIdentity cognito(String header) {
        Map<?, ?> m = object(header);
        if (m == null) {
            return null;
        }
        return new Identity(str(m.get("cognitoIdentityId")), str(m.get("cognitoIdentityPoolId")));
    }

    /** The client context header, or null when absent or unreadable. */
    private static ClientContext clientContext(String header) {
        Map<?, ?> m = object(header);
        if (m == null) {
            return null;
        }
        Object c = m.get("client");
        AppClient client = null;
        if (c instanceof Map) {
            Map<?, ?> cm = (Map<?, ?>) c;
            client = new AppClient(str(cm.get("installation_id")), str(cm.get("app_title")),
                    str(cm.get("app_version_name")), str(cm.get("app_version_code")), str(cm.get("app_package_name")));
        }
        return new Mobile(client, strings(m.get("custom")), strings(m.get("env")));
    }

    private static Map<?, ?> object(String json) {
        if (json == null || json.isEmpty()) {
            return null;
        }
        try {
            Object v = Json.parse(json);
            return v instanceof Map ? (Map<?, ?>) v : null;
        } catch (JsonException e) {
            return null;
        }
    }

    private static String str(Object v) {
        return v == null ? null : v.toString();
    }

    private static Map<String, String> strings(Object v) {
        if (!(v instanceof Map)) {
            return null;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            out.put(String.valueOf(e.getKey()), str(e.getValue()));
        }
        return Collections.unmodifiableMap(out);
    }

    private static final class Identity implements CognitoIdentity {
        private final String id;
        private final String pool;

        Identity(String id, String pool) {
            this.id = id;
            this.pool = pool;
        }

        @Override
        public String getIdentityId() {
            return id;
        }

        @Override
        public String getIdentityPoolId() {
            return pool;
        }
    }

    private static final class AppClient implements Client {
        private final String installationId;
        private final String appTitle;
        private final String appVersionName;
        private final String appVersionCode;
        private final String appPackageName;

        AppClient(String installationId, String appTitle, String appVersionName, String appVersionCode,
                String appPackageName) {
            this.installationId = installationId;
            this.appTitle = appTitle;
            this.appVersionName = appVersionName;
            this.appVersionCode = appVersionCode;
            this.appPackageName = appPackageName;
        }

        @Override
        public String getInstallationId() {
            return installationId;
        }

        @Override
        public String getAppTitle() {
            return appTitle;
        }

        @Override
        public String getAppVersionName() {
            return appVersionName;
        }

        @Override
        public String getAppVersionCode() {
            return appVersionCode;
        }

        @Override
        public String getAppPackageName() {
            return appPackageName;
        }
    }

    private static final class Mobile implements ClientContext {
        private final Client client;
        private final Map<String, String> custom;
        private final Map<String, String> env;

        Mobile(Client client, Map<String, String> custom, Map<String, String> env) {
            this.client = client;
            this.custom = custom;
            this.env = env;
        }

        @Override
        public Client getClient() {
            return client;
        }

        @Override
        public Map<String, String> getCustom() {
            return custom;
        }

        @Override
        public Map<String, String> getEnvironment() {
            return env;
        }
    }
}
