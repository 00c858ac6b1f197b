"""Lantern Python runtime: runs Fission Python functions unchanged.

A generic instance listens on 127.0.0.1:$PORT (default 8888). POST
/v2/specialize (JSON LoadRequest) or POST /specialize (code at
$USERFUNC_DIR/user) loads the function once; afterwards every method and
path except GET /healthz calls it. The function takes no arguments, reads
flask.request and returns anything Flask accepts.

Run it with Debian's interpreter: /usr/bin/python3 server.py. It serves
with gevent's pywsgi (TCP_NODELAY on) and falls back to werkzeug's threaded
server when gevent is missing or WSGI_FRAMEWORK=werkzeug.

Environment: PORT, USERFUNC_DIR (default /userfunc), LANTERN_HOST (default
127.0.0.1), WSGI_FRAMEWORK (gevent or werkzeug).

Log markers (logs/README.md): a call with an X-Lantern-Request-Id header is
framed on stderr by "\x1elantern:req-start <id> <trace-id>" before the
function runs and "\x1elantern:req-end <id>" once its response is finished
(last chunk sent or client gone), each one whole line written and flushed
at once; stdout is flushed before each so that what the function printed
goes out first. stdout is line buffered, like stderr. A function that
leaves an unterminated line on stderr gets the marker glued to it.

Entrypoints: module.func; '' is main.main; a single token f is main.f. A
folder (an extracted zip) goes first on sys.path and the module is imported;
a single file is loaded as the module whatever the entrypoint calls it, and
only the function part of the entrypoint is used.
"""

import os

WSGI_FRAMEWORK = os.environ.get("WSGI_FRAMEWORK", "gevent").strip().lower()
if WSGI_FRAMEWORK != "werkzeug":
    # Patch before anything imports socket, threading or time.
    try:
        from gevent import monkey

        monkey.patch_all()
        WSGI_FRAMEWORK = "gevent"
    except ImportError:
        WSGI_FRAMEWORK = "werkzeug"

import contextvars  # noqa: E402
import importlib  # noqa: E402
import importlib.machinery  # noqa: E402
import importlib.util  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402

import flask  # noqa: E402
from werkzeug.exceptions import HTTPException  # noqa: E402

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SPECIALIZE_PATHS = ("/specialize", "/v2/specialize")
SERVER_FILE = os.path.abspath(__file__)

# Request markers (logs.ReqStartMarker and logs.ReqEndMarker).
MARKER_PREFIX = "\x1elantern:"
# Request IDs that fit in a marker: one token of visible ASCII.
REQUEST_ID_RE = re.compile(r"[!-~]{1,128}\Z")
# W3C traceparent: version-traceid-parentid-flags, more fields after a
# future version.
TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?\Z", re.S)
ZERO_TRACE_ID = "0" * 32
# environ key of the end marker line of a call whose start was printed.
END_MARKER_KEY = "lantern.end_marker"


class LoadError(Exception):
    """The user's code could not be loaded; str() is shown to the user."""


def text(body, status):
    return flask.Response(body, status=status, mimetype="text/plain")


def user_traceback(exc):
    """Format exc without the frames of this file and of importlib."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name != SERVER_FILE and not name.startswith("<frozen "):
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def trace_id(traceparent):
    """The trace ID of a valid traceparent header, else ''."""
    m = TRACEPARENT_RE.match(traceparent.strip()) if traceparent else None
    if m is None:
        return ""
    version, tid, more = m.groups()
    if version == "ff" or (version == "00" and more) or tid == ZERO_TRACE_ID:
        return ""
    return tid


class CallFrame:
    """One call's request ID and traceparent, and the streams that got its
    start marker. The marker lines are only made when the call prints."""

    __slots__ = ("rid", "traceparent", "opened")

    def __init__(self, rid, traceparent):
        self.rid = rid
        self.traceparent = traceparent
        self.opened = []

    @property
    def start(self):
        return f"{MARKER_PREFIX}req-start {self.rid} {trace_id(self.traceparent)}\n"

    @property
    def end(self):
        return f"{MARKER_PREFIX}req-end {self.rid}\n"


# The call the current greenlet (or thread) serves.
CURRENT_CALL = contextvars.ContextVar("lantern_call", default=None)


class FramedStream:
    """sys.stdout or sys.stderr, framing a call's output with marker lines:
    the first write of a call on this stream is preceded by the call's
    start marker, and the stream gets the end marker when the call ends.
    Each pipe is read apart, so each carries its own framing; a call that
    prints nothing costs nothing."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, s):
        frame = CURRENT_CALL.get()
        if frame is not None and self not in frame.opened:
            frame.opened.append(self)
            self._stream.write(frame.start)
        return self._stream.write(s)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def start_call(environ):
    """Open the frame of a call; return it, or None when the request has no
    usable X-Lantern-Request-Id."""
    rid = environ.get("HTTP_X_LANTERN_REQUEST_ID")
    if not rid or REQUEST_ID_RE.match(rid) is None:
        return None
    frame = CallFrame(rid, environ.get("HTTP_TRACEPARENT"))
    CURRENT_CALL.set(frame)
    return frame


def end_call(frame):
    """Close a call's frame on the streams it opened."""
    CURRENT_CALL.set(None)
    for stream in frame.opened:
        try:
            stream._stream.write(frame.end)
            stream._stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe must not fail the call
            pass


class EndMarker:
    """A WSGI response that prints the end marker when the server closes it:
    after the last chunk was sent, or once the client went away."""

    __slots__ = ("result", "frame")

    def __init__(self, result, frame):
        self.result = result
        self.frame = frame

    def __iter__(self):
        return iter(self.result)

    def close(self):
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            end_call(self.frame)


class SizedEndMarker(EndMarker):
    """An EndMarker for a sized result: pywsgi computes Content-Length from
    it."""

    __slots__ = ()

    def __len__(self):
        return len(self.result)


def parse_entrypoint(entrypoint):
    """Split module.func; '' is main.main and a single token f is main.f."""
    entrypoint = (entrypoint or "").strip()
    if not entrypoint:
        return "main", "main"
    module, _, func = entrypoint.rpartition(".")
    if not func:
        raise LoadError(f"bad entrypoint {entrypoint!r}: want module.func")
    return module or "main", func


def list_files(directory, limit=20):
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return ""
    more = ", ..." if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def evict_shadowed(directory, top):
    """Forget an already imported module the user's folder redefines."""
    mod = sys.modules.get(top)
    if mod is None:
        return
    provides = os.path.isfile(os.path.join(directory, top + ".py")) or os.path.isdir(
        os.path.join(directory, top)
    )
    where = getattr(mod, "__file__", None) or ""
    if not provides or os.path.abspath(where).startswith(directory + os.sep):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


def import_from_dir(directory, module_name):
    directory = os.path.abspath(directory)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    importlib.invalidate_caches()
    evict_shadowed(directory, module_name.split(".")[0])
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise LoadError(
                f"module {module_name!r} not found in {directory} "
                f"(files: {list_files(directory)})"
            ) from None
        raise


def import_file(path):
    """Load a single source file, whatever its name or extension."""
    path = os.path.abspath(path)
    name = re.sub(r"\W", "_", os.path.basename(path).split(".")[0]) or "user"
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    registered = name not in sys.modules
    if registered:
        sys.modules[name] = module
    try:
        loader.exec_module(module)
    except BaseException:
        if registered:
            del sys.modules[name]
        raise
    return module


def load_function(filepath, entrypoint):
    """Import the code at filepath and return the entrypoint's function."""
    module_name, func_name = parse_entrypoint(entrypoint)
    if os.path.isdir(filepath):
        module = import_from_dir(filepath, module_name)
    elif os.path.isfile(filepath):
        # A single file is the module whatever the entrypoint calls it.
        module = import_file(filepath)
    else:
        raise LoadError(f"load {filepath}: no such file or directory")
    func = getattr(module, func_name, None)
    where = getattr(module, "__file__", None) or filepath
    if func is None:
        raise LoadError(f"function {func_name!r} not found in module {module.__name__!r} ({where})")
    if not callable(func):
        raise LoadError(f"{module.__name__}.{func_name} is not a function ({where})")
    return func


class Runtime:
    """Holds the one function an instance is specialized with."""

    def __init__(self, userfunc_dir):
        self.userfunc_dir = userfunc_dir
        self.func = None
        self.lock = threading.Lock()

    def specialize(self, filepath, entrypoint):
        with self.lock:
            if self.func is not None:
                return text("Not a generic container\n", 400)
            if not filepath:
                return text("bad specialize request: filepath is required\n", 400)
            if not os.path.isabs(filepath):
                filepath = os.path.join(self.userfunc_dir, filepath)
            path_before = list(sys.path)
            try:
                self.func = load_function(filepath, entrypoint)
            except LoadError as exc:
                sys.path[:] = path_before
                print(exc, file=sys.stderr, flush=True)
                return text(f"{exc}\n", 500)
            except (Exception, SystemExit) as exc:  # the user's import failed
                sys.path[:] = path_before
                tb = user_traceback(exc)
                sys.stderr.write(tb)
                sys.stderr.flush()
                msg = f"load {filepath} (entrypoint {entrypoint or 'main.main'!r}): "
                return text(f"{msg}{type(exc).__name__}: {exc}\n\n{tb}", 500)
        return text("", 200)

    def specialize_v2(self):
        req = flask.request.get_json(force=True, silent=True)
        if not isinstance(req, dict):
            if self.func is not None:
                return text("Not a generic container\n", 400)
            return text("bad specialize request: want a JSON object\n", 400)
        return self.specialize(req.get("filepath") or "", req.get("functionName") or "")

    def call(self):
        func = self.func
        if func is None:
            return text("generic container: no function loaded\n", 500)
        environ = flask.request.environ
        frame = start_call(environ)
        if frame is not None:
            environ[END_MARKER_KEY] = frame  # RuntimeApp.wsgi_app closes it
        try:
            rv = func()
        except HTTPException:
            raise
        except (Exception, SystemExit) as exc:
            tb = user_traceback(exc)
            sys.stderr.write(tb)
            sys.stderr.flush()
            return text(f"function raised {type(exc).__name__}: {exc}\n\n{tb}", 500)
        try:
            return flask.current_app.make_response(rv)
        except TypeError as exc:
            print(f"function returned an invalid response: {exc}", file=sys.stderr, flush=True)
            return text(f"function returned an invalid response: {exc}\n", 500)

    def dispatch(self):
        req = flask.request
        if req.path == "/healthz" and req.method in ("GET", "HEAD"):
            return text("", 200)
        if req.method == "POST" and req.path in SPECIALIZE_PATHS:
            if req.path == "/specialize":
                return self.specialize(os.path.join(self.userfunc_dir, "user"), "")
            return self.specialize_v2()
        return self.call()


class RuntimeApp(flask.Flask):
    """A Flask app whose every request goes to Runtime.dispatch.

    Routing still runs, so request.url_rule and view_args look as usual,
    but its redirects, 404s and 405s are ignored: every method and path
    reaches the function.
    """

    runtime = None

    def dispatch_request(self):
        return self.runtime.dispatch()

    def wsgi_app(self, environ, start_response):
        try:
            result = super().wsgi_app(environ, start_response)
        except BaseException:
            frame = environ.get(END_MARKER_KEY)
            if frame is not None:
                end_call(frame)
            raise
        frame = environ.get(END_MARKER_KEY)
        if frame is None:
            return result
        return (SizedEndMarker if hasattr(result, "__len__") else EndMarker)(result, frame)


def new_app(runtime):
    app = RuntimeApp(__name__, static_folder=None)
    app.runtime = runtime
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
    view = lambda **_: None  # noqa: E731 (never called: see dispatch_request)
    app.add_url_rule("/", "function", view, methods=ALL_METHODS)
    app.add_url_rule("/<path:path>", "function", view, methods=ALL_METHODS)
    return app


def listen(host, port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it; without it pywsgi's two writes per
    # response meet the delayed ACK and keep-alive requests wait 40 ms.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


# Limits of a request's header block, as http.client applies them.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100


# Header names as sent -> (lowercase name, environ key or None when the
# header stays out of the environ). The same few names come with every
# call; bounded against a client inventing new ones.
HEADER_NAMES = {}
HEADER_NAMES_MAX = 512
# Headers pywsgi leaves out of the HTTP_* keys: Content-Type and
# Content-Length have their own, and a name with "_" could pass for one
# spelled with "-".
UNLISTED = ("CONTENT_TYPE", "CONTENT_LENGTH")


def header_name(name):
    info = HEADER_NAMES.get(name)
    if info is None:
        key = None if "_" in name else name.replace("-", "_").upper()
        info = (name.lower(), None if key is None or key in UNLISTED else "HTTP_" + key)
        if len(HEADER_NAMES) < HEADER_NAMES_MAX:
            HEADER_NAMES[name] = info
    return info


class RequestHeaders:
    """A request's headers with the interface gevent's WSGIHandler reads
    (get, getheader, typeheader, status, del) and their environ items,
    which Handler._headers hands pywsgi. pywsgi's default goes through the
    email package, which cost about 3 µs per header on every call: a fifth
    of a hello world's time with the headers the router adds. A block
    already read in full is taken in one piece rather than line by line,
    and names are looked up in HEADER_NAMES rather than lowered and turned
    into environ keys again on every call."""

    __slots__ = ("items", "_first", "status")

    def __init__(self, fp, *_):
        self.items = []  # [lowercase name, environ key or None, raw value] of each header, in order
        self._first = {}  # lowercase name -> first value, as email.message.get
        self.status = ""
        lines = self._block(fp)
        if lines is None:
            lines = self._lines(fp)
        if lines is None:
            return
        if len(lines) > MAX_HEADERS:
            self.status = f"more than {MAX_HEADERS} headers"
            return
        items, first = self.items, self._first
        for text in lines:
            if text[:1] in " \t":
                if not items:
                    self.status = "continuation line before any header"
                    return
                items[-1][2] += "\r\n" + text
                continue
            name, sep, value = text.partition(":")
            info = HEADER_NAMES.get(name) if sep else None
            if info is None:
                if not sep or not name or name != name.strip():
                    self.status = f"malformed header line {text!r}"
                    return
                info = header_name(name)
            items.append([info[0], info[1], value])
            if info[0] not in first:
                first[info[0]] = value.strip()

    @staticmethod
    def _block(fp):
        """The header lines, when the whole block, CRLF-terminated lines
        only, is in fp's buffer already; else None, nothing consumed."""
        peek = getattr(fp, "peek", None)
        if peek is None:
            return None
        buf = peek(MAX_HEADER_LINE)
        if buf[:1] in (b"\r", b"\n", b""):
            return None  # no headers, or nothing read yet
        end = buf.find(b"\r\n\r\n")
        if end < 0 or buf.count(b"\n", 0, end) != buf.count(b"\r\n", 0, end):
            return None
        fp.read(end + 4)
        return buf[:end].decode("latin-1").split("\r\n")

    def _lines(self, fp):
        """The header lines read one at a time, or None with status set."""
        lines = []
        while True:
            line = fp.readline(MAX_HEADER_LINE + 1)
            if len(line) > MAX_HEADER_LINE:
                self.status = "Line too long"
                return None
            if line in (b"\r\n", b"\n", b""):
                return lines
            if len(lines) >= MAX_HEADERS:
                self.status = f"more than {MAX_HEADERS} headers"
                return None
            lines.append(line.decode("latin-1").rstrip("\r\n"))

    def get(self, name, default=None):
        return self._first.get(name.lower(), default)

    getheader = get

    @property
    def typeheader(self):
        return self._first.get("content-type")

    def __delitem__(self, name):
        key = name.lower()
        self._first.pop(key, None)
        self.items = [item for item in self.items if item[0] != key]


# A response whose first body chunk is at most this long leaves in the same
# send as its head.
COALESCE_MAX = 16 << 10
HOLD = object()


def new_gevent_server(app, host, port):
    from gevent.pywsgi import WSGIHandler, WSGIServer

    class Handler(WSGIHandler):
        # pywsgi sends a response's head and its first body chunk with two
        # sends: two TCP segments, and a reader that parsed the head waits
        # once more for the body. A short chunk is held back and joins the
        # head instead; _head is HOLD while the head is awaited, then the
        # head until the chunk arrives.
        _head = None

        def MessageClass(self, fp, *args):  # noqa: N802 (pywsgi's name)
            return RequestHeaders(fp, *args)

        def _headers(self):
            # pywsgi's own splits each line again; RequestHeaders kept the
            # keys. Repeated headers are joined by get_environ.
            for _, key, value in self.headers.items:
                if key is not None:
                    yield key, value.strip()

        def _write_with_headers(self, data):
            if not data or len(data) > COALESCE_MAX:
                return super()._write_with_headers(data)
            self._head = HOLD
            try:
                super()._write_with_headers(data)
            finally:
                head, self._head = self._head, None
                if head is not None and head is not HOLD:  # no chunk came: send the head alone
                    super()._sendall(head)

        def _sendall(self, data):
            head = self._head
            if head is None:
                return super()._sendall(data)
            if head is HOLD:
                self._head = bytes(data)
                return None
            self._head = None
            return super()._sendall(head + data)

    return WSGIServer(listen(host, port), app, log=None, handler_class=Handler)


def new_werkzeug_server(app, host, port):
    import logging

    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        disable_nagle_algorithm = True

        def log_request(self, *args, **kwargs):
            pass

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return make_server(host, port, app, threaded=True, request_handler=QuietHandler)


def main():
    # A pipe makes stdout block buffered: print lines as they come, so that
    # they reach the log capture in order with stderr and while the request
    # that printed them is open.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    sys.stdout, sys.stderr = FramedStream(sys.stdout), FramedStream(sys.stderr)
    host = os.environ.get("LANTERN_HOST") or "127.0.0.1"
    try:
        port = int(os.environ.get("PORT") or "8888")
    except ValueError:
        sys.exit(f"bad PORT {os.environ.get('PORT')!r}: want a number")
    app = new_app(Runtime(os.environ.get("USERFUNC_DIR") or "/userfunc"))
    new_server = new_gevent_server if WSGI_FRAMEWORK == "gevent" else new_werkzeug_server
    server = new_server(app, host, port)
    if not os.environ.get("LANTERN_RUNTIME_QUIET"):  # the platform keeps a function's log for the function
        print(f"lantern python runtime listening on {host}:{port} ({WSGI_FRAMEWORK})", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
