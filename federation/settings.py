"""The settings an instance runs with (read from its config file by the server)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
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
    inbox_retry_base: float = 10.0  # seconds before a failed entry is processed again; doubles each time
    inbox_max_attempts: int = 6  # then the entry is parked with its error
    inbox_lease: float = 120.0  # a claimed entry whose process vanished is taken again after this (s)
    signature_max_age: float = 65 * 60.0
    signature_max_future: float = 3600.0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"base URL must be http(s)://host[:port], got {self.base_url!r}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise SettingsError("base URL must not have a path, query or fragment")
        loopback = is_loopback_host(parts.hostname)
        if parts.scheme == "http" and not loopback:
            raise SettingsError("plain http:// base URLs are only for local testing on loopback addresses")
        self.local_testing = loopback

    @property
    def host(self) -> str:
        """The host as it appears in handles and Host headers (with a port if any)."""
        return urlsplit(self.base_url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme
