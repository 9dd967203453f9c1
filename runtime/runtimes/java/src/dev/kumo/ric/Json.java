package dev.kumo.ric;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads JSON into a tree of LinkedHashMap, ArrayList, String, Boolean,
 * {@link Num} and null. It is as lenient as the Jackson configuration of
 * AWS's Java runtime: single quotes, unquoted field names, NaN and
 * Infinity, leading zeros, raw control characters and any escaped
 * character are accepted, and anything after the first value is ignored.
 */
final class Json {
    private static final int MAX_DEPTH = 1000;

    /** A number as written, so that each target type converts it exactly. */
    static final class Num {
        final String text;
        final boolean integral;

        Num(String text, boolean integral) {
            this.text = text;
            this.integral = integral;
        }

        /** The value as Jackson reads a number into Object. */
        Object natural() {
            if (integral) {
                int len = text.length();
                if (len <= 18) {
                    long v = Long.parseLong(text);
                    if (v >= Integer.MIN_VALUE && v <= Integer.MAX_VALUE) {
                        return Integer.valueOf((int) v);
                    }
                    return Long.valueOf(v);
                }
                java.math.BigInteger b = new java.math.BigInteger(text);
                if (b.bitLength() < 64) {
                    return Long.valueOf(b.longValue());
                }
                return b;
            }
            return Double.valueOf(doubleValue());
        }

        double doubleValue() {
            switch (text) {
                case "NaN":
                    return Double.NaN;
                case "Infinity":
                case "+Infinity":
                    return Double.POSITIVE_INFINITY;
                case "-Infinity":
                    return Double.NEGATIVE_INFINITY;
                default:
                    return Double.parseDouble(text);
            }
        }

        @Override
        public String toString() {
            return text;
        }
    }

    private final String s;
    private int pos;

    private Json(String s) {
        this.s = s;
    }

    /** Parses text; an empty (or blank) document is null. */
    static Object parse(String text) {
        Json p = new Json(text);
        p.skipSpace();
        if (p.pos >= text.length()) {
            return null;
        }
        return p.value(0);
    }

    private Object value(int depth) {
        if (depth > MAX_DEPTH) {
            throw error("document nested deeper than " + MAX_DEPTH + " levels");
        }
        skipSpace();
        if (pos >= s.length()) {
            throw error("unexpected end-of-input: expected a value");
        }
        char c = s.charAt(pos);
        switch (c) {
            case '{':
                return object(depth);
            case '[':
                return array(depth);
            case '"':
            case '\'':
                return string(c);
            case 't':
                return literal("true", Boolean.TRUE);
            case 'f':
                return literal("false", Boolean.FALSE);
            case 'n':
                return literal("null", null);
            case 'N':
                literal("NaN", null);
                return new Num("NaN", false);
            case 'I':
                literal("Infinity", null);
                return new Num("Infinity", false);
            default:
                if (c == '-' || c == '+' || (c >= '0' && c <= '9') || c == '.') {
                    return number();
                }
                throw error("unexpected character '" + printable(c) + "': expected a JSON value");
        }
    }

    private Map<String, Object> object(int depth) {
        pos++; // {
        Map<String, Object> m = new LinkedHashMap<>();
        skipSpace();
        if (peek() == '}') {
            pos++;
            return m;
        }
        while (true) {
            skipSpace();
            String key = key();
            skipSpace();
            expect(':');
            Object v = value(depth + 1);
            m.put(key, v);
            skipSpace();
            char c = peek();
            if (c == ',') {
                pos++;
                continue;
            }
            if (c == '}') {
                pos++;
                return m;
            }
            throw error("unexpected character '" + printable(c) + "': expected ',' or '}'");
        }
    }

    private List<Object> array(int depth) {
        pos++; // [
        List<Object> l = new ArrayList<>();
        skipSpace();
        if (peek() == ']') {
            pos++;
            return l;
        }
        while (true) {
            l.add(value(depth + 1));
            skipSpace();
            char c = peek();
            if (c == ',') {
                pos++;
                continue;
            }
            if (c == ']') {
                pos++;
                return l;
            }
            throw error("unexpected character '" + printable(c) + "': expected ',' or ']'");
        }
    }

    private String key() {
        char c = peek();
        if (c == '"' || c == '\'') {
            return string(c);
        }
        int start = pos;
        while (pos < s.length() && Character.isJavaIdentifierPart(s.charAt(pos))) {
            pos++;
        }
        if (pos == start) {
            throw error("unexpected character '" + printable(c) + "': expected a field name");
        }
        return s.substring(start, pos);
    }

    private String string(char quote) {
        pos++; // opening quote
        StringBuilder sb = null;
        int start = pos;
        while (true) {
            if (pos >= s.length()) {
                throw error("unexpected end-of-input in a string");
            }
            char c = s.charAt(pos);
            if (c == quote) {
                String out = sb == null ? s.substring(start, pos) : sb.append(s, start, pos).toString();
                pos++;
                return out;
            }
            if (c == '\\') {
                if (sb == null) {
                    sb = new StringBuilder();
                }
                sb.append(s, start, pos);
                pos++;
                if (pos >= s.length()) {
                    throw error("unexpected end-of-input in a string escape");
                }
                char e = s.charAt(pos++);
                switch (e) {
                    case 'b':
                        sb.append('\b');
                        break;
                    case 'f':
                        sb.append('\f');
                        break;
                    case 'n':
                        sb.append('\n');
                        break;
                    case 'r':
                        sb.append('\r');
                        break;
                    case 't':
                        sb.append('\t');
                        break;
                    case 'u':
                        if (pos + 4 > s.length()) {
                            throw error("unexpected end-of-input in a \\u escape");
                        }
                        int cp = 0;
                        for (int i = 0; i < 4; i++) {
                            int d = Character.digit(s.charAt(pos + i), 16);
                            if (d < 0) {
                                throw error("invalid \\u escape");
                            }
                            cp = cp * 16 + d;
                        }
                        pos += 4;
                        sb.append((char) cp);
                        break;
                    default:
                        // '"', '\\', '/' and, leniently, any other character.
                        sb.append(e);
                }
                start = pos;
                continue;
            }
            pos++;
        }
    }

    private Num number() {
        int start = pos;
        char c = s.charAt(pos);
        if (c == '-' || c == '+') {
            pos++;
            if (s.startsWith("Infinity", pos)) {
                pos += 8;
                return new Num(s.substring(start, pos), false);
            }
        }
        boolean integral = true;
        int digits = 0;
        while (pos < s.length() && isDigit(s.charAt(pos))) {
            pos++;
            digits++;
        }
        if (pos < s.length() && s.charAt(pos) == '.') {
            integral = false;
            pos++;
            while (pos < s.length() && isDigit(s.charAt(pos))) {
                pos++;
                digits++;
            }
        }
        if (digits == 0) {
            throw error("malformed number");
        }
        if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
            integral = false;
            pos++;
            if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) {
                pos++;
            }
            int exp = 0;
            while (pos < s.length() && isDigit(s.charAt(pos))) {
                pos++;
                exp++;
            }
            if (exp == 0) {
                throw error("malformed number exponent");
            }
        }
        String text = s.substring(start, pos);
        if (text.charAt(0) == '+') {
            text = text.substring(1);
        }
        if (integral) {
            text = stripLeadingZeros(text);
        }
        return new Num(text, integral);
    }

    private static String stripLeadingZeros(String t) {
        int sign = t.startsWith("-") ? 1 : 0;
        int i = sign;
        while (i < t.length() - 1 && t.charAt(i) == '0') {
            i++;
        }
        if (i == sign) {
            return t;
        }
        return (sign == 1 ? "-" : "") + t.substring(i);
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private Object literal(String word, Object v) {
        if (!s.startsWith(word, pos)) {
            throw error("unrecognized token: expected '" + word + "'");
        }
        pos += word.length();
        return v;
    }

    private void expect(char c) {
        if (peek() != c) {
            throw error("unexpected character '" + printable(peek()) + "': expected '" + c + "'");
        }
        pos++;
    }

    private char peek() {
        if (pos >= s.length()) {
            throw error("unexpected end-of-input");
        }
        return s.charAt(pos);
    }

    private void skipSpace() {
        while (pos < s.length()) {
            char c = s.charAt(pos);
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                pos++;
            } else {
                return;
            }
        }
    }

    private static String printable(char c) {
        if (c < 0x20) {
            return "\\u" + hex4(c);
        }
        return String.valueOf(c);
    }

    private JsonException error(String msg) {
        int line = 1;
        int col = 1;
        for (int i = 0; i < pos && i < s.length(); i++) {
            if (s.charAt(i) == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        return new JsonException(msg + " at line " + line + ", column " + col);
    }

    /** Appends s as a JSON string literal. */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        int start = 0;
        int n = s.length();
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            String rep;
            if (c == '"') {
                rep = "\\\"";
            } else if (c == '\\') {
                rep = "\\\\";
            } else if (c >= 0x20) {
                continue;
            } else if (c == '\n') {
                rep = "\\n";
            } else if (c == '\r') {
                rep = "\\r";
            } else if (c == '\t') {
                rep = "\\t";
            } else if (c == '\b') {
                rep = "\\b";
            } else if (c == '\f') {
                rep = "\\f";
            } else {
                rep = "\\u" + hex4(c);
            }
            sb.append(s, start, i).append(rep);
            start = i + 1;
        }
        sb.append(s, start, n).append('"');
    }

    private static String hex4(char c) {
        String h = Integer.toHexString(c);
        return "0000".substring(h.length()) + h.toUpperCase(java.util.Locale.ROOT);
    }
}
