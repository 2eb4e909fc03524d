"""Real instances for tests: each one an `interpeople serve` process on a loopback port."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path

import requests
import tomli_w

from server.cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "INTERPEOPLE_TEST_DATABASE_URL"
FAST_SETTINGS = {
    "delivery_poll_interval": 0.1,
    "delivery_retry_base": 0.3,
    "delivery_retry_max": 2.0,
    "inbox_poll_interval": 0.1,
    "inbox_retry_base": 0.3,
}
# The suite's instances hash passwords cheaply: every instance start, member and sign-in hashes one, and at
# the default cost (64 MiB, 3 passes) that was the suite's largest CPU cost. Benchmarks keep the default.
CHEAP_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 1024}
# What `serve` imports, loaded once per test process into a fork server: each instance then starts as a fork
# of it running the real `serve` command, without paying ~1 s of imports every time.
SERVE_PRELOAD = ["server.cli", "server.app", "federation.delivery", "federation.inbox_worker"]
UNFINISHED_ENTRIES = (
    "SELECT count(*) FROM inbox_entries WHERE state IN ('received', 'processing', 'retrying')"
)


# Ports below the kernel's ephemeral range (32768-60999 on Linux): an ephemeral port that is free now can
# be taken as the source port of any outgoing connection before the instance binds it. Each xdist worker
# gets its own slice so two workers never hand out the same port.
# Each process starts at a random place in its slice, so concurrent runs (two suites, a benchmark beside a
# suite) do not walk the same ports in step.
_WORKER = int(re.sub(r"\D", "", os.environ.get("PYTEST_XDIST_WORKER", "")) or 0)
_PORT_SLICE = 22000 // max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
_PORT_BASE = int(os.environ.get("INTERPEOPLE_TEST_PORT_BASE", "10000"))  # moves every slice
_FIRST_PORT = _PORT_BASE + _WORKER * _PORT_SLICE
_START = random.randrange(_PORT_SLICE)
_next_ports = (_FIRST_PORT + (_START + i) % _PORT_SLICE for i in range(_PORT_SLICE))


def free_port() -> int:
    for port in _next_ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port left in this worker's slice")


def outside_loop(function, *args):
    """Calls function here, or in a helper thread while an event loop runs in this one (a browser test's
    Playwright keeps one running), since asyncio.run refuses to start inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.RequestException:
        return False


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def sign_in(instance, username: str, password: str = "correct horse") -> requests.Session:
    """A browser-like session signed in on the instance's /login page (the harness's members' password)."""
    browser = requests.Session()
    form = browser.get(instance.url("/login")).text
    answer = browser.post(
        instance.url("/login"), data={"username": username, "password": password, "csrf": csrf_of(form)}
    )
    assert answer.status_code == 200, answer.text
    return browser


def post_form(browser: requests.Session, page_url: str, action_url: str, **fields) -> requests.Response:
    """Opens a page, then sends one of its forms with the page's CSRF token (following the redirect)."""
    page = browser.get(page_url).text
    return browser.post(action_url, data={"csrf": csrf_of(page), **fields})


def html(url: str, session: requests.Session | None = None) -> str:
    """A page's HTML, asserting that it was served (200)."""
    response = (session or requests).get(url, headers={"Accept": "text/html"}, timeout=10)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return response.text


def wait_for(check, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    """Polls check() until it returns something truthy; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    @property
    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out!r}, err={self.err!r})"


def _run_serve(data: str, log_path: str) -> None:
    """The body of an instance's process: `interpeople --data DATA serve`, its output appended to its log."""
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    sys.exit(cli_main(["--data", data, "serve"]))


class ServeProcess:
    """An instance's `serve` process, forked from the preloaded fork server; Popen's interface."""

    _context = None

    def __init__(self, data: Path, log_path: Path):
        if ServeProcess._context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(SERVE_PRELOAD)
            ServeProcess._context = context
        self._process = ServeProcess._context.Process(target=_run_serve, args=(str(data), str(log_path)))
        self._process.start()
        self.pid = self._process.pid

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("serve", timeout)
        return self._process.exitcode

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


async def _migrate(database_url: str) -> None:
    from models import Database
    from models.migrate import upgrade

    db = Database(database_url)
    try:
        await upgrade(db)
    finally:
        await db.close()


_sqlite_template: Path | None = None


def migrated_sqlite_template() -> Path:
    """An empty SQLite database at the newest revision, made once per test process: the suite's instances
    start from a copy, and `init` then finds no migration to run (each instance saves ~0.3 s of CPU)."""
    global _sqlite_template
    if _sqlite_template is None:
        folder = Path(tempfile.mkdtemp(prefix="interpeople-template-"))
        outside_loop(asyncio.run, _migrate(f"sqlite:///{folder / 'template.db'}"))
        _sqlite_template = folder / "template.db"
    return _sqlite_template


class PostgresDatabases:
    """A fresh PostgreSQL database per instance, dropped at the end; with `from_template`, each is a copy
    of a database migrated once per test process (CREATE DATABASE ... TEMPLATE)."""

    _template: str | None = None  # per test process

    def __init__(self, base_url: str, from_template: bool = False):
        self.base_url = base_url
        self.from_template = from_template
        self.created: list[str] = []

    def _admin(self, sql: str) -> None:
        import asyncpg

        async def run():
            url = self.base_url.replace("postgresql+asyncpg://", "postgresql://")
            conn = await asyncpg.connect(url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        outside_loop(asyncio.run, run())

    def url_of(self, name: str) -> str:
        return self.base_url.rsplit("/", 1)[0] + "/" + name

    def template(self) -> str:
        if PostgresDatabases._template is None:
            name = f"ip_template_{uuid.uuid4().hex[:12]}"
            self._admin(f'CREATE DATABASE "{name}"')
            atexit.register(self._admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            outside_loop(asyncio.run, _migrate(self.url_of(name)))
            PostgresDatabases._template = name
        return PostgresDatabases._template

    def create(self, empty: bool = False) -> str:
        """A new database: migrated (with from_template) unless `empty` (for restore and migrate-db)."""
        name = f"ip_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{self.template()}"' if self.from_template and not empty else ""
        self._admin(f'CREATE DATABASE "{name}"{template}')
        self.created.append(name)
        return self.url_of(name)

    def drop_all(self) -> None:
        for name in self.created:
            with contextlib.suppress(Exception):
                self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


class Instance:
    """One Interpeople instance: its folder, its CLI, and its `serve` process."""

    def __init__(self, data: Path, port: int, database_url: str | None, preloaded: bool = False):
        self.data = data
        self.preloaded = preloaded  # started as a fork of the preloaded fork server (the suite's choice)
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.host = f"127.0.0.1:{port}"
        self.database_url = database_url
        self.process: subprocess.Popen | None = None
        self.log_path = data.parent / f"{data.name}.log"

    # -- CLI, in-process: the very code the console script runs
    def cli(self, *args: str, stdin: str = "", check: bool = True) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        old_stdin = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = outside_loop(cli_main, ["--data", str(self.data), *args])
                except SystemExit as exit_:
                    code = exit_.code if isinstance(exit_.code, int) else 2
        finally:
            sys.stdin = old_stdin
        result = CliResult(code, out.getvalue(), err.getvalue())
        if check and code != 0:
            raise AssertionError(f"interpeople {' '.join(args)} failed: {result}")
        return result

    def init(self, **settings) -> None:
        args = ["init", "--base-url", self.base_url]
        if self.database_url:
            args += ["--database-url", self.database_url]
        self.cli(*args)
        self.configure(**{**FAST_SETTINGS, **settings})

    def configure(self, **settings) -> None:
        """Changes config.toml (takes effect at the next start)."""
        path = self.data / "config.toml"
        values = tomllib.loads(path.read_text())
        values.update(settings)
        path.write_text(tomli_w.dumps(values))

    # -- the server process
    def start(self, timeout: float = 120.0) -> "Instance":
        if self.preloaded:
            self.process = ServeProcess(self.data, self.log_path)
        else:
            log = open(self.log_path, "ab")
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "--data", str(self.data), "serve"],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"instance {self.base_url} exited: {self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(self.url("/.well-known/nodeinfo"), timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"instance {self.base_url} did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """A crash: no clean shutdown."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    # -- HTTP
    def url(self, path: str) -> str:
        return self.base_url + path

    def get_json(self, path_or_url: str, **kwargs) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.url(path_or_url)
        return requests.get(url, headers={"Accept": "application/activity+json"}, timeout=10, **kwargs)

    # -- conveniences used across stories
    def movement(self, slug: str, name: str | None = None) -> str:
        return self.cli("movement", "create", slug, "--name", name or slug.title()).out.strip()

    def member(
        self, username: str, movement: str, role: str = "member", password: str = "correct horse"
    ) -> str:
        return self.cli(
            "member", "create", username, "--movement", movement, "--role", role, stdin=password + "\n"
        ).out.strip()

    def propose(
        self, movement: str, parties: list[str], text: str = "We share the river.", title: str = "River pact"
    ) -> str:
        """Creates a proposal through the CLI (the text written to a file in the instance's folder); its URL."""
        path = self.data / f"proposal-{uuid.uuid4().hex[:8]}.md"
        path.write_text(text)
        args = ["proposal", "create", movement, "--title", title, "--text-file", str(path)]
        for party in parties:
            args += ["--party", party]
        return self.cli(*args).out.strip()

    def handle(self, name: str) -> str:
        return f"{name}@{self.host}"

    def timeline(self, actor: str) -> list[dict]:
        self.wait_inbox_drained()
        return self.cli("timeline", actor, "--json").lines

    def following_state(self, actor: str, target_uri: str) -> str | None:
        for row in self.cli("following", actor, "--json").lines:
            if row["id"] == target_uri:
                return row["state"]
        return None

    def proposal(self, url: str) -> dict | None:
        """`proposal show URL --json` as this instance knows the proposal; None when it does not."""
        result = self.cli("proposal", "show", url, "--json", check=False)
        return json.loads(result.out) if result.code == 0 else None

    def deliveries(self) -> list[dict]:
        return self.cli("deliveries", "--json").lines

    # -- direct database reads, for asserting what was (not) stored
    @property
    def effective_database_url(self) -> str:
        """The database this instance uses, as its config says (its SQLite file when none was given)."""
        from server.config import load_settings

        return load_settings(self.data).database_url

    def sql(self, query: str, drained: bool = True, **params) -> list[tuple]:
        """Runs a query on the instance's database, once its inbox journal has drained (unless drained=False):
        an inbox answers 202 before it has processed a plain post."""
        from sqlalchemy import text

        from models import Database

        async def run():
            db = Database(self.effective_database_url, pool_size=1)
            try:
                if drained:
                    await self._wait_drained(db)
                async with db.session() as session:
                    result = await session.execute(text(query), params)
                    return [tuple(row) for row in result.all()] if result.returns_rows else []
            finally:
                await db.close()

        return outside_loop(asyncio.run, run())

    def journal(
        self,
        document: dict,
        state: str = "received",
        order_key: str | None = None,
        attempts: int = 0,
        error: str | None = None,
        next_attempt: str = "CURRENT_TIMESTAMP",
        received: str = "CURRENT_TIMESTAMP",
        leased: bool = False,
    ) -> None:
        """Writes an entry and its payload into the inbox journal by hand, in one transaction (as a process
        that died left it, or as an old entry); times are SQL expressions."""
        from sqlalchemy import text

        from models import Database

        async def run():
            db = Database(self.effective_database_url, pool_size=1)
            try:
                async with db.session() as session:
                    entry_id = await session.scalar(
                        text(
                            "INSERT INTO inbox_entries (activity_uri, activity_type, actor_uri, order_key, "
                            "state, attempts, error, next_attempt_at, lease_until, received_at) VALUES "
                            f"(:u, :t, :a, :k, :s, :n, :e, {next_attempt}, "
                            f"{'CURRENT_TIMESTAMP' if leased else 'NULL'}, {received}) RETURNING id"
                        ),
                        {
                            "u": document["id"],
                            "t": document["type"],
                            "a": document["actor"],
                            "k": order_key or document["id"],
                            "s": state,
                            "n": attempts,
                            "e": error,
                        },
                    )
                    await session.execute(
                        text("INSERT INTO inbox_payloads (entry_id, payload) VALUES (:i, :p)"),
                        {"i": entry_id, "p": json.dumps(document)},
                    )
            finally:
                await db.close()

        outside_loop(asyncio.run, run())

    async def _wait_drained(self, db, timeout: float = 15.0) -> None:
        from sqlalchemy import text

        deadline = time.monotonic() + timeout
        while True:
            async with db.session() as session:
                unfinished = await session.scalar(text(UNFINISHED_ENTRIES))
            if not unfinished:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the inbox journal of {self.base_url} still has {unfinished} unfinished entries"
                )
            await asyncio.sleep(0.02)

    def wait_inbox_drained(self, timeout: float = 15.0) -> None:
        """Waits until every entry of the inbox journal is processed (done, refused or parked)."""
        from models import Database

        async def run():
            db = Database(self.effective_database_url, pool_size=1)
            try:
                await self._wait_drained(db, timeout)
            finally:
                await db.close()

        outside_loop(asyncio.run, run())

    def inbox(self, state: str | None = None) -> list[dict]:
        """`inbox --json` (optionally one state), newest first."""
        return self.cli("inbox", "--json", *(["--state", state] if state else [])).lines

    def private_key(self, username: str, kind: str = "rsa") -> tuple[str, str]:
        """(key id, private key) of a local actor, to sign requests as it would."""
        rows = self.sql(
            "SELECT k.uri, k.private FROM keys k JOIN actors a ON a.id = k.actor_id "
            "WHERE a.username = :u AND a.local = :t AND k.kind = :k ORDER BY k.id DESC",
            u=username,
            t=True,
            k=kind,
        )
        return rows[0]


class InstanceFactory:
    """Creates instances on free loopback ports; `preloaded` (the suite: fast) starts them as forks of a
    preloaded server, each from a copy of a database migrated once per process; otherwise (benchmarks:
    faithful) as fresh `python -m server.cli serve` processes whose `init` runs the migrations."""

    def __init__(self, tmp_path: Path, backend: str, preloaded: bool = False):
        self.preloaded = preloaded
        self.tmp_path = tmp_path
        self.backend = backend
        self.instances: list[Instance] = []
        self.pg = (
            PostgresDatabases(os.environ[PG_ENV], from_template=preloaded)
            if backend == "postgresql"
            else None
        )

    def new(self, name: str = "i", start: bool = True, **settings) -> Instance:
        database_url = self.pg.create() if self.pg else None
        instance = Instance(
            self.tmp_path / f"{name}{len(self.instances)}", free_port(), database_url, self.preloaded
        )
        if self.preloaded and database_url is None:
            instance.data.mkdir(parents=True)
            shutil.copyfile(migrated_sqlite_template(), instance.data / "interpeople.db")
        instance.init(**({**CHEAP_PASSWORDS, **settings} if self.preloaded else settings))
        self.instances.append(instance)
        if start:
            instance.start()
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        if self.pg:
            self.pg.drop_all()
