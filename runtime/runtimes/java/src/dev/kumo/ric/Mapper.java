package dev.kumo.ric;

import java.lang.reflect.Array;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Calendar;
import java.util.Collection;
import java.util.Date;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Queue;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;

/**
 * Converts between JSON and Java values the way AWS's Java runtime does for
 * handlers that take and return objects: unknown properties are ignored,
 * null properties are left out of the output, a single value is accepted
 * where an array is expected and a one-element array where a single value
 * is, an empty string or array reads as a null object, unknown enum
 * constants read as null, and a null reads as a primitive's zero.
 */
final class Mapper {
    private static final int MAX_DEPTH = 1000;

    private Mapper() {
    }

    // ------------------------------------------------------------------
    // Reading

    /** Parses JSON text and binds it to type. */
    static Object read(String json, Type type) {
        return bind(Json.parse(json), type, 0);
    }

    /** The tree with numbers turned into Integer/Long/BigInteger/Double, in place. */
    @SuppressWarnings("unchecked")
    static Object natural(Object node) {
        if (node instanceof Json.Num) {
            return ((Json.Num) node).natural();
        }
        if (node instanceof Map) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) node).entrySet()) {
                Object v = e.getValue();
                if (v instanceof Json.Num || v instanceof Map || v instanceof List) {
                    e.setValue(natural(v));
                }
            }
        } else if (node instanceof List) {
            List<Object> l = (List<Object>) node;
            for (int i = 0; i < l.size(); i++) {
                Object v = l.get(i);
                if (v instanceof Json.Num || v instanceof Map || v instanceof List) {
                    l.set(i, natural(v));
                }
            }
        }
        return node;
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    static Object bind(Object node, Type type, int depth) {
        if (depth > MAX_DEPTH) {
            throw new JsonException("value nested deeper than " + MAX_DEPTH + " levels");
        }
        Class<?> c = Types.raw(type);
        if (c == Object.class || c == Map.class && node instanceof Map && !(type instanceof java.lang.reflect.ParameterizedType)
                || c == List.class && node instanceof List && !(type instanceof java.lang.reflect.ParameterizedType)) {
            return natural(node);
        }
        if (node == null) {
            return nullFor(c);
        }
        if (c.isPrimitive() || c == String.class || Number.class.isAssignableFrom(c) || c == Boolean.class
                || c == Character.class) {
            return scalar(unwrap(node, c), c);
        }
        if (c == Optional.class) {
            Object v = bind(node, Types.arg(type, 0), depth + 1);
            return Optional.ofNullable(v);
        }
        if (c == OptionalInt.class || c == OptionalLong.class || c == OptionalDouble.class) {
            return optionalPrimitive(unwrap(node, c), c);
        }
        if (c.isEnum()) {
            return enumValue(unwrap(node, c), c);
        }
        if (c == byte[].class) {
            if (node instanceof String) {
                return Base64.getMimeDecoder().decode((String) node);
            }
        }
        if (c == char[].class && node instanceof String) {
            return ((String) node).toCharArray();
        }
        if (c.isArray()) {
            Type comp = type instanceof java.lang.reflect.GenericArrayType
                    ? ((java.lang.reflect.GenericArrayType) type).getGenericComponentType()
                    : c.getComponentType();
            List<Object> items = asList(node);
            Object arr = Array.newInstance(Types.raw(comp), items.size());
            for (int i = 0; i < items.size(); i++) {
                Array.set(arr, i, bind(items.get(i), comp, depth + 1));
            }
            return arr;
        }
        if (Map.class.isAssignableFrom(c)) {
            if (!(node instanceof Map)) {
                Object single = unwrap(node, c);
                if ("".equals(single) || single instanceof List && ((List<?>) single).isEmpty()) {
                    return null;
                }
                throw mismatch(type, single);
            }
            Type kt = Types.arg(mapType(type), 0);
            Type vt = Types.arg(mapType(type), 1);
            Map<Object, Object> out = newMap(c, Types.raw(kt));
            for (Map.Entry<String, Object> e : ((Map<String, Object>) node).entrySet()) {
                out.put(mapKey(e.getKey(), Types.raw(kt)), bind(e.getValue(), vt, depth + 1));
            }
            return out;
        }
        if (Collection.class.isAssignableFrom(c) || c == Iterable.class) {
            Type et = Types.arg(collectionType(type), 0);
            Collection<Object> out = newCollection(c, Types.raw(et));
            for (Object item : asList(node)) {
                out.add(bind(item, et, depth + 1));
            }
            return out;
        }
        Object v = unwrap(node, c);
        if (v == null) {
            return null;
        }
        if ("".equals(v) || v instanceof List && ((List<?>) v).isEmpty()) {
            return null;
        }
        Object special = special(v, c);
        if (special != null) {
            return special;
        }
        if (v instanceof Map) {
            return pojo((Map<String, Object>) v, type, c, depth);
        }
        throw mismatch(type, v);
    }

    private static Object nullFor(Class<?> c) {
        if (c == Optional.class) {
            return Optional.empty();
        }
        if (!c.isPrimitive()) {
            return null;
        }
        if (c == boolean.class) {
            return Boolean.FALSE;
        }
        if (c == char.class) {
            return Character.valueOf('\0');
        }
        return scalar(new Json.Num("0", true), c);
    }

    /** A one-element array where a single value is wanted is that value. */
    private static Object unwrap(Object node, Class<?> c) {
        if (node instanceof List && ((List<?>) node).size() == 1) {
            return ((List<?>) node).get(0);
        }
        return node;
    }

    @SuppressWarnings("unchecked")
    private static List<Object> asList(Object node) {
        if (node instanceof List) {
            return (List<Object>) node;
        }
        List<Object> l = new ArrayList<>(1);
        l.add(node);
        return l;
    }

    private static Object scalar(Object v, Class<?> c) {
        if (v == null) {
            return nullFor(c);
        }
        if (c == String.class) {
            if (v instanceof String) {
                return v;
            }
            if (v instanceof Json.Num || v instanceof Boolean) {
                return v.toString();
            }
            throw mismatch(c, v);
        }
        if (c == boolean.class || c == Boolean.class) {
            if (v instanceof Boolean) {
                return v;
            }
            if (v instanceof String) {
                String s = ((String) v).trim();
                if (s.equalsIgnoreCase("true")) {
                    return Boolean.TRUE;
                }
                if (s.equalsIgnoreCase("false")) {
                    return Boolean.FALSE;
                }
                if (s.isEmpty() || s.equals("null")) {
                    return c == Boolean.class ? null : Boolean.FALSE;
                }
                throw new JsonException("Cannot deserialize value of type `" + c.getName() + "` from String \"" + s
                        + "\": only \"true\" or \"false\" recognized");
            }
            if (v instanceof Json.Num && ((Json.Num) v).integral) {
                return Boolean.valueOf(!new BigInteger(((Json.Num) v).text).equals(BigInteger.ZERO));
            }
            throw mismatch(c, v);
        }
        if (c == char.class || c == Character.class) {
            if (v instanceof String && ((String) v).length() == 1) {
                return Character.valueOf(((String) v).charAt(0));
            }
            if (v instanceof String && ((String) v).isEmpty()) {
                return c == Character.class ? null : Character.valueOf('\0');
            }
            if (v instanceof Json.Num && ((Json.Num) v).integral) {
                return Character.valueOf((char) Integer.parseInt(((Json.Num) v).text));
            }
            throw mismatch(c, v);
        }
        // Numbers.
        String text;
        boolean integral;
        if (v instanceof Json.Num) {
            text = ((Json.Num) v).text;
            integral = ((Json.Num) v).integral;
        } else if (v instanceof String) {
            text = ((String) v).trim();
            if (text.isEmpty() || text.equals("null")) {
                return c.isPrimitive() ? nullFor(c) : null;
            }
            integral = isIntegral(text);
        } else {
            throw mismatch(c, v);
        }
        try {
            if (c == int.class || c == Integer.class) {
                return Integer.valueOf((int) integer(text, integral, Integer.MIN_VALUE, Integer.MAX_VALUE, c));
            }
            if (c == long.class || c == Long.class) {
                return Long.valueOf(integer(text, integral, Long.MIN_VALUE, Long.MAX_VALUE, c));
            }
            if (c == short.class || c == Short.class) {
                return Short.valueOf((short) integer(text, integral, Short.MIN_VALUE, Short.MAX_VALUE, c));
            }
            if (c == byte.class || c == Byte.class) {
                return Byte.valueOf((byte) integer(text, integral, Byte.MIN_VALUE, 255, c));
            }
            if (c == double.class || c == Double.class) {
                return Double.valueOf(new Json.Num(text, integral).doubleValue());
            }
            if (c == float.class || c == Float.class) {
                return Float.valueOf((float) new Json.Num(text, integral).doubleValue());
            }
            if (c == BigDecimal.class) {
                return new BigDecimal(text);
            }
            if (c == BigInteger.class) {
                return integral ? new BigInteger(text) : new BigDecimal(text).toBigInteger();
            }
            if (c == Number.class) {
                return new Json.Num(text, integral).natural();
            }
            if (c == java.util.concurrent.atomic.AtomicInteger.class) {
                return new java.util.concurrent.atomic.AtomicInteger(
                        (int) integer(text, integral, Integer.MIN_VALUE, Integer.MAX_VALUE, c));
            }
            if (c == java.util.concurrent.atomic.AtomicLong.class) {
                return new java.util.concurrent.atomic.AtomicLong(integer(text, integral, Long.MIN_VALUE, Long.MAX_VALUE, c));
            }
        } catch (NumberFormatException e) {
            throw new JsonException("Cannot deserialize value of type `" + c.getName() + "` from String \"" + text
                    + "\": not a valid number", e);
        }
        throw mismatch(c, v);
    }

    private static boolean isIntegral(String s) {
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            if (!(ch >= '0' && ch <= '9') && !(i == 0 && (ch == '-' || ch == '+'))) {
                return false;
            }
        }
        return true;
    }

    private static long integer(String text, boolean integral, long min, long max, Class<?> c) {
        BigInteger b;
        if (integral) {
            b = new BigInteger(text.startsWith("+") ? text.substring(1) : text);
        } else {
            // Floats are truncated, as with ACCEPT_FLOAT_AS_INT.
            double d = new Json.Num(text, false).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw new JsonException("Numeric value (" + text + ") out of range of " + c.getName());
            }
            b = new BigDecimal(text).toBigInteger();
        }
        if (b.compareTo(BigInteger.valueOf(min)) < 0 || b.compareTo(BigInteger.valueOf(max)) > 0) {
            throw new JsonException("Numeric value (" + text + ") out of range of " + c.getName());
        }
        return b.longValue();
    }

    private static Object optionalPrimitive(Object v, Class<?> c) {
        if (v == null) {
            return c == OptionalInt.class ? OptionalInt.empty()
                    : c == OptionalLong.class ? OptionalLong.empty() : OptionalDouble.empty();
        }
        if (c == OptionalInt.class) {
            return OptionalInt.of((Integer) scalar(v, int.class));
        }
        if (c == OptionalLong.class) {
            return OptionalLong.of((Long) scalar(v, long.class));
        }
        return OptionalDouble.of((Double) scalar(v, double.class));
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Object enumValue(Object v, Class<?> c) {
        if (v == null) {
            return null;
        }
        Object[] constants = c.getEnumConstants();
        if (v instanceof String) {
            String s = (String) v;
            for (Object k : constants) {
                if (((Enum<?>) k).name().equals(s)) {
                    return k;
                }
            }
            // READ_UNKNOWN_ENUM_VALUES_AS_NULL
            return null;
        }
        if (v instanceof Json.Num && ((Json.Num) v).integral) {
            try {
                int i = Integer.parseInt(((Json.Num) v).text);
                return i >= 0 && i < constants.length ? constants[i] : null;
            } catch (NumberFormatException e) {
                return null;
            }
        }
        throw mismatch(c, v);
    }

    private static Type mapType(Type t) {
        Class<?> c = Types.raw(t);
        if (c == Map.class || !(t instanceof Class)) {
            return t;
        }
        // A Map subclass that fixes its type arguments, e.g. class Attrs extends HashMap<String, Integer>.
        Type[] args = Types.interfaceArguments(c, Map.class);
        return args == null ? t : new Types.Param(Map.class, args, null);
    }

    private static Type collectionType(Type t) {
        Class<?> c = Types.raw(t);
        if (!(t instanceof Class) || c == Collection.class || c == Iterable.class) {
            return t;
        }
        Type[] args = Types.interfaceArguments(c, Collection.class);
        return args == null ? t : new Types.Param(Collection.class, args, null);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Map<Object, Object> newMap(Class<?> c, Class<?> keyClass) {
        if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
            if (ConcurrentMap.class.isAssignableFrom(c)) {
                if (java.util.concurrent.ConcurrentNavigableMap.class.isAssignableFrom(c)) {
                    return new java.util.concurrent.ConcurrentSkipListMap<>();
                }
                return new ConcurrentHashMap<>();
            }
            if (SortedMap.class.isAssignableFrom(c)) {
                return new TreeMap<>();
            }
            return new LinkedHashMap<>();
        }
        if (c == EnumMap.class) {
            return new EnumMap(keyClass);
        }
        return (Map<Object, Object>) instantiate(c);
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static Collection<Object> newCollection(Class<?> c, Class<?> elemClass) {
        if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
            if (EnumSet.class.isAssignableFrom(c)) {
                return (Collection) EnumSet.noneOf((Class) elemClass);
            }
            if (SortedSet.class.isAssignableFrom(c)) {
                return new TreeSet<>();
            }
            if (Set.class.isAssignableFrom(c)) {
                return new LinkedHashSet<>();
            }
            if (Queue.class.isAssignableFrom(c)) {
                return new LinkedList<>();
            }
            return new ArrayList<>();
        }
        return (Collection<Object>) instantiate(c);
    }

    private static Object mapKey(String key, Class<?> kc) {
        if (kc == String.class || kc == Object.class || kc == CharSequence.class) {
            return key;
        }
        if (kc.isEnum()) {
            Object e = enumValue(key, kc);
            if (e == null) {
                throw new JsonException("Cannot deserialize Map key of type `" + kc.getName() + "` from String \""
                        + key + "\": not one of the values accepted for Enum class");
            }
            return e;
        }
        if (kc == UUID.class) {
            return UUID.fromString(key);
        }
        return scalar(key, kc);
    }

    private static Object instantiate(Class<?> c) {
        java.lang.reflect.Constructor<?> k;
        if (c.getName().startsWith("java.")) {
            // JDK collections: no need to introspect them as beans.
            try {
                k = c.getConstructor();
            } catch (NoSuchMethodException e) {
                k = null;
            }
        } else {
            k = Bean.of(c).constructor;
        }
        if (k == null) {
            throw new JsonException("Cannot construct instance of `" + c.getName()
                    + "` (no Creators, like default constructor, exist)");
        }
        try {
            return k.newInstance();
        } catch (InvocationTargetException e) {
            throw new JsonException("Cannot construct instance of `" + c.getName() + "`, problem: "
                    + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new JsonException("Cannot construct instance of `" + c.getName() + "`: " + e, e);
        }
    }

    @SuppressWarnings("unchecked")
    private static Object pojo(Map<String, Object> node, Type type, Class<?> c, int depth) {
        if (c.isInterface() || Modifier.isAbstract(c.getModifiers())) {
            throw new JsonException("Cannot construct instance of `" + c.getName()
                    + "` (no Creators, like default constructor, exist): abstract types either need to be mapped"
                    + " to concrete types, have custom deserializer, or contain additional type information");
        }
        Bean b = Bean.of(c);
        java.util.Map<TypeVariable<?>, Type> env = Types.bindings(type);
        if (b.components != null) {
            if (b.canonical == null) {
                throw new JsonException("Cannot construct instance of `" + c.getName() + "`: no canonical constructor");
            }
            Object[] args = new Object[b.components.length];
            for (int i = 0; i < args.length; i++) {
                String name = b.components[i].getName();
                Type t = Types.resolve(b.components[i].getGenericType(), env);
                args[i] = bind(node.get(name), t, depth + 1);
            }
            try {
                return b.canonical.newInstance(args);
            } catch (InvocationTargetException e) {
                throw new JsonException("Cannot construct instance of `" + c.getName() + "`, problem: "
                        + e.getCause(), e.getCause());
            } catch (ReflectiveOperationException e) {
                throw new JsonException("Cannot construct instance of `" + c.getName() + "`: " + e, e);
            }
        }
        Object target = instantiate(c);
        for (Map.Entry<String, Object> e : node.entrySet()) {
            Bean.Setter s = b.setters.get(e.getKey());
            if (s == null) {
                continue; // FAIL_ON_UNKNOWN_PROPERTIES is off
            }
            Object value;
            try {
                value = bind(e.getValue(), Types.resolve(s.type, env), depth + 1);
            } catch (JsonException je) {
                throw new JsonException(je.getMessage() + " (through reference chain: " + c.getName() + "[\""
                        + e.getKey() + "\"])", je.getCause());
            }
            try {
                s.set(target, value);
            } catch (InvocationTargetException ex) {
                throw new JsonException("Problem setting property \"" + e.getKey() + "\" of `" + c.getName() + "`: "
                        + ex.getCause(), ex.getCause());
            } catch (ReflectiveOperationException | IllegalArgumentException ex) {
                throw new JsonException("Problem setting property \"" + e.getKey() + "\" of `" + c.getName() + "`: "
                        + ex, ex);
            }
        }
        return target;
    }

    /** Values of JDK types that read from a string or number; null if c is none of them. */
    private static Object special(Object v, Class<?> c) {
        String s = v instanceof String ? (String) v : null;
        try {
            if (c == Date.class) {
                return new Date(millis(v, c));
            }
            if (c == Calendar.class) {
                Calendar cal = Calendar.getInstance(java.util.TimeZone.getTimeZone("UTC"));
                cal.setTimeInMillis(millis(v, c));
                return cal;
            }
            if (c == Instant.class) {
                if (v instanceof Json.Num) {
                    BigDecimal secs = new BigDecimal(((Json.Num) v).text);
                    long whole = secs.longValue();
                    long nanos = secs.subtract(BigDecimal.valueOf(whole)).movePointRight(9).longValue();
                    return Instant.ofEpochSecond(whole, nanos);
                }
                return s == null ? null : Instant.parse(s);
            }
            if (s == null) {
                return null;
            }
            if (c == UUID.class) {
                return UUID.fromString(s);
            }
            if (c == java.net.URI.class) {
                return java.net.URI.create(s);
            }
            if (c == java.net.URL.class) {
                return java.net.URI.create(s).toURL();
            }
            if (c == java.io.File.class) {
                return new java.io.File(s);
            }
            if (c == java.nio.file.Path.class) {
                return java.nio.file.Path.of(s);
            }
            if (c == java.util.Locale.class) {
                return java.util.Locale.forLanguageTag(s.replace('_', '-'));
            }
            if (c == java.util.Currency.class) {
                return java.util.Currency.getInstance(s);
            }
            if (c == java.util.TimeZone.class) {
                return java.util.TimeZone.getTimeZone(s);
            }
            if (c == java.nio.charset.Charset.class) {
                return java.nio.charset.Charset.forName(s);
            }
            if (c == java.util.regex.Pattern.class) {
                return java.util.regex.Pattern.compile(s);
            }
            if (c == StringBuilder.class) {
                return new StringBuilder(s);
            }
            if (c == java.time.ZoneId.class) {
                return java.time.ZoneId.of(s);
            }
            if (c.getName().startsWith("java.time.")) {
                Method parse = c.getMethod("parse", CharSequence.class);
                return parse.invoke(null, s);
            }
        } catch (InvocationTargetException e) {
            throw new JsonException("Cannot deserialize value of type `" + c.getName() + "` from String \"" + s
                    + "\": " + e.getCause().getMessage(), e.getCause());
        } catch (NoSuchMethodException e) {
            return null;
        } catch (RuntimeException | ReflectiveOperationException | java.net.MalformedURLException e) {
            if (e instanceof JsonException) {
                throw (JsonException) e;
            }
            throw new JsonException("Cannot deserialize value of type `" + c.getName() + "` from \"" + v + "\": "
                    + e.getMessage(), e);
        }
        return null;
    }

    private static long millis(Object v, Class<?> c) {
        if (v instanceof Json.Num) {
            return new BigDecimal(((Json.Num) v).text).longValue();
        }
        if (v instanceof String) {
            String s = ((String) v).trim();
            if (isIntegral(s)) {
                return Long.parseLong(s);
            }
            try {
                return Instant.parse(s).toEpochMilli();
            } catch (RuntimeException e) {
                // try the forms without a zone
            }
            try {
                return java.time.OffsetDateTime.parse(s).toInstant().toEpochMilli();
            } catch (RuntimeException e) {
                // next
            }
            try {
                return java.time.LocalDateTime.parse(s).toInstant(java.time.ZoneOffset.UTC).toEpochMilli();
            } catch (RuntimeException e) {
                // next
            }
            return java.time.LocalDate.parse(s).atStartOfDay(java.time.ZoneOffset.UTC).toInstant().toEpochMilli();
        }
        throw mismatch(c, v);
    }

    private static JsonException mismatch(Type type, Object v) {
        String what;
        if (v instanceof Map) {
            what = "Object value";
        } else if (v instanceof List) {
            what = "Array value";
        } else if (v instanceof String) {
            what = "String value";
        } else if (v instanceof Boolean) {
            what = "Boolean value";
        } else if (v instanceof Json.Num) {
            what = ((Json.Num) v).integral ? "Integer value" : "Floating-point value";
        } else {
            what = "null value";
        }
        return new JsonException("Cannot deserialize value of type `" + type.getTypeName() + "` from " + what);
    }

    // ------------------------------------------------------------------
    // Writing

    /** Appends value as JSON, by its runtime class. */
    static void write(StringBuilder sb, Object value) {
        new Writer(sb).value(value, 0);
    }

    private static final class Writer {
        private final StringBuilder sb;
        private final IdentityHashMap<Object, Boolean> path = new IdentityHashMap<>();

        Writer(StringBuilder sb) {
            this.sb = sb;
        }

        @SuppressWarnings("rawtypes")
        void value(Object v, int depth) {
            if (depth > MAX_DEPTH) {
                throw new JsonException("Infinite recursion: value nested deeper than " + MAX_DEPTH + " levels");
            }
            if (v == null) {
                sb.append("null");
                return;
            }
            if (v instanceof String) {
                Json.quote(sb, (String) v);
                return;
            }
            if (v instanceof Boolean) {
                sb.append(((Boolean) v).booleanValue());
                return;
            }
            if (v instanceof Number) {
                number((Number) v);
                return;
            }
            if (v instanceof Character || v instanceof CharSequence) {
                Json.quote(sb, v.toString());
                return;
            }
            if (v instanceof Enum) {
                Json.quote(sb, ((Enum) v).name());
                return;
            }
            if (v instanceof Json.Num) {
                sb.append(((Json.Num) v).text);
                return;
            }
            Class<?> c = v.getClass();
            if (rawJson(c)) {
                // A JSON tree from the function's own JSON library prints as JSON.
                sb.append(v.toString());
                return;
            }
            if (v instanceof Optional) {
                value(((Optional<?>) v).orElse(null), depth + 1);
                return;
            }
            if (v instanceof OptionalInt) {
                OptionalInt o = (OptionalInt) v;
                sb.append(o.isPresent() ? String.valueOf(o.getAsInt()) : "null");
                return;
            }
            if (v instanceof OptionalLong) {
                OptionalLong o = (OptionalLong) v;
                sb.append(o.isPresent() ? String.valueOf(o.getAsLong()) : "null");
                return;
            }
            if (v instanceof OptionalDouble) {
                if (((OptionalDouble) v).isPresent()) {
                    number(Double.valueOf(((OptionalDouble) v).getAsDouble()));
                } else {
                    sb.append("null");
                }
                return;
            }
            if (v instanceof Date) {
                sb.append(((Date) v).getTime());
                return;
            }
            if (v instanceof Calendar) {
                sb.append(((Calendar) v).getTimeInMillis());
                return;
            }
            if (v instanceof java.util.TimeZone) {
                Json.quote(sb, ((java.util.TimeZone) v).getID());
                return;
            }
            if (v instanceof Class) {
                Json.quote(sb, ((Class<?>) v).getName());
                return;
            }
            if (v instanceof java.nio.file.Path || v instanceof java.io.File || v instanceof UUID
                    || v instanceof java.net.URI || v instanceof java.net.URL || v instanceof java.util.Locale
                    || v instanceof java.util.Currency || v instanceof java.nio.charset.Charset
                    || v instanceof java.util.regex.Pattern || v instanceof java.time.ZoneId
                    || c.getName().startsWith("java.time.")) {
                Json.quote(sb, v.toString());
                return;
            }
            if (v instanceof byte[]) {
                Json.quote(sb, Base64.getEncoder().encodeToString((byte[]) v));
                return;
            }
            if (v instanceof char[]) {
                Json.quote(sb, new String((char[]) v));
                return;
            }
            if (path.put(v, Boolean.TRUE) != null) {
                throw new JsonException("Direct self-reference leading to cycle (through an instance of `"
                        + c.getName() + "`)");
            }
            try {
                if (c.isArray()) {
                    sb.append('[');
                    int n = Array.getLength(v);
                    for (int i = 0; i < n; i++) {
                        if (i > 0) {
                            sb.append(',');
                        }
                        value(Array.get(v, i), depth + 1);
                    }
                    sb.append(']');
                } else if (v instanceof Map) {
                    sb.append('{');
                    boolean first = true;
                    for (Object o : ((Map<?, ?>) v).entrySet()) {
                        Map.Entry<?, ?> e = (Map.Entry<?, ?>) o;
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        Object k = e.getKey();
                        Json.quote(sb, k instanceof Enum ? ((Enum<?>) k).name() : String.valueOf(k));
                        sb.append(':');
                        value(e.getValue(), depth + 1);
                    }
                    sb.append('}');
                } else if (v instanceof Iterable) {
                    sb.append('[');
                    boolean first = true;
                    for (Object o : (Iterable<?>) v) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        value(o, depth + 1);
                    }
                    sb.append(']');
                } else if (v instanceof Iterator) {
                    sb.append('[');
                    boolean first = true;
                    for (Iterator<?> it = (Iterator<?>) v; it.hasNext();) {
                        if (!first) {
                            sb.append(',');
                        }
                        first = false;
                        value(it.next(), depth + 1);
                    }
                    sb.append(']');
                } else {
                    pojo(v, c, depth);
                }
            } finally {
                path.remove(v);
            }
        }

        private void pojo(Object v, Class<?> c, int depth) {
            Bean b = Bean.of(c);
            sb.append('{');
            boolean first = true;
            for (Bean.Getter g : b.getters) {
                Object pv;
                try {
                    pv = g.get(v);
                } catch (InvocationTargetException e) {
                    throw new JsonException(String.valueOf(e.getCause()) + " (through reference chain: " + c.getName()
                            + "[\"" + g.name + "\"])", e.getCause());
                } catch (ReflectiveOperationException | RuntimeException e) {
                    throw new JsonException(e + " (through reference chain: " + c.getName() + "[\"" + g.name + "\"])",
                            e);
                }
                if (pv == null) {
                    continue; // Include.NON_NULL
                }
                if (pv == v) {
                    throw new JsonException("Direct self-reference leading to cycle (through reference chain: "
                            + c.getName() + "[\"" + g.name + "\"])");
                }
                if (!first) {
                    sb.append(',');
                }
                first = false;
                Json.quote(sb, g.name);
                sb.append(':');
                value(pv, depth + 1);
            }
            sb.append('}');
        }

        private void number(Number n) {
            if (n instanceof Double || n instanceof Float) {
                double d = n.doubleValue();
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    // WRITE_NAN_AS_STRINGS
                    Json.quote(sb, n.toString());
                    return;
                }
            }
            sb.append(n.toString());
        }
    }

    private static boolean rawJson(Class<?> c) {
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            String n = k.getName();
            if (n.equals("com.fasterxml.jackson.databind.JsonNode") || n.equals("com.google.gson.JsonElement")
                    || n.equals("org.json.JSONObject") || n.equals("org.json.JSONArray")) {
                return true;
            }
        }
        return false;
    }
}
