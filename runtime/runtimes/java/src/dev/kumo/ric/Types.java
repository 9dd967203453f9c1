package dev.kumo.ric;

import java.lang.reflect.GenericArrayType;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/** Generic-type plumbing: erasure, type-variable substitution, supertype arguments. */
final class Types {
    private Types() {
    }

    /** The class a type erases to. */
    static Class<?> raw(Type t) {
        if (t instanceof Class) {
            return (Class<?>) t;
        }
        if (t instanceof ParameterizedType) {
            return raw(((ParameterizedType) t).getRawType());
        }
        if (t instanceof GenericArrayType) {
            return java.lang.reflect.Array.newInstance(raw(((GenericArrayType) t).getGenericComponentType()), 0).getClass();
        }
        if (t instanceof WildcardType) {
            return raw(((WildcardType) t).getUpperBounds()[0]);
        }
        if (t instanceof TypeVariable) {
            Type[] bounds = ((TypeVariable<?>) t).getBounds();
            return bounds.length == 0 ? Object.class : raw(bounds[0]);
        }
        return Object.class;
    }

    /** Type argument i of t, or Object when t is raw. */
    static Type arg(Type t, int i) {
        if (t instanceof ParameterizedType) {
            Type[] args = ((ParameterizedType) t).getActualTypeArguments();
            if (i < args.length) {
                Type a = args[i];
                if (a instanceof WildcardType) {
                    return ((WildcardType) a).getUpperBounds()[0];
                }
                return a;
            }
        }
        return Object.class;
    }

    /**
     * The bindings of the type variables of t's class and of all its
     * superclasses, as seen from t.
     */
    static Map<TypeVariable<?>, Type> bindings(Type t) {
        Map<TypeVariable<?>, Type> env = new HashMap<>();
        Class<?> c = raw(t);
        if (t instanceof ParameterizedType) {
            bind(env, c, ((ParameterizedType) t).getActualTypeArguments());
        }
        Class<?> cur = c;
        while (cur != null && cur != Object.class) {
            Type sup = cur.getGenericSuperclass();
            if (sup instanceof ParameterizedType) {
                Type[] args = ((ParameterizedType) sup).getActualTypeArguments();
                Type[] resolved = new Type[args.length];
                for (int i = 0; i < args.length; i++) {
                    resolved[i] = resolve(args[i], env);
                }
                bind(env, raw(sup), resolved);
            }
            cur = cur.getSuperclass();
        }
        return env;
    }

    private static void bind(Map<TypeVariable<?>, Type> env, Class<?> c, Type[] args) {
        TypeVariable<?>[] vars = c.getTypeParameters();
        for (int i = 0; i < vars.length && i < args.length; i++) {
            env.put(vars[i], args[i]);
        }
    }

    /** t with the type variables bound in env substituted. */
    static Type resolve(Type t, Map<TypeVariable<?>, Type> env) {
        if (t instanceof Class || env.isEmpty()) {
            return t;
        }
        if (t instanceof TypeVariable) {
            Type b = env.get(t);
            return b == null ? t : b;
        }
        if (t instanceof ParameterizedType) {
            ParameterizedType p = (ParameterizedType) t;
            Type[] args = p.getActualTypeArguments();
            Type[] out = new Type[args.length];
            boolean changed = false;
            for (int i = 0; i < args.length; i++) {
                out[i] = resolve(args[i], env);
                changed |= out[i] != args[i];
            }
            return changed ? new Param(raw(p), out, p.getOwnerType()) : p;
        }
        if (t instanceof GenericArrayType) {
            Type comp = ((GenericArrayType) t).getGenericComponentType();
            Type r = resolve(comp, env);
            if (r == comp) {
                return t;
            }
            if (r instanceof Class) {
                return java.lang.reflect.Array.newInstance((Class<?>) r, 0).getClass();
            }
            return new Arr(r);
        }
        if (t instanceof WildcardType) {
            return resolve(((WildcardType) t).getUpperBounds()[0], env);
        }
        return t;
    }

    /**
     * The type arguments with which clazz implements iface, resolved as far
     * as clazz's declaration allows, or null when it implements it raw.
     */
    static Type[] interfaceArguments(Class<?> clazz, Class<?> iface) {
        // Breadth-first over supertypes, carrying each one's bindings.
        ArrayDeque<Type> queue = new ArrayDeque<>();
        queue.add(clazz);
        while (!queue.isEmpty()) {
            Type t = queue.poll();
            Class<?> c = raw(t);
            Map<TypeVariable<?>, Type> env = new HashMap<>();
            if (t instanceof ParameterizedType) {
                bind(env, c, ((ParameterizedType) t).getActualTypeArguments());
            }
            for (Type i : c.getGenericInterfaces()) {
                Type r = resolve(i, env);
                if (raw(r) == iface) {
                    if (r instanceof ParameterizedType) {
                        return ((ParameterizedType) r).getActualTypeArguments();
                    }
                    return null;
                }
                if (iface.isAssignableFrom(raw(r))) {
                    queue.add(r);
                }
            }
            Type sup = c.getGenericSuperclass();
            if (sup != null) {
                Type r = resolve(sup, env);
                if (iface.isAssignableFrom(raw(r))) {
                    queue.add(r);
                }
            }
        }
        return null;
    }

    /** A parameterized type built by substitution. */
    static final class Param implements ParameterizedType {
        private final Class<?> raw;
        private final Type[] args;
        private final Type owner;

        Param(Class<?> raw, Type[] args, Type owner) {
            this.raw = raw;
            this.args = args;
            this.owner = owner;
        }

        @Override
        public Type[] getActualTypeArguments() {
            return args.clone();
        }

        @Override
        public Type getRawType() {
            return raw;
        }

        @Override
        public Type getOwnerType() {
            return owner;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof ParameterizedType)) {
                return false;
            }
            ParameterizedType p = (ParameterizedType) o;
            return raw.equals(p.getRawType()) && Arrays.equals(args, p.getActualTypeArguments())
                    && java.util.Objects.equals(owner, p.getOwnerType());
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(args) ^ raw.hashCode() ^ java.util.Objects.hashCode(owner);
        }

        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder(raw.getName()).append('<');
            for (int i = 0; i < args.length; i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                sb.append(args[i].getTypeName());
            }
            return sb.append('>').toString();
        }
    }

    /** A generic array type built by substitution. */
    static final class Arr implements GenericArrayType {
        private final Type component;

        Arr(Type component) {
            this.component = component;
        }

        @Override
        public Type getGenericComponentType() {
            return component;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof GenericArrayType && component.equals(((GenericArrayType) o).getGenericComponentType());
        }

        @Override
        public int hashCode() {
            return component.hashCode();
        }

        @Override
        public String toString() {
            return component.getTypeName() + "[]";
        }
    }
}
