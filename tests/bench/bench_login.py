"""Sign-in figures (not part of the test run): how long a wrong password and a missing account take on /login
(median of N each; their ratio should be near 1), and how many wrong passwords in a row one client gets in on
/login and on the password grant before it is refused (the throttle's limits), against a real instance.

    .venv/bin/python tests/bench/bench_login.py [--backend sqlite|postgresql] [--tries 21]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.harness import PG_ENV, InstanceFactory, csrf_of  # noqa: E402
from tests.mastodon_client import register  # noqa: E402


def timed_login(instance, username: str, password: str) -> tuple[float, int]:
    browser = requests.Session()
    form = browser.get(instance.url("/login"), timeout=10).text
    started = time.perf_counter()
    answer = browser.post(
        instance.url("/login"),
        data={"username": username, "password": password, "csrf": csrf_of(form)},
        allow_redirects=False,
        timeout=10,
    )
    return time.perf_counter() - started, answer.status_code


def until_refused(attempt, limit: int = 1000) -> int:
    """How many attempts were answered before the first 429."""
    for n in range(limit):
        if attempt() == 429:
            return n
    return limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--tries", type=int, default=21)
    args = parser.parse_args()
    if args.backend == "postgresql" and PG_ENV not in __import__("os").environ:
        sys.exit(f"set {PG_ENV} for the postgresql backend")
    with tempfile.TemporaryDirectory() as folder:
        factory = InstanceFactory(Path(folder), args.backend)
        try:
            timing = factory.new(
                "timing", login_failures_per_account=10_000, login_failures_per_address=10_000
            )
            timing.movement("landrights")
            timing.member("ana", "landrights")
            for _ in range(3):
                timed_login(timing, "ana", "wrong"), timed_login(timing, "ghost", "wrong")
            wrong = statistics.median(timed_login(timing, "ana", "wrong")[0] for _ in range(args.tries))
            missing = statistics.median(timed_login(timing, "ghost", "wrong")[0] for _ in range(args.tries))
            print(
                f"/login wrong password: median {wrong * 1000:.1f} ms; missing account: median "
                f"{missing * 1000:.1f} ms; ratio {missing / wrong:.2f} (before: 5 ms against 126 ms, 0.04)"
            )

            throttled = factory.new("throttled")
            throttled.movement("landrights")
            throttled.member("ana", "landrights")
            pages = until_refused(lambda: timed_login(throttled, "ana", "wrong")[1])
            client_id, secret = register(throttled, ["read"])
            grant = {
                "grant_type": "password",
                "client_id": client_id,
                "client_secret": secret,
                "scope": "read",
                "username": "bob",
                "password": "wrong",
            }
            api = until_refused(
                lambda: requests.post(throttled.url("/oauth/token"), data=grant, timeout=10).status_code
            )
            print(
                f"wrong passwords answered before 429: /login {pages} (one account), password grant {api} "
                f"(another account, same address) (before: no limit; 150 in 35 s)"
            )
        finally:
            factory.close()


if __name__ == "__main__":
    main()
