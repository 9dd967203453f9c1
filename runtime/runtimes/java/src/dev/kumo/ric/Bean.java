package dev.kumo.ric;

import java.lang.reflect.AccessibleObject;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How a class maps to a JSON object, with the rules of AWS's Java runtime
 * (Jackson with standard bean naming, no annotations, no inferred
 * mutators): properties are read through public getters and public fields,
 * written through setters (any visibility) and public fields, and ordered
 * like the fields that back them.
 */
final class Bean {
    /** A readable property. */
    static final class Getter {
        final String name;
        final Method method;
        final Field field;

        Getter(String name, Method method, Field field) {
            this.name = name;
            this.method = method;
            this.field = field;
        }

        Object get(Object target) throws ReflectiveOperationException {
            return method != null ? method.invoke(target) : field.get(target);
        }
    }

    /** A writable property. */
    static final class Setter {
        final String name;
        final Method method;
        final Field field;
        final Type type;

        Setter(String name, Method method, Field field) {
            this.name = name;
            this.method = method;
            this.field = field;
            this.type = method != null ? method.getGenericParameterTypes()[0] : field.getGenericType();
        }

        void set(Object target, Object value) throws ReflectiveOperationException {
            if (method != null) {
                method.invoke(target, value);
            } else {
                field.set(target, value);
            }
        }
    }

    private static final Map<Class<?>, Bean> CACHE = new HashMap<>();

    final Class<?> type;
    final List<Getter> getters;
    final Map<String, Setter> setters;
    final Constructor<?> constructor;
    final RecordComponent[] components;
    final Constructor<?> canonical;

    private Bean(Class<?> type) {
        this.type = type;
        if (type.isRecord()) {
            components = type.getRecordComponents();
            Class<?>[] params = new Class<?>[components.length];
            List<Getter> gs = new ArrayList<>();
            for (int i = 0; i < components.length; i++) {
                params[i] = components[i].getType();
                Method acc = components[i].getAccessor();
                accessible(acc);
                gs.add(new Getter(components[i].getName(), acc, null));
            }
            Constructor<?> c = null;
            try {
                c = type.getDeclaredConstructor(params);
                accessible(c);
            } catch (NoSuchMethodException e) {
                c = null;
            }
            canonical = c;
            getters = gs;
            setters = new HashMap<>();
            constructor = null;
            return;
        }
        components = null;
        canonical = null;

        // Order: every field from the top superclass down (private ones
        // too: they place the getters that expose them), then getters with
        // no field.
        List<Class<?>> chain = new ArrayList<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            chain.add(0, c);
        }
        LinkedHashMap<String, Field> fields = new LinkedHashMap<>();
        for (Class<?> c : chain) {
            for (Field f : c.getDeclaredFields()) {
                if (!Modifier.isStatic(f.getModifiers()) && !f.isSynthetic()) {
                    fields.put(f.getName(), f);
                }
            }
        }
        LinkedHashMap<String, Method> readers = new LinkedHashMap<>();
        for (Method m : type.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) || m.getParameterCount() != 0 || m.isBridge()
                    || m.getDeclaringClass() == Object.class || m.getReturnType() == void.class) {
                continue;
            }
            String n = m.getName();
            String prop = null;
            if (n.startsWith("get") && n.length() > 3) {
                prop = decapitalize(n.substring(3));
            } else if (n.startsWith("is") && n.length() > 2 && m.getReturnType() == boolean.class) {
                prop = decapitalize(n.substring(2));
            }
            if (prop == null) {
                continue;
            }
            Method prev = readers.get(prop);
            // getX wins over isX, as in Jackson.
            if (prev == null || (prev.getName().startsWith("is") && n.startsWith("get"))) {
                readers.put(prop, m);
            }
        }
        List<String> order = new ArrayList<>(fields.keySet());
        for (String p : readers.keySet()) {
            if (!fields.containsKey(p)) {
                order.add(p);
            }
        }
        List<Getter> gs = new ArrayList<>();
        for (String p : order) {
            Method m = readers.get(p);
            if (m != null) {
                accessible(m);
                gs.add(new Getter(p, m, null));
                continue;
            }
            Field f = fields.get(p);
            if (f != null && visibleField(f)) {
                accessible(f);
                gs.add(new Getter(p, null, f));
            }
        }
        getters = gs;

        // Setters: the most derived declaration wins.
        Map<String, Setter> ss = new HashMap<>();
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                String n = m.getName();
                if (Modifier.isStatic(m.getModifiers()) || m.isBridge() || m.isSynthetic()
                        || m.getParameterCount() != 1 || !n.startsWith("set") || n.length() <= 3) {
                    continue;
                }
                String prop = decapitalize(n.substring(3));
                Setter prev = ss.get(prop);
                if (prev != null && (prev.method.getDeclaringClass() != c || !prefer(m, prev.method, readers.get(prop)))) {
                    continue;
                }
                ss.put(prop, new Setter(prop, m, null));
            }
        }
        for (Field f : fields.values()) {
            if (!ss.containsKey(f.getName()) && visibleField(f) && !Modifier.isFinal(f.getModifiers())) {
                ss.put(f.getName(), new Setter(f.getName(), null, f));
            }
        }
        for (Setter s : ss.values()) {
            accessible(s.method != null ? s.method : s.field);
        }
        setters = ss;

        Constructor<?> ctor = null;
        if (!Modifier.isAbstract(type.getModifiers()) && !type.isInterface()
                && (type.getEnclosingClass() == null || Modifier.isStatic(type.getModifiers()))) {
            try {
                ctor = type.getDeclaredConstructor();
                accessible(ctor);
            } catch (NoSuchMethodException e) {
                ctor = null;
            }
        }
        constructor = ctor;
    }

    /** Between two overloaded setters, the one matching the getter, else the String one. */
    private static boolean prefer(Method candidate, Method current, Method getter) {
        Class<?> want = getter != null ? getter.getReturnType() : null;
        Class<?> cand = candidate.getParameterTypes()[0];
        Class<?> cur = current.getParameterTypes()[0];
        if (want != null && (cand == want) != (cur == want)) {
            return cand == want;
        }
        return cand == String.class && cur != String.class;
    }

    private static boolean visibleField(Field f) {
        int mod = f.getModifiers();
        return Modifier.isPublic(mod) && !Modifier.isTransient(mod);
    }

    private static void accessible(AccessibleObject o) {
        // Jackson overrides access modifiers; so must we, for package-private
        // classes with public accessors. JDK internals may refuse, harmlessly.
        o.trySetAccessible();
    }

    /** java.beans-style: "URL" stays "URL", "Name" becomes "name". */
    static String decapitalize(String s) {
        if (s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isUpperCase(s.charAt(1))) {
            return s;
        }
        char c = s.charAt(0);
        char l = Character.toLowerCase(c);
        return c == l ? s : l + s.substring(1);
    }

    static Bean of(Class<?> c) {
        synchronized (CACHE) {
            Bean b = CACHE.get(c);
            if (b == null) {
                b = new Bean(c);
                CACHE.put(c, b);
            }
            return b;
        }
    }
}
