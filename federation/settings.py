"""The settings an instance runs with (read from its config file by the server)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit


class SettingsError(ValueError):
    pass


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _default_signing_processes() -> int:
    from federation.signing_pool import usable_cores

    cores = usable_cores()
    return cores if cores > 1 else 0


@dataclass
class Settings:
    base_url: str
    database_url: str
    # Plain HTTP and loopback peers are allowed only when the instance itself lives on loopback.
    local_testing: bool = False
    max_inbox_bytes: int = 1_000_000
    max_fetch_bytes: int = 1_000_000
    fetch_timeout: float = 10.0
    delivery_timeout: float = 15.0
    delivery_concurrency: int = 64
    delivery_per_host: int = 4
    delivery_retry_base: float = 30.0  # seconds before the first retry; doubles each time
    delivery_retry_max: float = 6 * 3600.0
    delivery_give_up_after: float = 2.5 * 24 * 3600.0
    delivery_poll_interval: float = 1.0
    delivery_lease_margin: float = 30.0  # a claimed row is reclaimed this long after its request timed out
    # Processes that sign big delivery batches (0: sign in the server process); default: usable cores, if > 1.
    signing_processes: int = field(default_factory=lambda: _default_signing_processes())
    # The inbox journal (federation/journal.py): an answer waits this long for the processing of an activity
    # that names a local actor or object, so its sender hears a refusal at once (0: answer at the commit).
    inbox_answer_wait: float = 5.0
    inbox_poll_interval: float = 1.0  # how often the processor looks for entries journaled by other processes
    inbox_concurrency: int = 16  # entries (other than plain posts) processed at once
    # While inbox requests are arriving, the processor waits up to this long between batches, so that on one
    # core the door answers first (the journal keeps what waits); 0: no waiting. Never once the oldest entry
    # waits longer than inbox_max_lag, nor while a request waits for its activity's outcome.
    inbox_give_way: float = 0.5
    inbox_max_lag: float = 10.0
    inbox_retry_base: float = 10.0  # seconds before a failed entry is processed again; doubles each time
    inbox_max_attempts: int = 6  # then the entry is parked with its error
    inbox_lease: float = 120.0  # a claimed entry whose process vanished is taken again after this (s)
    inbox_keep_days: float = 14.0  # processed (done or refused) entries are deleted after this; parked stay
    delivery_keep_days: float = 14.0  # delivered rows are deleted after this; failed ones stay for requeue
    # The clock (federation/decisions/clock.py): closes decisions and proposals at their deadline, reminds.
    clock_interval: float = 5.0  # seconds between its rounds
    decision_reminder_hours: float = 24.0  # members who have not voted are reminded this long before closing
    agreement_reminder_days: float = 30.0  # parties' members are reminded this long before an agreement ends
    signature_max_age: float = 65 * 60.0
    signature_max_future: float = 3600.0
    # An extra CA certificate file (PEM) trusted for outgoing https, e.g. a test CA on loopback.
    tls_ca_file: str = ""
    # Certificate and key (PEM) for `serve` to speak https itself (local testing; a proxy does it when live).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # A bearer token that opens /metrics; without one, /metrics answers only direct loopback requests.
    metrics_token: str = ""
    # Sign-in throttling (/login, /oauth/authorize, the password grant): failures allowed per window (s).
    login_failures_per_account: int = 10
    login_failures_per_address: int = 50
    login_failure_window: float = 900.0
    # Argon2id cost of new password hashes (each hash keeps its own, so changing these never locks anyone out).
    password_time_cost: int = 3
    password_memory_kib: int = 65536
    # Reverse proxies whose X-Forwarded-For names the client's address (for throttling).
    trusted_proxies: list = field(default_factory=lambda: ["127.0.0.1", "::1"])
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_types(self)
        self.base_url = self.base_url.rstrip("/")
        try:
            parts = urlsplit(self.base_url)
            parts.port
        except ValueError as error:
            raise SettingsError(f"base URL {self.base_url!r} is not a URL: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"base URL must be http(s)://host[:port], got {self.base_url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise SettingsError("base URL must not have a path, query or fragment")
        loopback = is_loopback_host(parts.hostname)
        if parts.scheme == "http" and not loopback:
            raise SettingsError("plain http:// base URLs are only for local testing on loopback addresses")
        self.local_testing = loopback
        check_database_url(self.database_url)
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise SettingsError("tls_cert_file and tls_key_file go together: set both or neither")

    @property
    def host(self) -> str:
        """The host as it appears in handles and Host headers (with a port if any)."""
        return urlsplit(self.base_url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme


# Settings that must be positive (the others only not negative); 0 is meaningful for signing_processes.
POSITIVE = {
    "max_inbox_bytes",
    "max_fetch_bytes",
    "fetch_timeout",
    "delivery_timeout",
    "delivery_concurrency",
    "delivery_per_host",
    "delivery_poll_interval",
    "inbox_poll_interval",
    "inbox_concurrency",
    "inbox_max_attempts",
    "inbox_lease",
    "clock_interval",
    "password_time_cost",
    "password_memory_kib",
}


TYPE_NAMES = {"str": "a string", "int": "an integer", "float": "a number"}


def _has_type(value, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, {"str": str, "int": int, "float": (int, float)}[kind])


def _check_types(settings: Settings) -> None:
    """Each setting has the type its default has (an int is fine where a float is meant), and numbers are
    not negative (nor zero where that makes no sense)."""
    for f in fields(settings):
        if f.type not in TYPE_NAMES:
            continue
        value = getattr(settings, f.name)
        if not _has_type(value, f.type):
            raise SettingsError(f"{f.name} must be {TYPE_NAMES[f.type]}, got {value!r}")
        if f.type == "str":
            continue
        positive = f.name in POSITIVE
        if value != value or value < 0 or (positive and value == 0):
            wanted = "positive" if positive else "zero or more"
            raise SettingsError(f"{f.name} must be {wanted}, got {value!r}")


def check_database_url(url: str) -> None:
    """Only SQLite files and PostgreSQL are supported; anything else is refused before we try to connect."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url.startswith("sqlite:///"):
        if url == "sqlite:///" or url.startswith("sqlite:///:memory:"):
            raise SettingsError("database_url must name a SQLite file (sqlite:////path/to/file.db)")
        return
    if not url.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        scheme = url.split(":", 1)[0] if ":" in url else url
        raise SettingsError(f"database_url must be sqlite:///FILE or postgresql://..., not {scheme!r}")
    try:
        parsed = make_url(url)
        parsed.port
    except (ArgumentError, ValueError) as error:
        raise SettingsError(f"database_url is not a readable URL: {error}") from None
    if not parsed.database:
        raise SettingsError("database_url names no database (postgresql://user@host/DBNAME)")
