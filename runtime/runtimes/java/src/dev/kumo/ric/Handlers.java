package dev.kumo.ric;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.CustomPojoSerializer;
import com.amazonaws.services.lambda.runtime.RequestHandler;
import com.amazonaws.services.lambda.runtime.RequestStreamHandler;
import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Enumeration;
import java.util.List;

/**
 * Turns a handler string into something that runs an invocation, with the
 * rules of AWS's Java runtime: "pkg.Class" names a RequestStreamHandler or
 * RequestHandler implementation, "pkg.Class::method" a public method taking
 * (InputStream, OutputStream[, Context]) or ([event][, Context]).
 */
final class Handlers {
    private static final byte[] JSON_NULL = {'n', 'u', 'l', 'l'};

    private Handlers() {
    }

    /** Runs one invocation and returns the response body. */
    interface Handler {
        byte[] call(Invocation inv, Context ctx) throws Throwable;
    }

    /** A handler that could not be loaded: every invocation reports why. */
    static final class Faulty implements Handler {
        final UserFault fault;

        Faulty(UserFault fault) {
            this.fault = fault;
        }

        @Override
        public byte[] call(Invocation inv, Context ctx) {
            throw fault;
        }
    }

    /**
     * Loads the handler. A problem AWS reports at init (the class's static
     * initialiser or the handler's constructor threw) is thrown as a fatal
     * UserFault; the others (no such class or method) become a Faulty
     * handler that fails each invocation, as AWS defers them too.
     */
    static Handler load(String spec, ClassLoader loader) {
        int sep = spec.lastIndexOf("::");
        String className = sep < 0 ? spec : spec.substring(0, sep);
        String methodName = sep < 0 ? null : spec.substring(sep + 2);
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            return new Faulty(new UserFault("Invalid handler: `" + spec + "'", null, null, false));
        }
        Class<?> c;
        try {
            c = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            return new Faulty(UserFault.classNotFound(e, className));
        } catch (NoClassDefFoundError e) {
            return new Faulty(UserFault.initError(e, className));
        } catch (Throwable t) {
            throw UserFault.initError(t, className);
        }
        Handler h = methodName == null ? forClass(c, loader) : forMethod(c, methodName, loader);
        if (h instanceof Faulty && ((Faulty) h).fault.fatal) {
            throw ((Faulty) h).fault;
        }
        return h;
    }

    private static Handler forClass(Class<?> c, ClassLoader loader) {
        if (RequestStreamHandler.class.isAssignableFrom(c)) {
            try {
                return new Stream((RequestStreamHandler) newInstance(c));
            } catch (UserFault f) {
                return new Faulty(f);
            } catch (Throwable t) {
                return new Faulty(UserFault.of(t, false));
            }
        }
        if (RequestHandler.class.isAssignableFrom(c)) {
            Type[] args = Types.interfaceArguments(c, RequestHandler.class);
            if (args == null) {
                return new Faulty(new UserFault("Class " + c.getName()
                        + " does not implement RequestHandler with concrete type parameters", null, null, false));
            }
            if (args.length != 2) {
                return new Faulty(new UserFault("Invalid class signature for RequestHandler. Expected two generic types, got "
                        + args.length, null, null, false));
            }
            for (Type t : args) {
                if (t instanceof TypeVariable && !bounded((TypeVariable<?>) t)) {
                    return new Faulty(new UserFault("Class " + c.getName()
                            + " does not implement RequestHandler with concrete type parameters: parameter " + t
                            + " has no upper bound.", null, null, false));
                }
            }
            try {
                @SuppressWarnings("unchecked")
                RequestHandler<Object, Object> rh = (RequestHandler<Object, Object>) newInstance(c);
                return new Pojo(new Direct(rh), args[0], isVoid(args[1]) ? null : args[1], serializer(loader));
            } catch (UserFault f) {
                return new Faulty(f);
            } catch (Throwable t) {
                return new Faulty(UserFault.of(t, false));
            }
        }
        return new Faulty(new UserFault("Class does not implement an appropriate handler interface: " + c.getName(),
                null, null, false));
    }

    private static boolean bounded(TypeVariable<?> v) {
        for (Type b : v.getBounds()) {
            if (b != Object.class) {
                return true;
            }
        }
        return false;
    }

    private static Handler forMethod(Class<?> c, String name, ClassLoader loader) {
        Method[] all;
        try {
            all = c.getMethods();
        } catch (NoClassDefFoundError e) {
            return new Faulty(new UserFault("Error loading method " + name + " on class " + c.getName(),
                    e.getClass().getName(), Errors.trace(e), false));
        }
        List<Method> candidates = new ArrayList<>();
        for (Method m : all) {
            if (m.getName().equals(name)) {
                candidates.add(m);
            }
        }
        Method[] ms = candidates.toArray(new Method[0]);
        Arrays.sort(ms, new Priority());
        for (Method m : ms) {
            Handler h = forOverload(c, m, loader);
            if (h != null) {
                return h;
            }
        }
        return new Faulty(new UserFault("No public method named " + name
                + " with appropriate method signature found on class " + c.getName(), null, null, false));
    }

    /** The handler for one overload, or null when its signature is not a handler's. */
    private static Handler forOverload(Class<?> c, Method m, ClassLoader loader) {
        Type[] p = m.getGenericParameterTypes();
        Type r = m.getGenericReturnType();
        switch (p.length) {
            case 0:
                return pojoMethod(c, m, null, r, false, loader);
            case 1:
                if (p[0] == InputStream.class) {
                    return streamMethod(c, m, true, false, false);
                }
                if (p[0] == OutputStream.class) {
                    return streamMethod(c, m, false, true, false);
                }
                if (p[0] == Context.class) {
                    return pojoMethod(c, m, null, r, true, loader);
                }
                return pojoMethod(c, m, p[0], r, false, loader);
            case 2:
                if (p[0] == OutputStream.class) {
                    return p[1] == Context.class ? streamMethod(c, m, false, true, true) : null;
                }
                if (p[0] == Context.class) {
                    return null;
                }
                if (p[0] == InputStream.class) {
                    if (p[1] == OutputStream.class) {
                        return streamMethod(c, m, true, true, false);
                    }
                    return p[1] == Context.class ? streamMethod(c, m, true, false, true) : null;
                }
                return p[1] == Context.class ? pojoMethod(c, m, p[0], r, true, loader) : null;
            case 3:
                if (p[0] == InputStream.class && p[1] == OutputStream.class && p[2] == Context.class) {
                    return streamMethod(c, m, true, true, true);
                }
                return null;
            default:
                return null;
        }
    }

    private static Handler pojoMethod(Class<?> c, Method m, Type in, Type out, boolean ctx, ClassLoader loader) {
        try {
            Object target = Modifier.isStatic(m.getModifiers()) ? null : newInstance(c);
            m.trySetAccessible();
            Type resolvedIn = in == null ? null : Types.resolve(in, Types.bindings(c));
            Type resolvedOut = Types.resolve(out, Types.bindings(c));
            return new Pojo(new Reflective(m, target, in != null, ctx), resolvedIn,
                    isVoid(resolvedOut) ? null : resolvedOut, serializer(loader));
        } catch (UserFault f) {
            return new Faulty(f);
        } catch (Throwable t) {
            return new Faulty(UserFault.of(t, false));
        }
    }

    private static Handler streamMethod(Class<?> c, Method m, boolean in, boolean out, boolean ctx) {
        try {
            Object target = Modifier.isStatic(m.getModifiers()) ? null : newInstance(c);
            m.trySetAccessible();
            return new Stream(new StreamMethod(m, target, in, out, ctx));
        } catch (UserFault f) {
            return new Faulty(f);
        } catch (Throwable t) {
            return new Faulty(UserFault.of(t, false));
        }
    }

    private static boolean isVoid(Type t) {
        return t == void.class || t == Void.class;
    }

    /** The handler object, built with its public no-argument constructor, during init. */
    private static Object newInstance(Class<?> c) throws Exception {
        Constructor<?> k;
        try {
            k = c.getConstructor();
        } catch (NoSuchMethodException e) {
            if (c.getEnclosingClass() != null && !Modifier.isStatic(c.getModifiers())) {
                throw new Exception("Class " + c.getName() + " cannot be instantiated because it is a non-static inner class");
            }
            throw new Exception("Class " + c.getName() + " has no public zero-argument constructor", e);
        }
        k.trySetAccessible();
        try {
            return k.newInstance();
        } catch (InvocationTargetException e) {
            // The constructor threw: AWS reports this at init.
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw UserFault.of(cause, true);
        } catch (InstantiationException e) {
            throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
        }
    }

    /** Overloads in the order AWS tries them. */
    private static final class Priority implements Comparator<Method> {
        @Override
        public int compare(Method a, Method b) {
            if (a.isBridge() != b.isBridge()) {
                return a.isBridge() ? 1 : -1;
            }
            return Integer.compare(weight(b), weight(a));
        }

        /** Parameter count, with a trailing Context counted twice. */
        private static int weight(Method m) {
            Class<?>[] p = m.getParameterTypes();
            int n = p.length;
            if (n > 0 && p[n - 1] == Context.class) {
                n++;
            }
            return n;
        }
    }

    // ------------------------------------------------------------------
    // Handlers

    /** Calls the user's code with the event object. */
    private interface Target {
        Object invoke(Object input, Context ctx) throws Throwable;
    }

    private static final class Direct implements Target {
        private final RequestHandler<Object, Object> handler;

        Direct(RequestHandler<Object, Object> handler) {
            this.handler = handler;
        }

        @Override
        public Object invoke(Object input, Context ctx) {
            return handler.handleRequest(input, ctx);
        }
    }

    private static final class Reflective implements Target {
        private final Method method;
        private final Object target;
        private final boolean input;
        private final boolean context;

        Reflective(Method method, Object target, boolean input, boolean context) {
            this.method = method;
            this.target = target;
            this.input = input;
            this.context = context;
        }

        @Override
        public Object invoke(Object in, Context ctx) throws Throwable {
            Object[] args = new Object[(input ? 1 : 0) + (context ? 1 : 0)];
            int i = 0;
            if (input) {
                args[i++] = in;
            }
            if (context) {
                args[i] = ctx;
            }
            try {
                return method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause() == null ? e : e.getCause();
            }
        }
    }

    /** Event JSON to an object, the handler, the result to JSON. */
    private static final class Pojo implements Handler {
        private final Target target;
        private final Type input;
        private final Type output;
        private final Serializer serializer;

        Pojo(Target target, Type input, Type output, Serializer serializer) {
            this.target = target;
            this.input = input;
            this.output = output;
            this.serializer = serializer;
        }

        @Override
        public byte[] call(Invocation inv, Context ctx) throws Throwable {
            Object in = null;
            if (input != null) {
                try {
                    in = serializer.read(inv.payload, input);
                } catch (Throwable t) {
                    throw new RuntimeException("An error occurred during JSON parsing", Errors.filter(t));
                }
            }
            Object result = target.invoke(in, ctx);
            if (output == null) {
                return JSON_NULL;
            }
            try {
                return serializer.write(result, output);
            } catch (Throwable t) {
                throw new RuntimeException("An error occurred during JSON serialization of response", Errors.filter(t));
            }
        }
    }

    /** Raw bytes in and out. */
    private static final class Stream implements Handler {
        private final RequestStreamHandler handler;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream(1024);

        Stream(RequestStreamHandler handler) {
            this.handler = handler;
        }

        @Override
        public byte[] call(Invocation inv, Context ctx) throws Throwable {
            out.reset();
            handler.handleRequest(new ByteArrayInputStream(inv.payload), out, ctx);
            return out.toByteArray();
        }
    }

    /** A public method with a stream signature, adapted to RequestStreamHandler. */
    private static final class StreamMethod implements RequestStreamHandler {
        private final Method method;
        private final Object target;
        private final boolean input;
        private final boolean output;
        private final boolean context;

        StreamMethod(Method method, Object target, boolean input, boolean output, boolean context) {
            this.method = method;
            this.target = target;
            this.input = input;
            this.output = output;
            this.context = context;
        }

        @Override
        public void handleRequest(InputStream in, OutputStream out, Context ctx) throws IOException {
            Object[] args = new Object[(input ? 1 : 0) + (output ? 1 : 0) + (context ? 1 : 0)];
            int i = 0;
            if (input) {
                args[i++] = in;
            }
            if (output) {
                args[i++] = out;
            }
            if (context) {
                args[i] = ctx;
            }
            try {
                method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw Handlers.<RuntimeException>sneaky(e.getCause() == null ? e : e.getCause());
            } catch (IllegalAccessException e) {
                throw Handlers.<RuntimeException>sneaky(e);
            }
            if (!output) {
                out.write(JSON_NULL);
            }
        }
    }

    /** Rethrows t unchanged, checked or not: the user's exception is what Lambda reports. */
    @SuppressWarnings("unchecked")
    static <E extends Throwable> E sneaky(Throwable t) throws E {
        throw (E) t;
    }

    // ------------------------------------------------------------------
    // Serialization

    /** Event and result conversion for object handlers. */
    private interface Serializer {
        Object read(byte[] payload, Type type) throws Throwable;

        byte[] write(Object value, Type type) throws Throwable;
    }

    private static final class Builtin implements Serializer {
        static final Builtin INSTANCE = new Builtin();

        @Override
        public Object read(byte[] payload, Type type) {
            return Mapper.read(new String(payload, StandardCharsets.UTF_8), type);
        }

        @Override
        public byte[] write(Object value, Type type) {
            StringBuilder sb = new StringBuilder(256);
            Mapper.write(sb, value);
            return sb.toString().getBytes(StandardCharsets.UTF_8);
        }
    }

    private static final class Custom implements Serializer {
        private final CustomPojoSerializer custom;

        Custom(CustomPojoSerializer custom) {
            this.custom = custom;
        }

        @Override
        public Object read(byte[] payload, Type type) {
            return custom.fromJson(new ByteArrayInputStream(payload), type);
        }

        @Override
        public byte[] write(Object value, Type type) {
            ByteArrayOutputStream out = new ByteArrayOutputStream(256);
            custom.toJson(value, out, type);
            return out.toByteArray();
        }
    }

    private static final String SERVICE = "META-INF/services/" + CustomPojoSerializer.class.getName();

    /**
     * The function's CustomPojoSerializer when its class path declares one,
     * else the built-in conversion. The service file is read directly:
     * java.util.ServiceLoader costs more class loading than a cold start
     * should pay to find nothing.
     */
    private static Serializer serializer(ClassLoader loader) throws Exception {
        List<String> names = new ArrayList<>();
        Enumeration<URL> files = loader.getResources(SERVICE);
        while (files.hasMoreElements()) {
            URL u = files.nextElement();
            try (InputStream in = u.openStream();
                    BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    int hash = line.indexOf('#');
                    String n = (hash >= 0 ? line.substring(0, hash) : line).trim();
                    if (!n.isEmpty() && !names.contains(n)) {
                        names.add(n);
                    }
                }
            }
        }
        if (names.isEmpty()) {
            return Builtin.INSTANCE;
        }
        if (names.size() > 1) {
            throw new Exception("Too many serializers provided inside the META-INF/services folder, only one is allowed");
        }
        Class<?> k = Class.forName(names.get(0), true, loader);
        return new Custom((CustomPojoSerializer) k.getConstructor().newInstance());
    }
}
