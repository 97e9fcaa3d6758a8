"""Real Tongban nodes on loopback for multi-node tests.

A node is one deployment: a gunicorn web server plus one `exchange_relay` process, its own database
(an SQLite file, or a PostgreSQL database `tongban_node_*`) and its own var dir (media, node key,
logs). Nodes start from a template database that went through `migrate` and `load_demo` once; the
template is kept between runs, keyed by a hash of the migrations and the demo loader, and rebuilt
when they change.

    with cluster([{"node_id": "A", "regions": ["370000"]}, {"node_id": "B", "regions": ["150000"]}]) as nodes:
        clerk = nodes["A"].session("demo_clerk")
        status, page = clerk.get("/api/v1/cases", limit=5)

Only the standard library is used for HTTP (urllib + http.cookiejar); `psycopg` only for PostgreSQL.
See tests/multinode/README.md for the full guide.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import fcntl
import hashlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
PASSWORD = "Tongban@2026"  # the demo loader's published staff password (tongban/demo/places.py)
HEALTH_PATH = "/"  # the portal home page: needs Django, the URLconf and the database (there is no /healthz)
EXCHANGE_COMMANDS = ("node_init", "node_descriptor", "node_register", "exchange_relay")
TEMPLATE_VERSION = "1"  # bump when the way templates are built changes
# What a template depends on: a change to any of these files rebuilds it.
TEMPLATE_INPUTS = (
    "tongban/*/migrations/*.py",
    "tongban/demo/**/*",
    "tongban/core/management/commands/load_demo.py",
    "tongban/*/data/**/*",
    "tongban/directory/services.py",
    "tongban/core/services.py",
    "requirements.txt",
)
STALE_TEMPLATE_SECONDS = 24 * 3600  # templates of other hashes older than this are pruned
KEEP_OTHER_TEMPLATES = 3  # ... and so are all but the most recent few (another checkout may still use them)
BOOT_TIMEOUT = float(os.environ.get("TONGBAN_MULTINODE_BOOT_TIMEOUT", "90"))
MANAGE_TIMEOUT = float(os.environ.get("TONGBAN_MULTINODE_MANAGE_TIMEOUT", "600"))


class HarnessError(AssertionError):
    """The harness could not do what was asked (a node did not boot, a command failed, ...). An
    AssertionError so pytest reports it as a test failure with the message (which carries log tails)."""


# --- small helpers ---------------------------------------------------------------------------------

def wait_until(predicate, timeout=30, interval=0.2, message="", diagnostics=None):
    """Call `predicate()` until it returns something truthy and return that. Exceptions raised by the
    predicate count as "not yet" (e.g. connection refused while a node restarts). On timeout raise
    AssertionError with `message` (a string or a callable returning one), the last value or exception,
    and `diagnostics()` if given (e.g. `cluster.diagnostics`). A failure guard, not a timing assertion."""
    deadline = time.monotonic() + timeout
    last, last_exc = None, None
    while True:
        try:
            last = predicate()
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - reported on timeout
            last, last_exc = None, exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            parts = [f"wait_until: timed out after {timeout}s: {text or getattr(predicate, '__name__', 'predicate')}"]
            parts.append(f"last exception: {last_exc!r}" if last_exc is not None else f"last value: {last!r}")
            if diagnostics is not None:
                with contextlib.suppress(Exception):
                    parts.append(diagnostics())
            raise AssertionError("\n".join(parts))
        time.sleep(interval)


def exchange_commands_available():
    """True when tongban.exchange ships node_init, node_descriptor, node_register and exchange_relay."""
    return not missing_exchange_commands()


def missing_exchange_commands():
    commands = REPO / "tongban" / "exchange" / "management" / "commands"
    return [c for c in EXCHANGE_COMMANDS if not (commands / f"{c}.py").exists()]


def _tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])


_ports_taken = set()
_ports_lock = threading.Lock()


def free_port():
    """A currently free loopback port, never one this process handed out before."""
    with _ports_lock:
        for _ in range(100):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_taken:
                _ports_taken.add(port)
                return port
    raise HarnessError("no free port")


def _inherited_env():
    """The test run's environment without anything that configures Tongban (each node gets its own)."""
    drop = {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TONGBAN_")}


def _node_env(node_id, name, db_url, var_dir, url, extra=None):
    env = _inherited_env()
    env.update({
        "DJANGO_SETTINGS_MODULE": "tongban.settings",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": db_url,
        "TONGBAN_VAR_DIR": str(var_dir),
        "TONGBAN_NODE_ID": node_id,
        "TONGBAN_NODE_NAME": name,
        "TONGBAN_DEBUG": "true",
        "TONGBAN_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TONGBAN_PUBLIC_URL": url,
        "TONGBAN_CSRF_TRUSTED_ORIGINS": url,
        "TONGBAN_CONN_MAX_AGE": "0",
        # Tests sign in many times in a row; a lock-out would only hide the real failure.
        "TONGBAN_LOGIN_FAILURE_LIMIT": "100",
    })
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


# Process groups this process started and has not reaped: killed at interpreter exit whatever happens.
_live_groups = set()


@atexit.register
def _kill_leftovers():
    for pgid in list(_live_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _child_setup():
    # Die with the parent thread (the pytest main thread) even if pytest itself is SIGKILLed.
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _popen(argv, env, log_path, label):
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n===== {time.strftime('%H:%M:%S')} start {label}: {' '.join(argv)}\n".encode())
        log.flush()
        main = threading.current_thread() is threading.main_thread()
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_child_setup if main else None,
        )
    _live_groups.add(proc.pid)
    return proc


def _kill(proc, kill=True, grace=20):
    """End a process group we started: SIGKILL (a crash) or SIGTERM then SIGKILL after `grace` seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=5 if kill else grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    # gunicorn workers of a SIGKILLed master: same group, so also gone; make sure of it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _live_groups.discard(proc.pid)


def _run(argv, env, *, input=None, timeout=MANAGE_TIMEOUT, log_path=None, label=""):
    """Run a command to completion; raise HarnessError with its stderr (and stdout) on failure."""
    t = time.monotonic()
    try:
        res = subprocess.run(argv, cwd=REPO, env=env, input=input, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"{label or argv} timed out after {timeout}s\nstdout:\n{exc.stdout}\nstderr:\n{exc.stderr}")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"\n===== {time.strftime('%H:%M:%S')} {label} rc={res.returncode} ({time.monotonic() - t:.1f}s): {' '.join(argv[1:])}\n")
            log.write(res.stdout[-4000:])
            log.write(res.stderr[-8000:])
    if res.returncode != 0:
        raise HarnessError(
            f"{label or ' '.join(argv)} failed (exit {res.returncode})\n--- stderr ---\n{res.stderr[-6000:]}\n--- stdout ---\n{res.stdout[-2000:]}"
        )
    return res.stdout


# --- PostgreSQL ------------------------------------------------------------------------------------

def _is_postgres(url):
    return bool(url) and url.split(":", 1)[0] in {"postgres", "postgresql", "pgsql", "postgis"}


def _pg_url(base_url, dbname):
    parts = urllib.parse.urlsplit(base_url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


def _pg_connect(url):
    import psycopg

    parts = urllib.parse.urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432, user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password) if parts.password else None, dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True, connect_timeout=10,
    )


_SAFE_DB = re.compile(r"^tongban_(node|tmpl)_[a-z0-9_]+$")


def _ident(name):
    if not _SAFE_DB.match(name) or len(name) > 63:
        raise HarnessError(f"refusing to touch database {name!r}: only tongban_node_* and tongban_tmpl_* are ours")
    return '"' + name + '"'


class _PG:
    """Creates and drops only databases named tongban_node_* / tongban_tmpl_*."""

    # WAL_LOG (PostgreSQL's default) measured faster here than FILE_COPY, which checkpoints twice per clone.
    strategy = os.environ.get("TONGBAN_MULTINODE_PG_STRATEGY", "WAL_LOG")

    def __init__(self, base_url):
        self.base_url = base_url
        self.admin_url = _pg_url(base_url, "postgres")

    def url(self, dbname):
        return _pg_url(self.base_url, dbname)

    def _exec(self, *statements):
        with _pg_connect(self.admin_url) as conn:
            rows = None
            for sql, params in statements:
                cur = conn.execute(sql, params)
                rows = cur.fetchall() if cur.description else None
            return rows

    def exists(self, name):
        return bool(self._exec(("SELECT 1 FROM pg_database WHERE datname = %s", (name,))))

    def databases(self, like):
        return [r[0] for r in self._exec(("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,)))]

    def terminate(self, name):
        self._exec(("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)))

    def drop(self, name):
        q = _ident(name)
        if self.exists(name):  # a database marked as template cannot be dropped
            self._exec((f"ALTER DATABASE {q} WITH IS_TEMPLATE false", None))
        self._exec((f"DROP DATABASE IF EXISTS {q} WITH (FORCE)", None))

    def create(self, name, template=None):
        q = _ident(name)
        if template is None:
            self._exec((f"CREATE DATABASE {q} ENCODING 'UTF8' TEMPLATE template0", None))
            return
        t = _ident(template)
        for attempt in range(10):
            self.terminate(template)
            try:
                self._exec((f"CREATE DATABASE {q} TEMPLATE {t} STRATEGY {self.strategy}", None))
                return
            except Exception as exc:  # "source database ... is being accessed by other users"
                if "being accessed" not in str(exc) or attempt == 9:
                    raise
                time.sleep(0.3)

    def rename(self, old, new):
        self.terminate(old)
        self._exec((f"ALTER DATABASE {_ident(old)} RENAME TO {_ident(new)}", None))

    def seal_template(self, name, built_at):
        q = _ident(name)
        self._exec((f"COMMENT ON DATABASE {q} IS 'tongban multinode template built_at={int(built_at)}'", None),
                   (f"ALTER DATABASE {q} WITH ALLOW_CONNECTIONS false", None))
        self.terminate(name)

    def built_at(self, name):
        rows = self._exec(("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)))
        m = re.search(r"built_at=(\d+)", (rows[0][0] or "") if rows else "")
        return int(m.group(1)) if m else 0


# --- templates -------------------------------------------------------------------------------------

def template_hash():
    h = hashlib.sha256(TEMPLATE_VERSION.encode())
    files = set()
    for pattern in TEMPLATE_INPUTS:
        files.update(p for p in REPO.glob(pattern) if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for p in sorted(files):
        h.update(str(p.relative_to(REPO)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _cache_root():
    return Path(os.environ.get("TONGBAN_MULTINODE_CACHE", tempfile.gettempdir()))


class Template:
    def __init__(self, backend, digest, var_dir, db_path=None, db_name=None, pg=None):
        self.backend, self.digest, self.var_dir, self.db_path, self.db_name, self.pg = backend, digest, var_dir, db_path, db_name, pg
        self.built_seconds = None  # set when this process built it


_templates = {}
_template_failures = {}
_templates_lock = threading.Lock()


@contextlib.contextmanager
def _file_lock(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build_data(env, log_path):
    _run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env, log_path=log_path, label="template: migrate")
    _run([PYTHON, "manage.py", "load_demo"], env, log_path=log_path, label="template: load_demo")


def get_template(backend, pg_url=None):
    """The migrated, demo-loaded template for `backend` ("sqlite" or "postgres"), built if missing or stale.
    Memoised for the test session; safe against concurrent pytest processes (file lock)."""
    digest = template_hash()
    key = (backend, pg_url, digest)
    with _templates_lock:
        if key in _templates:
            return _templates[key]
        if key in _template_failures:  # do not spend another build on every test module
            raise HarnessError(f"building the {backend} template failed earlier in this session:\n{_template_failures[key]}")
        root = _cache_root() / f"tongban-nodes-{digest[:16]}"
        try:
            with _file_lock(root / ".lock"):
                tpl = _sqlite_template(root, digest) if backend == "sqlite" else _pg_template(root, digest, _PG(pg_url))
        except HarnessError as exc:
            _template_failures[key] = str(exc)
            raise
        with contextlib.suppress(Exception):
            _prune(digest, tpl.pg)
        _templates[key] = tpl
        return tpl


def _sqlite_template(root, digest):
    final = root / "sqlite"
    if (final / "READY").exists():
        return Template("sqlite", digest, final / "var", db_path=final / "db.sqlite3")
    t = time.monotonic()
    shutil.rmtree(final, ignore_errors=True)
    wip = root / f"sqlite.wip-{os.getpid()}"
    shutil.rmtree(wip, ignore_errors=True)
    (wip / "var").mkdir(parents=True)
    build_db = wip / "build.sqlite3"
    env = _node_env("template", "模板", f"sqlite:///{build_db}", wip / "var", "http://127.0.0.1:1")
    try:
        _build_data(env, root / "build.log")
        conn = sqlite3.connect(build_db)
        try:  # one self-contained file: no -wal/-shm to carry along
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM INTO ?", (str(wip / "db.sqlite3"),))
        finally:
            conn.close()
    except BaseException:
        shutil.rmtree(wip, ignore_errors=True)
        raise
    for suffix in ("", "-wal", "-shm"):
        Path(f"{build_db}{suffix}").unlink(missing_ok=True)
    (wip / "READY").write_text(f"built_at={int(time.time())}\n")
    os.rename(wip, final)
    tpl = Template("sqlite", digest, final / "var", db_path=final / "db.sqlite3")
    tpl.built_seconds = round(time.monotonic() - t, 1)
    return tpl


def _pg_template(root, digest, pg):
    name = f"tongban_tmpl_{digest[:12]}"
    final = root / "pg"
    if (final / "READY").exists() and (final / "READY").read_text().strip() == name and pg.exists(name):
        return Template("postgres", digest, final / "var", db_name=name, pg=pg)
    t = time.monotonic()
    shutil.rmtree(final, ignore_errors=True)
    wip_dir = root / f"pg.wip-{os.getpid()}"
    shutil.rmtree(wip_dir, ignore_errors=True)
    (wip_dir / "var").mkdir(parents=True)
    wip = f"{name}_wip"
    pg.drop(wip)
    pg.create(wip)
    try:
        env = _node_env("template", "模板", pg.url(wip), wip_dir / "var", "http://127.0.0.1:1")
        _build_data(env, root / "build.log")
        pg.drop(name)
        pg.rename(wip, name)
    except BaseException:
        with contextlib.suppress(Exception):
            pg.drop(wip)
        shutil.rmtree(wip_dir, ignore_errors=True)
        raise
    pg.seal_template(name, time.time())
    (wip_dir / "READY").write_text(name + "\n")
    os.rename(wip_dir, final)
    tpl = Template("postgres", digest, final / "var", db_name=name, pg=pg)
    tpl.built_seconds = round(time.monotonic() - t, 1)
    return tpl


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _prune(digest, pg):
    """Best effort: remove templates of other hashes (code changed since) when older than a day or
    beyond the KEEP_OTHER_TEMPLATES most recent, and node databases of pytest processes that are gone."""
    now = time.time()
    dirs = sorted((d for d in _cache_root().glob("tongban-nodes-*") if d.is_dir() and not d.name.endswith(digest[:16])),
                  key=lambda d: d.stat().st_mtime, reverse=True)
    for i, d in enumerate(dirs):
        if i >= KEEP_OTHER_TEMPLATES or now - d.stat().st_mtime > STALE_TEMPLATE_SECONDS:
            shutil.rmtree(d, ignore_errors=True)
    if pg is None:
        return
    others = sorted(((pg.built_at(n), n) for n in pg.databases("tongban_tmpl_%")
                     if not n.startswith(f"tongban_tmpl_{digest[:12]}") and not n.endswith("_wip")),
                    reverse=True)
    for i, (built_at, name) in enumerate(others):
        if i >= KEEP_OTHER_TEMPLATES or now - built_at > STALE_TEMPLATE_SECONDS:
            pg.drop(name)
    for name in pg.databases("tongban_node_%"):
        m = re.match(r"^tongban_node_[a-z0-9]+_(\d+)_\d+$", name)
        if m and not _pid_alive(int(m.group(1))):
            pg.drop(name)


# --- HTTP client -----------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    """What StaffSession.request returns: status, headers, raw body; `.data` is JSON or text."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    @property
    def data(self):
        if "json" in (self.headers.get("Content-Type") or ""):
            try:
                return json.loads(self.body)
            except ValueError:
                return self.text
        return self.text

    def __repr__(self):
        return f"<Response {self.status} {self.text[:200]!r}>"


class Session:
    """An HTTP client bound to one node, standard library only: cookies in an http.cookiejar (one jar
    per session: cookies of 127.0.0.1 are not separated by port), redirects not followed by
    `request` (a 302 comes back as the status; `get` follows them within the node). Writes carry
    X-CSRFToken from the csrftoken cookie plus Origin/Referer. Anonymous until a subclass logs in."""

    def __init__(self, node, timeout=30):
        self.node, self.timeout = node, timeout
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    # -- plumbing --
    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    @property
    def csrftoken(self):
        return self.cookie("csrftoken")

    def request(self, method, path, body=None, headers=None, params=None):
        url = self.node.url + path
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
        hdrs = {"Accept": "application/json, text/html;q=0.9", "Referer": self.node.url + "/", "Origin": self.node.url}
        if method not in ("GET", "HEAD", "OPTIONS") and self.csrftoken:
            hdrs["X-CSRFToken"] = self.csrftoken
        hdrs.update(headers or {})
        req = urllib.request.Request(url, data=body, headers=hdrs, method=method)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                return Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as exc:  # 3xx (not followed), 4xx, 5xx
            with exc:
                return Response(exc.code, exc.headers, exc.read())

    # -- JSON API --
    def get(self, path, **params):
        """GET with query parameters; returns (status, JSON or text). Redirects within the node are
        followed (e.g. Django's APPEND_SLASH: the case list is /api/v1/cases/ with the slash)."""
        r = self.request("GET", path, params=params)
        for _ in range(5):
            location = r.headers.get("Location") if r.status in (301, 302, 303, 307, 308) else None
            if not location:
                break
            target = urllib.parse.urlsplit(urllib.parse.urljoin(self.node.url + path, location))
            if f"{target.scheme}://{target.netloc}" != self.node.url:
                break
            path = target.path + (f"?{target.query}" if target.query else "")
            r = self.request("GET", path)
        return r.status, r.data

    def _send_json(self, method, path, data, headers):
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        r = self.request(method, path, json.dumps(data, ensure_ascii=False).encode(), hdrs)
        return r.status, r.data

    def post_json(self, path, data, headers=None):
        return self._send_json("POST", path, data, headers)

    def patch_json(self, path, data, headers=None):
        return self._send_json("PATCH", path, data, headers)

    def put_json(self, path, data, headers=None):
        return self._send_json("PUT", path, data, headers)

    def delete(self, path, headers=None):
        r = self.request("DELETE", path, headers=headers)
        return r.status, r.data

    def post_multipart(self, path, fields=None, files=None, headers=None):
        """fields: {name: str | list[str]}; files: {name: (filename, bytes, content_type) | list of those}."""
        boundary = "----tongban" + uuid.uuid4().hex
        out = bytearray()

        def part(disposition, content_type, payload):
            out.extend(f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode())
            if content_type:
                out.extend(f"Content-Type: {content_type}\r\n".encode())
            out.extend(b"\r\n" + payload + b"\r\n")

        def quote(s):
            return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\r", "").replace("\n", "")

        for name, value in (fields or {}).items():
            for v in value if isinstance(value, list | tuple) else [value]:
                v = json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)
                part(f'name="{quote(name)}"', None, v.encode())
        for name, spec in (files or {}).items():
            for filename, data, ctype in spec if isinstance(spec, list) else [spec]:
                part(f'name="{quote(name)}"; filename="{quote(filename)}"', ctype or "application/octet-stream", data)
        out.extend(f"--{boundary}--\r\n".encode())
        hdrs = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        hdrs.update(headers or {})
        r = self.request("POST", path, bytes(out), hdrs)
        return r.status, r.data

    def post_form(self, path, fields, headers=None):
        """An HTML form post (urlencoded) with csrfmiddlewaretoken; returns the Response (status 302 on success usually)."""
        data = dict(fields)
        data.setdefault("csrfmiddlewaretoken", self.csrftoken or "")
        hdrs = {"Content-Type": "application/x-www-form-urlencoded", "Referer": self.node.url + path}
        hdrs.update(headers or {})
        return self.request("POST", path, urllib.parse.urlencode(data, doseq=True).encode(), hdrs)

    def _fail(self, what, r):
        snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.text))[:600] if r is not None else ""
        raise HarnessError(f"{self.node.node_id}: {what}: {r.status if r is not None else '?'} {snippet}\n{self.node.log_tail()}")


class StaffSession(Session):
    """A staff member signed in through the real staff login form (password + TOTP) on one node."""

    def __init__(self, node, username, password=PASSWORD, timeout=30):
        super().__init__(node, timeout)
        self.username, self.password = username, password

    # -- sign-in --
    def totp_token(self):
        """The next TOTP the node will accept for this user, read from the node's database: a token
        for a time step after the device's last_t (two sign-ins within one step would otherwise be
        refused as a replay), away from a step boundary."""
        from django_otp.oath import totp  # pure Python: needs no Django settings

        rows = self.node.sql(
            "SELECT d.key, d.step, d.t0, d.digits, d.drift, d.tolerance, d.last_t FROM otp_totp_totpdevice d "
            "JOIN auth_user u ON u.id = d.user_id WHERE u.username = %s AND d.confirmed ORDER BY d.id",
            (self.username,),
        )
        if not rows:
            raise HarnessError(f"{self.node.node_id}: no confirmed TOTP device for {self.username!r}")
        key, step, t0, digits, drift, tolerance, last_t = rows[0]
        while True:
            now = time.time()
            into = (now - t0) % step
            if into > step - 1.5 or into < 0.3:  # too close to a step change: the server might see the next one
                time.sleep((step - into + 0.4) if into > 1 else 0.4)
                continue
            base = (int(now) - t0) // step + drift
            for offset in sorted(range(-tolerance, tolerance + 1), key=lambda o: (abs(o), -o)):
                if base + offset > last_t:
                    return f"{totp(bytes.fromhex(key), step, t0, digits, drift + offset):0{digits}d}"
            time.sleep(step - into + 0.4)  # every acceptable step is used up: wait for the next one

    def login(self, attempts=3):
        last = None
        for attempt in range(attempts):
            r = self.request("GET", "/staff/login/")
            if r.status != 200 or not self.csrftoken:
                self._fail("GET /staff/login/", r)
            last = self.post_form("/staff/login/", {"username": self.username, "password": self.password,
                                                     "token": self.totp_token(), "next": ""})
            if last.status == 302 and self.cookie("sessionid"):
                return self
            if last.status != 400 or "动态口令错误" not in last.text:  # only a refused TOTP is worth another try
                break
            time.sleep(1.0 + attempt)  # a concurrent sign-in of the same user took this step: retry
        self._fail(f"login of {self.username!r} failed", last)


class ApplicantSession(Session):
    """An applicant signed in through the real SMS-code login form (/applicant/login/): the code is
    read from the node's outbound SMS log (table applicants_outboundsms, what /dev/mailbox/ shows).
    The node allows one code a minute per phone: when a code was asked for less than a minute ago,
    the harness backdates that phone's code rows (a test-only shortcut) instead of waiting."""

    def __init__(self, node, code_number, phone, timeout=30):
        super().__init__(node, timeout)
        self.code_number, self.phone = code_number, phone

    def _latest_sms_id(self):
        rows = self.node.sql("SELECT MAX(id) FROM applicants_outboundsms WHERE phone = %s", (self.phone,))
        return rows[0][0] or 0

    def login(self):
        r = self.request("GET", "/applicant/login/")
        if r.status != 200 or not self.csrftoken:
            self._fail("GET /applicant/login/", r)
        before = self._latest_sms_id()
        fields = {"action": "send", "code_number": self.code_number, "phone": self.phone, "sms_code": "", "next": ""}
        r = self.post_form("/applicant/login/", fields)
        if r.status == 429 and "频繁" in r.text:
            self.node.sql("UPDATE applicants_smscode SET created_at = created_at - INTERVAL '61 seconds' WHERE phone = %s"
                          if self.node.backend == "postgres" else
                          "UPDATE applicants_smscode SET created_at = datetime(created_at, '-61 seconds') WHERE phone = %s", (self.phone,))
            r = self.post_form("/applicant/login/", fields)
        if r.status != 200:
            self._fail(f"SMS code for {self.phone}", r)
        text = wait_until(lambda: self.node.sql("SELECT text FROM applicants_outboundsms WHERE phone = %s AND id > %s ORDER BY id DESC",
                                                 (self.phone, before)), timeout=10, message=f"no SMS code sent to {self.phone}")[0][0]
        code = re.search(r"验证码是(\d{4,8})", text)
        if not code:
            raise HarnessError(f"{self.node.node_id}: no code in SMS {text!r}")
        r = self.post_form("/applicant/login/", dict(fields, action="login", sms_code=code.group(1)))
        if r.status != 302:
            self._fail(f"applicant login of {self.code_number}/{self.phone} failed", r)
        return self


# --- nodes -----------------------------------------------------------------------------------------

class Node:
    """One node: web server (gunicorn) + exchange relay, own database, own var dir (logs in var_dir/logs)."""

    def __init__(self, node_id, *, name=None, regions=(), port=None, db_url, var_dir, env=None, backend="sqlite",
                 workers=2, threads=4, db_name=None):
        self.node_id = node_id
        self.name = name or f"节点{node_id}"
        self.regions = list(regions)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url, self.db_name, self.backend = db_url, db_name, backend
        self.var_dir = Path(var_dir)
        self.log_dir = self.var_dir / "logs"
        self.env = _node_env(node_id, self.name, db_url, self.var_dir, self.url, env)
        self.workers, self.threads = workers, threads
        self.web = None    # subprocess.Popen of the gunicorn master (its own process group)
        self.relay = None  # subprocess.Popen of manage.py exchange_relay
        self.descriptor_data = None  # this node's descriptor as printed at wiring time (cluster.wire)

    def __repr__(self):
        return f"<Node {self.node_id} {self.url} web={'up' if self.web_running else 'down'} relay={'up' if self.relay_running else 'down'}>"

    # -- processes --
    @property
    def web_running(self):
        return self.web is not None and self.web.poll() is None

    @property
    def relay_running(self):
        return self.relay is not None and self.relay.poll() is None

    def start(self, relay=None, wait=True):
        """Start the web server and (when the exchange commands exist, or relay=True) the relay; by
        default wait until the web server answers. Parts already running are left alone."""
        self.start_web(wait=False)
        if relay or (relay is None and exchange_commands_available()):
            self.start_relay()
        if wait:
            self.wait_ready()
        return self

    def start_web(self, wait=True):
        if not self.web_running:
            argv = [PYTHON, "-m", "gunicorn", "tongban.wsgi:application", "-b", f"127.0.0.1:{self.port}",
                    "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "60",
                    "--graceful-timeout", "10", "--access-logfile", "-", "--error-logfile", "-",
                    "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms']
            if os.environ.get("TONGBAN_MULTINODE_PRELOAD", "1") == "1":
                argv.append("--preload")
            self.web = _popen(argv, self.env, self.log_dir / "web.log", f"web {self.node_id}")
        if wait:
            self.wait_ready()
        return self

    def start_relay(self):
        if not self.relay_running:
            self.relay = _popen([PYTHON, "manage.py", "exchange_relay"], self.env, self.log_dir / "relay.log", f"relay {self.node_id}")
        return self

    def stop_web(self, kill=True):
        """kill=True: SIGKILL the whole gunicorn process group (a crash); False: SIGTERM (graceful)."""
        _kill(self.web, kill)
        self.web = None

    def stop_relay(self, kill=True):
        _kill(self.relay, kill)
        self.relay = None

    def stop(self, kill=True, relay=True):
        """Stop the web server (SIGKILL by default: a crash) and, unless relay=False, the relay."""
        self.stop_web(kill)
        if relay:
            self.stop_relay(kill)

    def restart(self, kill=True, relay=True, wait=True):
        """stop() then start(); with relay=False the relay keeps running untouched."""
        self.stop(kill=kill, relay=relay)
        return self.start(relay=None if relay else False, wait=wait)

    def is_up(self, timeout=2):
        """True when the web server answers HTTP at all (any status)."""
        try:
            with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=timeout) as resp:
                return resp.status > 0
        except urllib.error.HTTPError:
            return True
        except (OSError, urllib.error.URLError):
            return False

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Wait until GET / answers below 500; fail fast (with the log tail) if a process died."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if not self.web_running:
                raise HarnessError(f"node {self.node_id}: web server exited (code {self.web and self.web.returncode})\n{self.log_tail()}")
            if self.relay is not None and self.relay.poll() is not None:
                raise HarnessError(f"node {self.node_id}: relay exited (code {self.relay.returncode})\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + HEALTH_PATH, timeout=10) as resp:
                    if resp.status < 500:
                        return self
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code < 500:
                    return self
            except (OSError, urllib.error.URLError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise HarnessError(f"node {self.node_id} at {self.url} not ready after {timeout}s (last: {last})\n{self.log_tail()}")

    def wait_down(self, timeout=15):
        wait_until(lambda: not self.is_up(timeout=1), timeout=timeout, interval=0.1, message=f"node {self.node_id} still answers")

    # -- commands and data --
    def manage(self, *args, input=None, timeout=MANAGE_TIMEOUT):
        """Run `manage.py *args` with this node's environment; return stdout, raise HarnessError with stderr."""
        return _run([PYTHON, "manage.py", *map(str, args)], self.env, input=input, timeout=timeout,
                    log_path=self.log_dir / "manage.log", label=f"node {self.node_id}: manage.py {args[0] if args else ''}")

    def nodectl(self, *args, input=None, timeout=MANAGE_TIMEOUT):
        """Run tests/multinode/nodectl.py (several exchange commands in one process) with this node's env."""
        return _run([PYTHON, str(Path(__file__).with_name("nodectl.py")), *map(str, args)], self.env, input=input, timeout=timeout,
                    log_path=self.log_dir / "manage.log", label=f"node {self.node_id}: nodectl {args[0] if args else ''}")

    def descriptor(self):
        """`manage.py node_descriptor` parsed (the node's id, base_url, regions and public keys)."""
        out = self.manage("node_descriptor")
        start = out.find("{")
        return json.loads(out[start:] if start >= 0 else out)

    def session(self, username, password=PASSWORD):
        """A StaffSession signed in on this node through the real login form."""
        return StaffSession(self, username, password).login()

    def applicant_session(self, code_number, phone):
        """An ApplicantSession signed in with an SMS code (demo: 11010519491231002X / 13800000001)."""
        return ApplicantSession(self, code_number, phone).login()

    def sql(self, query, params=()):
        """Run one statement directly on this node's database and return the rows (list of tuples).
        Placeholders are %s on both backends (converted to ? for SQLite; write %% for a literal %)."""
        if self.backend == "postgres":
            with _pg_connect(self.db_url) as conn:
                cur = conn.execute(query, params or None)
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
        conn = sqlite3.connect(self._sqlite_path(), timeout=10, isolation_level=None)
        try:
            cur = conn.execute(query.replace("%s", "?").replace("%%", "%"), params)
            return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def retry_outbox_now(self):
        """Make every pending outbox message of this node due now (the relay backs off 2**tries seconds,
        up to 5 minutes, while a receiver is down): a test-time shortcut so a scenario need not wait for
        the back-off after restarting a receiver. Returns how many messages it touched."""
        if self.backend == "postgres":
            rows = self.sql("UPDATE exchange_outboxmessage SET next_attempt_at = now() WHERE status = 'pending' RETURNING id")
        else:
            now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            rows = self.sql("UPDATE exchange_outboxmessage SET next_attempt_at = %s WHERE status = 'pending' RETURNING id", (now,))
        return len(rows)

    def assert_alive(self):
        """Raise HarnessError (with the log tail) if a process this node should be running has died."""
        for label, proc in (("web server", self.web), ("relay", self.relay)):
            if proc is not None and proc.poll() is not None:
                raise HarnessError(f"node {self.node_id}: {label} died (exit {proc.returncode})\n{self.log_tail()}")

    def _sqlite_path(self):
        return self.db_url.split("sqlite://", 1)[1]

    def log_tail(self, lines=40):
        parts = []
        for name in ("web.log", "relay.log", "manage.log"):
            path = self.log_dir / name
            if path.exists():
                parts.append(f"----- node {self.node_id} {name} (last {lines} lines) -----\n{_tail(path, lines)}")
        return "\n".join(parts) or f"(node {self.node_id}: no logs in {self.log_dir})"


class Cluster(dict):
    """dict[node_id, Node] plus helpers."""

    base_dir = None   # the temp dir holding every node's var dir
    template = None   # the Template the nodes were cloned from
    timings = None    # seconds per phase: template (0 when reused), provision, wire, boot, teardown
    descriptors = None  # {node_id: descriptor} printed by node_descriptor after node_init (None without exchange)

    def diagnostics(self, lines=40):
        """The tail of every node's logs (web, relay, manage), for assertion messages."""
        return "\n".join(n.log_tail(lines) for n in self.values())

    def assert_alive(self):
        for n in self.values():
            n.assert_alive()

    def wire(self, timeout=MANAGE_TIMEOUT):
        """Give every node its identity (node_init with its regions and URL) and make it register every
        other node's descriptor. The real commands, in ONE process per node (nodectl.py wire): it prints
        its descriptor, then reads the others' from stdin. Returns {node_id: descriptor}."""
        nodes = list(self.values())
        procs = {}
        try:
            for n in nodes:
                n.log_dir.mkdir(parents=True, exist_ok=True)
                log = open(n.log_dir / "manage.log", "ab")
                log.write(f"\n===== {time.strftime('%H:%M:%S')} nodectl wire {n.node_id}\n".encode())
                log.flush()
                argv = [PYTHON, str(Path(__file__).with_name("nodectl.py")), "wire", "--node-id", n.node_id, "--name", n.name,
                        "--base-url", n.url, "--regions", ",".join(n.regions) or "000000"]
                procs[n.node_id] = (subprocess.Popen(argv, cwd=REPO, env=n.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                     stderr=log, text=True), log)
            descriptors = {}
            for n in nodes:
                proc, _ = procs[n.node_id]
                line = proc.stdout.readline()  # the descriptor, or "" if node_init failed
                if not line.strip():
                    proc.wait(timeout=timeout)
                    raise HarnessError(f"node {n.node_id}: node_init failed (exit {proc.returncode})\n{n.log_tail()}")
                descriptors[n.node_id] = n.descriptor_data = json.loads(line)
            for n in nodes:
                proc, _ = procs[n.node_id]
                others = [d for node_id, d in descriptors.items() if node_id != n.node_id]
                out, _ = proc.communicate(json.dumps(others, ensure_ascii=False), timeout=timeout)
                if proc.returncode != 0:
                    raise HarnessError(f"node {n.node_id}: node_register failed (exit {proc.returncode}) {out}\n{n.log_tail()}")
            self.descriptors = descriptors
            return descriptors
        finally:
            for proc, log in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                log.close()


def _resolve_backend(db):
    if db == "auto":
        url = os.environ.get("DATABASE_URL", "")
        return ("postgres", url) if _is_postgres(url) else ("sqlite", None)
    if db == "sqlite":
        return "sqlite", None
    if db in ("postgres", "postgresql"):
        url = os.environ.get("DATABASE_URL", "")
        return "postgres", url if _is_postgres(url) else os.environ.get("TONGBAN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if _is_postgres(db):
        return "postgres", db
    raise ValueError(f"db must be 'auto', 'sqlite', 'postgres' or a postgres:// URL, not {db!r}")


_cluster_seq = [0]


@contextlib.contextmanager
def cluster(specs, db="auto", *, env=None, relay=None, start=True, workers=2, threads=4, keep=None):
    """Start one node per spec and yield a Cluster (dict node_id → Node); tear everything down at exit.

    specs: [{"node_id": "A", "regions": ["370000"], "name": "节点A"?, "env": {...}?}, ...]
    db: "auto" (PostgreSQL when the run's DATABASE_URL is PostgreSQL, else SQLite), "sqlite", "postgres"
        or a postgres:// URL of the server to use. PostgreSQL databases are tongban_node_<id>_<pid>_<n>.
    env: extra environment for every node (e.g. {"TONGBAN_EXCHANGE_MAX_TRIES": "3"}); spec["env"] wins.
    relay: None = start a relay per node when the exchange commands exist; False = never; True = always.
    start: False = set up (databases, node_init, registration) but start no process.
    keep: keep the var dirs (logs) after exit; default from TONGBAN_MULTINODE_KEEP=1.
    When the exchange commands exist every node runs node_init (its regions) and registers all others.
    """
    ids = [s["node_id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate node ids: {ids}")
    backend, pg_url = _resolve_backend(db)
    keep = bool(os.environ.get("TONGBAN_MULTINODE_KEEP")) if keep is None else keep
    template = get_template(backend, pg_url)
    _cluster_seq[0] += 1
    base = Path(tempfile.mkdtemp(prefix=f"tongban-cluster-{os.getpid()}-"))
    nodes = Cluster()
    nodes.base_dir, nodes.template = base, template
    nodes.timings = {"template": template.built_seconds or 0.0}
    created_dbs = []
    seq = _cluster_seq[0]
    clock = time.monotonic()

    def lap(phase):
        nonlocal clock
        now = time.monotonic()
        nodes.timings[phase] = round(now - clock, 2)
        clock = now

    def provision(spec):
        node_id = spec["node_id"]
        slug = re.sub(r"[^a-z0-9]", "", node_id.lower()) or "x"
        var_dir = base / f"node-{slug}"
        shutil.copytree(template.var_dir, var_dir)
        db_name = None
        if backend == "postgres":
            db_name = f"tongban_node_{slug}_{os.getpid()}_{seq}"
            template.pg.drop(db_name)
            created_dbs.append(db_name)
            template.pg.create(db_name, template=template.db_name)
            db_url = template.pg.url(db_name)
        else:
            shutil.copyfile(template.db_path, var_dir / "db.sqlite3")
            db_url = f"sqlite:///{var_dir / 'db.sqlite3'}"
        node_env = dict(env or {})
        node_env.update(spec.get("env") or {})
        return Node(node_id, name=spec.get("name"), regions=spec.get("regions", ()), db_url=db_url, var_dir=var_dir,
                    env=node_env, backend=backend, db_name=db_name, workers=spec.get("workers", workers),
                    threads=spec.get("threads", threads))

    try:
        with ThreadPoolExecutor(max_workers=len(specs) or 1) as pool:
            for node in pool.map(provision, specs):
                nodes[node.node_id] = node
        lap("provision")
        if exchange_commands_available():
            nodes.wire()
            lap("wire")
        if start:
            for n in nodes.values():  # spawn everything first (from this thread), then wait for all
                n.start(relay=relay, wait=False)
            for n in nodes.values():
                n.wait_ready()
            lap("boot")
        try:
            yield nodes
        except BaseException as exc:
            with contextlib.suppress(Exception):
                exc.add_note(f"multinode cluster {base}:\n{nodes.diagnostics()}")
            raise
    finally:
        clock = time.monotonic()
        for n in nodes.values():
            with contextlib.suppress(Exception):
                n.stop(kill=True)
        if created_dbs:  # in parallel: each DROP DATABASE waits for a checkpoint, concurrent ones share it
            with ThreadPoolExecutor(max_workers=len(created_dbs)) as pool:
                list(pool.map(lambda name: _drop_quietly(template.pg, name), created_dbs))
        if keep:
            print(f"multinode: kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
        lap("teardown")
        if os.environ.get("TONGBAN_MULTINODE_VERBOSE"):
            print(f"multinode timings (s): {nodes.timings}", file=sys.stderr)


def _drop_quietly(pg, name):
    try:
        pg.drop(name)
    except Exception as exc:  # noqa: BLE001 - teardown goes on; the next run prunes databases of dead pids
        print(f"multinode: could not drop {name}: {exc}", file=sys.stderr)
