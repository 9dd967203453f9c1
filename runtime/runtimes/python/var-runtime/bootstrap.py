"""kumo's runtime interface client for Python.

It runs a function's handler against the Lambda Runtime API the way AWS's
awslambdaric does: the same sys.path, the same context object, the same
error documents and init error types, the same log line formats. It uses
the standard library only and is started by the image's ENTRYPOINT as
/usr/bin/python3.11 /var/runtime/bootstrap.py.
"""

import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback

_API_PREFIX = "/2018-06-01/runtime"
# The file name in this module's frames, which stack traces leave out.
_THIS_FILE = sys._getframe().f_code.co_filename
_USER_AGENT = "kumo-python-ric/%d.%d.%d" % sys.version_info[:3]

# Error types the platform documents (awslambdaric's FaultException).
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# CloudWatch trims leading spaces from log lines, so AWS indents stack
# traces in logs with no-break spaces; kumo's logs read the same.
_LOG_INDENT = "\u00a0"


class Fault(Exception):
    """An error the runtime reports with a platform error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


# --- Runtime API client -----------------------------------------------------
#
# A small HTTP/1.1 client instead of http.client: importing http.client
# pulls in ssl and email (about 20 ms), which would land on every cold
# start. The peer is always kumo's Runtime API on loopback.


class RuntimeAPIError(Exception):
    pass


class RuntimeClient:
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise RuntimeAPIError("bad AWS_LAMBDA_RUNTIME_API %r" % address)
        self.host_header = address
        self.addr = (host.strip("[]"), int(port))
        self.sock = None
        self.reader = None

    def close(self):
        if self.sock is not None:
            try:
                self.reader.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = self.reader = None

    def _connect(self):
        self.sock = socket.create_connection(self.addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.sock.makefile("rb")

    def request(self, method, path, body=b"", headers=None):
        """Sends one request; returns (status, headers, body).

        A kept-alive connection the server closed while idle fails before
        the server read the request, so that one case is retried once on a
        fresh connection.
        """
        reused = self.sock is not None
        if not reused:
            self._connect()
        try:
            return self._roundtrip(method, path, body, headers)
        except (ConnectionError, _StaleConnection):
            self.close()
            if not reused:
                raise
        self._connect()
        return self._roundtrip(method, path, body, headers)

    def _roundtrip(self, method, path, body, headers):
        head = [
            "%s %s HTTP/1.1" % (method, path),
            "Host: " + self.host_header,
            "User-Agent: " + _USER_AGENT,
            "Content-Length: %d" % len(body),
        ]
        for k, v in (headers or {}).items():
            head.append("%s: %s" % (k, v))
        data = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8") + body
        self.sock.sendall(data)
        line = self.reader.readline(65537)
        if not line:
            raise _StaleConnection()
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise RuntimeAPIError("bad status line %r" % line)
        status = int(parts[1])
        resp_headers = {}
        while True:
            line = self.reader.readline(1 << 21)
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise RuntimeAPIError("connection closed in headers")
            name, _, value = line.decode("utf-8", "replace").partition(":")
            resp_headers[name.strip().lower()] = value.strip()
        if resp_headers.get("transfer-encoding", "").lower() == "chunked":
            resp_body = self._read_chunked()
        elif "content-length" in resp_headers:
            resp_body = self._read_exact(int(resp_headers["content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            resp_body = b""
        else:
            resp_body = self.reader.read()
            resp_headers["connection"] = "close"
        if resp_headers.get("connection", "").lower() == "close":
            self.close()
        return status, resp_headers, resp_body

    def _read_exact(self, n):
        b = self.reader.read(n)
        if len(b) != n:
            raise RuntimeAPIError("connection closed in body")
        return b

    def _read_chunked(self):
        chunks = []
        while True:
            line = self.reader.readline(1024)
            if not line:
                raise RuntimeAPIError("connection closed in chunked body")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # Trailers, up to the blank line.
                while self.reader.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self._read_exact(size))
            self._read_exact(2)

    def next_invocation(self):
        status, headers, body = self.request("GET", _API_PREFIX + "/invocation/next")
        if status != 200:
            raise RuntimeAPIError("GET /invocation/next: %d %s" % (status, body[:512]))
        return headers, body

    def post_response(self, request_id, body, content_type):
        self._post("/invocation/%s/response" % request_id, body, {"Content-Type": content_type})

    def post_error(self, request_id, error):
        self._post("/invocation/%s/error" % request_id, *_error_request(error))

    def post_init_error(self, error):
        self._post("/init/error", *_error_request(error))

    def _post(self, path, body, headers):
        status, _, resp = self.request("POST", _API_PREFIX + path, body, headers)
        if status != 202:
            raise RuntimeAPIError("POST %s: %d %s" % (path, status, resp[:512]))


class _StaleConnection(Exception):
    pass


def _error_request(error):
    # AWS's Python client sends no error-type header and the platform reads
    # errorType from the body; kumo's Runtime API prefers the header, so it
    # carries the same value (as AWS's Node.js client does).
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": error["errorType"] or "Unhandled",
    }
    return to_json(error).encode("utf-8"), headers


# --- JSON -------------------------------------------------------------------


class _Encoder(json.JSONEncoder):
    def default(self, o):
        # awslambdaric encodes Decimal (boto3's DynamoDB numbers) as numbers.
        if type(o).__name__ == "Decimal" and type(o).__module__ == "decimal":
            if o.is_nan():
                return float("nan")
            if o == o.to_integral_value():
                return int(o)
            return float(o)
        return super().default(o)


_encoder = _Encoder()


def to_json(obj):
    return _encoder.encode(obj)


def marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise Fault(MARSHAL_ERROR, "Unable to marshal response: %s" % e)


def unmarshal_event(body, content_type):
    if content_type and content_type != "application/json":
        return body
    try:
        return json.loads(body)
    except Exception as e:
        raise Fault(UNMARSHAL_ERROR, "Unable to unmarshal input: %s" % e)


# --- Context ----------------------------------------------------------------


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id=%s,cognito_identity_pool_id=%s])" % (
            self.cognito_identity_id,
            self.cognito_identity_pool_id,
        )


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return "Client([%s])" % ",".join("%s=%s" % (f, getattr(self, f)) for f in self.__slots__)


class ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom=%s,env=%s,client=%s])" % (self.custom, self.env, self.client)


def _from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for f in cls.__slots__:
        setattr(obj, f, d.get(f))
    return obj


class LambdaContext:
    def __init__(self, request_id, client_context, cognito_identity, deadline_ms, invoked_function_arn, tenant_id=None):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as in AWS's client (it is read from the environment).
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = _from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        left = self._deadline_ms - int(time.time() * 1000)
        return left if left > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
            "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,"
            "identity=%s,tenant_id=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


def _json_header(value, name):
    if not value:
        return None
    try:
        return json.loads(value)
    except Exception as e:
        raise Fault(CONTEXT_UNMARSHAL_ERROR, "Unable to parse %s JSON: %s" % (name, e))


# --- Handler loading --------------------------------------------------------


def load_handler(handler):
    """Imports module.function (module may be pkg/mod or pkg.mod)."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault(MALFORMED_HANDLER_NAME, "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(BUILT_IN_MODULE_CONFLICT, "Cannot use built-in module %s as a handler module" % modname)
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault(IMPORT_MODULE_ERROR, "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault(USER_CODE_SYNTAX_ERROR, "Syntax error in module '%s': %s" % (modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault(HANDLER_NOT_FOUND, "Handler '%s' missing on module '%s'" % (fname, modname))


# --- Errors and logs --------------------------------------------------------


def make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id or "",
        "stackTrace": stack_trace or [],
    }


def _user_frames(tb):
    """The traceback without this file's frames (those above user code).

    Tuples, not FrameSummary objects: format_list then prints no 3.11
    column carets, as in AWS's stack traces.
    """
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, f in enumerate(frames):
        if f[0] != _THIS_FILE:
            return frames[i:]
    return frames


def exception_error(exc, request_id=None):
    if isinstance(exc, Fault):
        return make_error(exc.message, exc.error_type, exc.trace, request_id)
    return make_error(str(exc), type(exc).__name__, traceback.format_list(_user_frames(exc.__traceback__)), request_id)


def log_error(error):
    desc = "[ERROR]"
    if error["errorType"]:
        desc += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            desc += ":"
        desc += " " + error["errorMessage"]
    lines = [desc, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        if element == "":
            lines.append("")
            continue
        for line in element.splitlines():
            stripped = line.lstrip(" ")
            lines.append(_LOG_INDENT * (len(line) - len(stripped)) + stripped)
    sys.stdout.write("\n".join(lines) + "\n")


class _Unbuffered:
    """Flushes every write, so output reaches the log while it happens."""

    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        n = self.stream.write(msg)
        self.stream.flush()
        return n

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


_request_id = None


class _RequestIDFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id or ""
        return True


class _StdoutHandler(logging.Handler):
    def emit(self, record):
        try:
            sys.stdout.write(self.format(record))
        except Exception:
            self.handleError(record)


def setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = _StdoutHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIDFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    if level in ("TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"):
        root.setLevel({"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(level, level))
    root.addHandler(handler)


def flush_output():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# --- Main loop --------------------------------------------------------------


def set_sys_path():
    """Orders sys.path as Lambda does: task root, the layers' /opt/python
    directories, then the runtime, then the interpreter's own paths."""
    runtime_dir = os.path.dirname(os.path.abspath(__file__))
    opt = os.environ.get("_KUMO_OPT_DIR", "/opt")
    first = [
        os.environ.get("LAMBDA_TASK_ROOT", "/var/task"),
        os.path.join(opt, "python/lib/python%d.%d/site-packages" % sys.version_info[:2]),
        os.path.join(opt, "python"),
        runtime_dir,
    ]
    rest = sys.path[:]
    # sys.path[0] is this script's directory (symlinks resolved); it moves
    # behind the layers.
    if rest and not sys.flags.safe_path and os.path.realpath(rest[0]) == os.path.realpath(runtime_dir):
        rest = rest[1:]
    sys.path[:] = first + [p for p in rest if p not in first]


def handle_invocation(client, handler, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        try:
            deadline_ms = int(headers.get("lambda-runtime-deadline-ms", "0"))
        except ValueError:
            deadline_ms = 0
        context = LambdaContext(
            request_id,
            _json_header(headers.get("lambda-runtime-client-context"), "Client Context"),
            _json_header(headers.get("lambda-runtime-cognito-identity"), "Cognito Identity"),
            deadline_ms,
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        event = unmarshal_event(body, headers.get("content-type"))
        result, content_type = marshal_response(handler(event, context))
    except Exception as e:
        error = exception_error(e, request_id)
        log_error(error)
        flush_output()
        client.post_error(request_id, error)
        return
    flush_output()
    client.post_response(request_id, result, content_type)


def main():
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    set_sys_path()
    setup_logging()
    client = RuntimeClient(os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"))
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:
        # Non-import failures in module code (a top-level raise) report the
        # exception's own type, as in Lambda.
        error = exception_error(e)
        log_error(error)
        flush_output()
        client.post_init_error(error)
        sys.exit(1)
    while True:
        headers, body = client.next_invocation()
        handle_invocation(client, handler, headers, body)


if __name__ == "__main__":
    main()
