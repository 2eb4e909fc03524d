"""Benchmark of agreements (not part of the test run).

1. Verifying an agreement signed by 100 and by 1,000 parties (eddsa-jcs-2022 proofs over one JCS document),
   against the raw Ed25519 verification of as many signatures with `cryptography`, in the same process;
   the ratio of the two rates (target: >= 80%). Three ways: with keys already parsed (as an instance holds
   them), from a `--with-keys` bundle (parsing every actor document's Multikey), and the whole
   `interpeople verify bundle.json` command (reading and parsing the JSON file too).
2. The charter page of a movement party to 1,000 agreements: p50/p95 latency over real HTTP, next to a
   bare GET of the instance's NodeInfo as the baseline.

    .venv/bin/python tests/bench/bench_agreements.py [--backend sqlite|postgresql] [--requests 200]
                                                     [--charter-only]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bovine.crypto.multibase import encode_public_key_to_multibase  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from federation.agreements import verify as agreement_verify  # noqa: E402
from federation.agreements.charter import PAGE_SIZE  # noqa: E402
from federation.agreements.documents import document_context, version_document  # noqa: E402
from federation.agreements.verify import keys_from_actor_documents, verify_agreement  # noqa: E402
from federation.proofs import canonical, document_digest, make_proof  # noqa: E402
from models import Actor, Database  # noqa: E402
from models.agreement import Proposal, ProposalParty  # noqa: E402
from tests.bench.common import p50_p95, timed_gets  # noqa: E402
from tests.harness import PG_ENV, InstanceFactory  # noqa: E402

TEXT = (
    "## Article {n}\n\nThe parties share the water of the basin fairly, publish their rotas every month and bring "
    "disputes to the mediator before anyone else.\n\n"
) * 12


def build_agreement(parties: int) -> tuple[dict, dict, dict]:
    """An agreement signed by `parties` movements: (document, parsed keys by key id, actor documents)."""
    base = "https://a.example"
    uris = [f"https://h{i % 97}.example/actors/movement{i}" for i in range(parties)]
    document = version_document(
        context=document_context(base),
        agreement_uri=f"{base}/agreements/{uuid.uuid4()}",
        proposal_uri=f"{base}/proposals/{uuid.uuid4()}",
        author=uris[0],
        version_author=uris[0],
        title="Basin water charter",
        text=TEXT,
        parties=uris,
        mediator=None,
        start=None,
        end=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
        renews=None,
        previous=None,
    )
    digest = document_digest(document)
    proofs, keys, actors = [], {}, {}
    for uri in uris:
        private = ed25519.Ed25519PrivateKey.generate()
        method = uri + "#ed25519-key"
        proofs.append(make_proof(document, private, method, digest=digest))
        keys[method] = (uri, private.public_key())
        actors[uri] = {
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/multikey/v1"],
            "id": uri,
            "type": "Group",
            "inbox": uri + "/inbox",
            "preferredUsername": uri.rsplit("/", 1)[1],
            "assertionMethod": [
                {
                    "id": method,
                    "type": "Multikey",
                    "controller": uri,
                    "publicKeyMultibase": encode_public_key_to_multibase(private.public_key()),
                }
            ],
        }
    return {**document, "proof": proofs}, keys, actors


def interleaved(functions: dict, repeat: int) -> dict[str, float]:
    """Best time of each function, the runs interleaved so that load on a shared machine hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def raw_baseline(document: dict, keys: dict) -> callable:
    """The same number of Ed25519 verifications, with prepared keys, signatures and messages: the physical limit."""
    import hashlib

    from bovine.crypto.multibase import multibase_decode

    digest = document_digest(document)
    prepared = []
    for proof in document["proof"]:
        config = {k: v for k, v in proof.items() if k != "proofValue"}
        message = hashlib.sha256(canonical(config)).digest() + digest
        prepared.append(
            (keys[proof["verificationMethod"]][1], multibase_decode(proof["proofValue"]), message)
        )

    def run():
        for key, signature, message in prepared:
            key.verify(signature, message)

    return run


def verification(parties: int, repeat: int) -> None:
    document, keys, actors = build_agreement(parties)

    def parsed():
        assert verify_agreement(document, keys.get).ok

    def bundle():
        agreement_verify._public_key.cache_clear()
        assert verify_agreement(document, keys_from_actor_documents(actors.values()).get).ok

    folder = Path(tempfile.mkdtemp(prefix="bench-agreements-"))
    path = folder / "bundle.json"
    path.write_text(json.dumps({"agreement": document, "keys": actors}))

    def command():
        from server.cli import main

        agreement_verify._public_key.cache_clear()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["verify", str(path)]) == 0

    labels = {
        "verify, keys already parsed": parsed,
        "verify from a --with-keys bundle": bundle,
        "`interpeople verify bundle.json`": command,
    }
    found = interleaved({"raw": raw_baseline(document, keys), **labels}, repeat)
    raw = found["raw"]
    size = len(canonical({k: v for k, v in document.items() if k != "proof"}))
    print(f"\nagreement with {parties} parties ({size / 1024:.0f} KiB canonical text, {parties} proofs)")
    print(
        f"  raw Ed25519 verify x{parties} (cryptography): {raw * 1000:8.1f} ms  {parties / raw:8.0f} signatures/s"
    )
    for label in labels:
        took = found[label]
        print(
            f"  {label:40} {took * 1000:8.1f} ms  {parties / took:8.0f} signatures/s   ratio {raw / took:6.1%}"
        )


# ---------------------------------------------------------------- charter page


async def seed_charter(database_url: str, movement_uri: str, agreements: int) -> None:
    """1,000 agreements of one movement with 60 partner movements, written straight into the database."""
    db = Database(database_url)
    now = dt.datetime.now(dt.timezone.utc)
    async with db.session() as session:
        partners = [
            {
                "uri": f"https://p{i}.example/actors/m{i}",
                "type": "Group",
                "local": False,
                "username": f"m{i}",
                "host": f"p{i}.example",
                "name": f"Partner movement {i}",
                "inbox": f"https://p{i}.example/actors/m{i}/inbox",
                "created_at": now,
            }
            for i in range(60)
        ]
        await session.execute(insert(Actor), partners)
        rng = random.Random(7)
        proposals, members = [], []
        for n in range(agreements):
            key = uuid.uuid4()
            roll = rng.random()
            state = (
                "agreed"
                if roll < 0.7
                else "expired"
                if roll < 0.8
                else "superseded"
                if roll < 0.9
                else "agreed"
            )
            proposals.append(
                {
                    "uri": f"https://a.example/proposals/{key}",
                    "agreement_uri": f"https://a.example/agreements/{key}",
                    "local": False,
                    "author_uri": movement_uri,
                    "title": f"Agreement number {n} on shared work",
                    "state": state,
                    "current_version": f"{n:064x}",
                    "agreed_version": f"{n:064x}",
                    "agreement_canonical": "{}",
                    "agreed_at": now - dt.timedelta(hours=n),
                    "end_time": now + dt.timedelta(days=365)
                    if state != "expired"
                    else now - dt.timedelta(days=1),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await session.execute(insert(Proposal), proposals)
        ids = (await session.scalars(select(Proposal.id).order_by(Proposal.id))).all()
        for n, proposal_id in enumerate(ids):
            withdrew = rng.random() < 0.1
            members.append(
                {
                    "proposal_id": proposal_id,
                    "actor_uri": movement_uri,
                    "role": "party",
                    "position": 0,
                    "withdrawn_at": now if withdrew else None,
                }
            )
            for position, partner in enumerate(rng.sample(partners, 2), 1):
                members.append(
                    {
                        "proposal_id": proposal_id,
                        "actor_uri": partner["uri"],
                        "role": "party",
                        "position": position,
                    }
                )
        await session.execute(insert(ProposalParty), members)
    await db.close()


def latencies(url: str, count: int, headers: dict | None = None) -> list[float]:
    return timed_gets([url] * (count + 1), headers)[1:]  # the first GET warms up


def summary(label: str, values: list[float]) -> str:
    p50, p95 = p50_p95(values)
    return f"  {label:44} p50 {p50 * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def agreements_listed(html: str) -> int:
    """Agreement titles on a charter page (open proposals, listed after them, are not agreements)."""
    return html.split("Open proposals</h2>")[0].count('class="t"')


def charter_page(backend: str, count: int, agreements: int = 1_000) -> None:
    factory = InstanceFactory(Path(tempfile.mkdtemp(prefix="bench-charter-")), backend)
    try:
        instance = factory.new("charter", start=False)
        movement = instance.movement("bench", "Bench Movement")
        asyncio.run(seed_charter(instance.effective_database_url, movement, agreements))
        instance.start()
        page = instance.url("/actors/bench/charter")
        html = requests.get(page, timeout=30).text
        listed, number = agreements_listed(html), 1
        while (
            f'rel="next" href="?page={number + 1}"' in requests.get(f"{page}?page={number}", timeout=60).text
        ):
            number += 1
            listed += agreements_listed(requests.get(f"{page}?page={number}", timeout=30).text)
        assert listed == agreements, f"the pages list every agreement once ({listed} listed)"
        print(f"\ncharter: {agreements} agreements on {number} pages of up to {PAGE_SIZE}")
        print(
            f"charter page 1 of a movement with {agreements} agreements ({backend}, "
            f"{len(html) / 1024:.0f} KiB of HTML), "
            f"{count} sequential requests"
        )
        print(
            summary(
                "GET /.well-known/nodeinfo (baseline)",
                latencies(instance.url("/.well-known/nodeinfo"), count),
            )
        )
        print(summary("GET /actors/bench/charter (HTML, page 1)", latencies(page, count)))
        print(summary("GET /actors/bench/charter?page=10 (HTML)", latencies(f"{page}?page=10", count)))
        print(
            summary(
                "GET /actors/bench/charter (JSON-LD, page 1 embedded)",
                latencies(page, count, {"Accept": "application/activity+json"}),
            )
        )
    finally:
        factory.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--charter-only", action="store_true", help="only the charter page figures")
    args = parser.parse_args()
    if args.backend == "postgresql" and not os.environ.get(PG_ENV):
        parser.error(f"set {PG_ENV} to a PostgreSQL URL for --backend postgresql")
    for parties in () if args.charter_only else (100, 1_000):
        verification(parties, args.repeat)
    charter_page(args.backend, args.requests)


if __name__ == "__main__":
    main()
