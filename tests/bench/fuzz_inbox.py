"""A long fuzz run of the inbox (not part of the test run): mutated, correctly signed activities, counted.

Instance A serves the inbox; instance B is the sender ("water"), whose key signs every input and whose
actor document A fetches. Inputs come from tests/fuzzing.py (a seed makes a run repeatable) and are sent
by --concurrency clients at once. Printed: inputs sent, status counts, server errors (5xx, with the first
few inputs), journal entries by state (parked: failed in processing), unhandled errors in A's log, and
whether A still stores an ordinary post at the end.
Target: 0 server errors in 100,000 inputs.

    .venv/bin/python tests/bench/fuzz_inbox.py [--inputs 100000] [--seed 1] [--concurrency 8]
        [--backend sqlite|postgresql] [--max-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from federation.keys import secret_for  # noqa: E402
from federation.signatures import sign_request  # noqa: E402
from tests.fuzzing import Mutator  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory, wait_for  # noqa: E402
from tests.signing import create_note, signed_post  # noqa: E402


async def fuzz(
    inbox: str, mutator: Mutator, secret, inputs: int, concurrency: int, max_seconds: float
) -> tuple[collections.Counter, list]:
    counts: collections.Counter = collections.Counter()
    errors: list = []
    queue: asyncio.Queue = asyncio.Queue(maxsize=concurrency * 2)

    async def client(http: aiohttp.ClientSession) -> None:
        while (body := await queue.get()) is not None:
            headers = sign_request("post", inbox, secret, body)
            headers["content-type"] = "application/activity+json"
            try:
                async with http.post(inbox, data=body, headers=headers) as response:
                    text = await response.text(errors="replace")
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status, text = 599, f"no answer: {error!r}"
            counts[status] += 1
            if status >= 500:
                errors.append((status, text[:200], body[:300]))

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        workers = [asyncio.create_task(client(http)) for _ in range(concurrency)]
        started = time.monotonic()
        for sent in range(1, inputs + 1):
            if time.monotonic() - started > max_seconds:
                print(f"  stopped after {max_seconds:.0f}s (--max-seconds)", flush=True)
                break
            await queue.put(mutator.next_input())
            if sent % 5000 == 0:
                print(
                    f"  {sent} inputs queued, {time.monotonic() - started:.0f}s, statuses so far "
                    f"{dict(sorted(counts.items()))}",
                    flush=True,
                )
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    return counts, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--max-seconds", type=float, default=float("inf"), help="stop sending after this long"
    )
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        sys.exit(f"set {PG_ENV} for the PostgreSQL run")

    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="fuzz-inbox-")), args.backend)
    try:
        a, b = factory.new("a", start=False), factory.new("b", start=False)
        a.start(timeout=300), b.start(timeout=300)  # a loaded machine starts slowly
        landrights = a.movement("landrights")
        a.member("ana", "landrights")
        water = b.movement("water")
        a.cli("follow", "landrights", b.handle("water"))
        wait_for(lambda: a.following_state("landrights", water) == "accepted", what="water accepts")
        key = b.private_key("water")
        mutator = Mutator(
            args.seed,
            water,
            b.base_url,
            [landrights, a.url("/actors/ana"), a.url("/actor")],
            "http://127.0.0.1:9",
        )
        print(
            f"fuzzing {a.url('/inbox')} ({args.backend}) with {args.inputs} inputs, seed {args.seed}, "
            f"{args.concurrency} clients"
        )
        started = time.monotonic()
        counts, errors = asyncio.run(
            fuzz(
                a.url("/inbox"),
                mutator,
                secret_for(*key, "rsa"),
                args.inputs,
                args.concurrency,
                args.max_seconds,
            )
        )
        seconds = time.monotonic() - started
        healthy = create_note(water, b.base_url, "after the fuzz", to=[landrights])
        answer = signed_post(a.url("/inbox"), healthy, key).status_code
        a.wait_inbox_drained(timeout=1800)
        journal = dict(a.sql("SELECT state, count(*) FROM inbox_entries GROUP BY state", drained=False))
        stored = bool(a.sql("SELECT 1 FROM objects WHERE uri = :u", u=healthy["object"]["id"]))
        log = a.log_path.read_text(errors="replace")
        sent = sum(counts.values())
        print(f"inputs sent: {sent} in {seconds:.0f}s ({sent / seconds:.0f}/s)")
        print(f"status counts: {dict(sorted(counts.items()))}")
        print(f"server errors (5xx or no answer): {len(errors)}")
        for status, text, body in errors[:5]:
            print(f"  {status} {text!r} for {body!r}")
        print(
            f"journal entries by state: {journal} (parked or retrying = failed in processing: "
            f"{journal.get('parked', 0) + journal.get('retrying', 0)})"
        )
        print(f"unhandled errors in the server log (Traceback): {log.count('Traceback')}")
        print(f"an ordinary post afterwards: answered {answer}, stored: {stored}")
    finally:
        factory.close()


if __name__ == "__main__":
    main()
