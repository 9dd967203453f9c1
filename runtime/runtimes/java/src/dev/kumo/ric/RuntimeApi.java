package dev.kumo.ric;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A client of the Lambda Runtime API over one kept-alive HTTP/1.1
 * connection. It is written on a plain socket instead of
 * java.net.http.HttpClient, which starts threads and loads hundreds of
 * classes, and HttpURLConnection, which may silently resend a POST: a cold
 * start pays for every class loaded here.
 */
final class RuntimeApi {
    private static final String BASE = "/2018-06-01/runtime";
    private static final String USER_AGENT = "kumo-java-ric/1 (java " + System.getProperty("java.version") + ")";

    private final String host;
    private final int port;
    private final String hostHeader;
    private Socket socket;
    private InputStream in;
    private OutputStream out;

    RuntimeApi(String address) {
        int colon = address.lastIndexOf(':');
        if (colon < 0) {
            this.host = address;
            this.port = 80;
        } else {
            String h = address.substring(0, colon);
            if (h.startsWith("[") && h.endsWith("]")) {
                h = h.substring(1, h.length() - 1);
            }
            this.host = h;
            this.port = Integer.parseInt(address.substring(colon + 1));
        }
        this.hostHeader = address;
    }

    /** Blocks until the next event arrives. */
    Invocation next() throws IOException {
        Response r = exchange("GET", BASE + "/invocation/next", null, null);
        if (r.status != 200) {
            throw new IOException("GET /runtime/invocation/next: HTTP " + r.status + ": " + r.text());
        }
        String id = r.header("lambda-runtime-aws-request-id");
        if (id == null || id.isEmpty()) {
            throw new IOException("GET /runtime/invocation/next: no Lambda-Runtime-Aws-Request-Id header");
        }
        long deadline = 0;
        String d = r.header("lambda-runtime-deadline-ms");
        if (d != null) {
            try {
                deadline = Long.parseLong(d.trim());
            } catch (NumberFormatException e) {
                deadline = 0;
            }
        }
        return new Invocation(id, deadline, r.header("lambda-runtime-invoked-function-arn"),
                r.header("lambda-runtime-trace-id"), r.header("lambda-runtime-client-context"),
                r.header("lambda-runtime-cognito-identity"), r.body);
    }

    /** Posts a handler's result; returns the HTTP status. */
    int respond(String requestId, byte[] body) throws IOException {
        return exchange("POST", BASE + "/invocation/" + requestId + "/response", body, null).status;
    }

    /** Posts an invocation error; returns the HTTP status. */
    int fail(String requestId, byte[] body, String errorType) throws IOException {
        return exchange("POST", BASE + "/invocation/" + requestId + "/error", body, errorType).status;
    }

    /** Posts an initialisation error; returns the HTTP status. */
    int initError(byte[] body, String errorType) throws IOException {
        return exchange("POST", BASE + "/init/error", body, errorType).status;
    }

    private Response exchange(String method, String path, byte[] body, String errorType) throws IOException {
        boolean reused = socket != null;
        try {
            return once(method, path, body, errorType);
        } catch (IOException e) {
            close();
            if (!reused) {
                throw e;
            }
            // The kept-alive connection went away between requests; a new
            // one is the normal recovery, and the request never arrived.
            return once(method, path, body, errorType);
        }
    }

    private Response once(String method, String path, byte[] body, String errorType) throws IOException {
        if (socket == null) {
            Socket s = new Socket();
            s.setTcpNoDelay(true);
            s.setKeepAlive(true);
            s.connect(new InetSocketAddress(host, port));
            socket = s;
            in = new BufferedInputStream(s.getInputStream(), 64 * 1024);
            out = new BufferedOutputStream(s.getOutputStream(), 64 * 1024);
        }
        StringBuilder req = new StringBuilder(256);
        req.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
        req.append("Host: ").append(hostHeader).append("\r\n");
        req.append("User-Agent: ").append(USER_AGENT).append("\r\n");
        if (body != null) {
            req.append("Content-Type: application/json\r\n");
            req.append("Content-Length: ").append(body.length).append("\r\n");
        }
        if (errorType != null) {
            req.append("Lambda-Runtime-Function-Error-Type: ").append(errorType).append("\r\n");
        }
        req.append("\r\n");
        out.write(req.toString().getBytes(StandardCharsets.UTF_8));
        if (body != null) {
            out.write(body);
        }
        out.flush();
        Response r = read();
        if (r.close) {
            close();
        }
        return r;
    }

    private Response read() throws IOException {
        String status = line();
        // "HTTP/1.1 200 OK"
        int sp = status.indexOf(' ');
        if (!status.startsWith("HTTP/") || sp < 0 || status.length() < sp + 4) {
            throw new IOException("malformed HTTP status line: " + status);
        }
        int code;
        try {
            code = Integer.parseInt(status.substring(sp + 1, sp + 4));
        } catch (NumberFormatException e) {
            throw new IOException("malformed HTTP status line: " + status);
        }
        Map<String, String> headers = new HashMap<>();
        for (String h = line(); !h.isEmpty(); h = line()) {
            int c = h.indexOf(':');
            if (c > 0) {
                headers.put(h.substring(0, c).trim().toLowerCase(Locale.ROOT), h.substring(c + 1).trim());
            }
        }
        boolean close = status.startsWith("HTTP/1.0") || "close".equalsIgnoreCase(headers.get("connection"));
        byte[] body;
        String te = headers.get("transfer-encoding");
        String cl = headers.get("content-length");
        if (te != null && te.toLowerCase(Locale.ROOT).contains("chunked")) {
            body = chunked();
        } else if (cl != null) {
            int n;
            try {
                n = Integer.parseInt(cl.trim());
            } catch (NumberFormatException e) {
                throw new IOException("malformed Content-Length: " + cl);
            }
            body = exactly(n);
        } else if (code == 204 || code == 304 || (code >= 100 && code < 200)) {
            body = new byte[0];
        } else {
            body = in.readAllBytes();
            close = true;
        }
        return new Response(code, headers, body, close);
    }

    private byte[] chunked() throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        while (true) {
            String size = line();
            int semi = size.indexOf(';');
            if (semi >= 0) {
                size = size.substring(0, semi);
            }
            int n;
            try {
                n = Integer.parseInt(size.trim(), 16);
            } catch (NumberFormatException e) {
                throw new IOException("malformed chunk size: " + size);
            }
            if (n == 0) {
                // Trailers, then the empty line.
                while (!line().isEmpty()) {
                    // skip
                }
                return buf.toByteArray();
            }
            buf.write(exactly(n));
            line();
        }
    }

    private byte[] exactly(int n) throws IOException {
        byte[] b = in.readNBytes(n);
        if (b.length != n) {
            throw new EOFException("connection closed after " + b.length + " of " + n + " body bytes");
        }
        return b;
    }

    /** Reads one CRLF-terminated line (UTF-8; header values may carry JSON). */
    private String line() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream(128);
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("connection closed by the Runtime API");
            }
            if (c == '\n') {
                byte[] raw = b.toByteArray();
                int len = raw.length;
                if (len > 0 && raw[len - 1] == '\r') {
                    len--;
                }
                return new String(raw, 0, len, StandardCharsets.UTF_8);
            }
            if (b.size() > 4 << 20) {
                throw new IOException("HTTP header line too long");
            }
            b.write(c);
        }
    }

    private void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // already gone
            }
        }
        socket = null;
        in = null;
        out = null;
    }

    static final class Response {
        final int status;
        final Map<String, String> headers;
        final byte[] body;
        final boolean close;

        Response(int status, Map<String, String> headers, byte[] body, boolean close) {
            this.status = status;
            this.headers = headers;
            this.body = body;
            this.close = close;
        }

        String header(String lowerName) {
            String v = headers.get(lowerName);
            return v == null || v.isEmpty() ? null : v;
        }

        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }
}
