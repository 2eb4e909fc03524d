"""CLI commands of agreements: proposal create|amend|sign|decline|withdraw|comment|show|list,
agreement list|withdraw|export, and verify (which needs no instance)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from urllib.parse import urldefrag

import aiohttp
from sqlalchemy import select

from federation.actors import ActorError, actor_document, get_actor, resolve_handle
from federation.agreements.actions import (
    amend,
    comment,
    create_proposal,
    decline,
    ensure_actors,
    sign,
    withdraw,
)
from federation.agreements.charter import charter
from federation.agreements.documents import agreement_document
from federation.agreements.lifecycle import expire_due, refresh_expiry
from federation.agreements.store import members_of, proposal_by_uri, signatures_of, versions_of
from federation.agreements.verify import MISSING, VERIFIED, keys_from_actor_documents, verify_agreement
from federation.content import parse_time
from federation.delivery import deliver_now
from federation.fetch import AP_ACCEPT, FetchError, check_url, get_checked, parse_json_document, read_limited
from federation.refusal import Refusal
from federation.urls import INSTANCE_ACTOR
from federation.vocabulary import as_list, iso_or_none
from models import Activity, Actor
from models.actor import actor_by_uri, local_actor
from models.agreement import AGREED_STATES, Proposal
from models.delivery import DeliveryState
from server.commands.errors import CliError
from server.config import open_instance


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def _date(value: str | None, end_of_day: bool) -> dt.datetime | None:
    """YYYY-MM-DD (the whole day, UTC) or a full ISO 8601 date and time."""
    if not value:
        return None
    if len(value) == 10:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise CliError(f"{value!r} is not a date (YYYY-MM-DD)") from None
        moment = dt.datetime.combine(day, dt.time(23, 59, 59) if end_of_day else dt.time(0, 0, 0))
        return moment.replace(tzinfo=dt.timezone.utc)
    moment = parse_time(value)
    if moment is None:
        raise CliError(f"{value!r} is not a date (YYYY-MM-DD)")
    return moment


def _translations(values: list[str] | None) -> dict[str, str]:
    found = {}
    for value in values or []:
        lang, sep, path = value.partition("=")
        if not sep or not lang:
            raise CliError(f"--translation takes LANG=FILE, got {value!r}")
        found[lang] = _read_text(path)
    return found


async def _movement(session, name: str) -> Actor:
    actor = await local_actor(session, name)
    if (
        actor is None
        or actor.username == INSTANCE_ACTOR
        or actor.type != "Group"
        or actor.movement_id is not None
    ):
        raise CliError(f"no local movement called {name!r}")
    return actor


async def _actor_ref(fed, ref: str) -> Actor:
    """A movement by handle (name@host) or actor URL."""
    try:
        if "://" in ref:
            return await get_actor(fed, ref)
        return await resolve_handle(fed, ref)
    except ActorError as error:
        raise CliError(str(error)) from None


async def _proposal(session, url: str) -> Proposal:
    proposal = await proposal_by_uri(session, url)
    if proposal is None:
        raise CliError(f"this instance knows no proposal or agreement {url}")
    return proposal


async def _deliver_to_origin(fed, activity: Activity | None, proposal_author: str) -> None:
    """Delivers an activity to the proposal's origin now, so that a refusal is reported here."""
    if activity is None:
        return
    async with fed.db.session() as session:
        origin = await actor_by_uri(session, proposal_author)
    if origin is None:
        return
    for outcome in await deliver_now(fed, activity, origin.delivery_inbox):
        if outcome.state == DeliveryState.failed:
            raise CliError(f"the proposal's origin refused it: {outcome.error}")
        if outcome.state == DeliveryState.retrying:
            print(
                f"warning: the proposal's origin is not answering; delivery will be retried ({outcome.error})",
                file=sys.stderr,
            )


# ---------------------------------------------------------------- proposal ...


async def cmd_proposal_create(args) -> None:
    text = _read_text(args.text_file)
    if not text.strip():
        raise CliError("the proposal's text is empty")
    translations = _translations(args.translation)
    start, end = _date(args.starts, False), _date(args.ends, True)
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            author = await _movement(session, args.movement)
        parties = [await _actor_ref(fed, h) for h in args.party]
        mediator = await _actor_ref(fed, args.mediator) if args.mediator else None
        if args.renews:
            async with fed.db.session() as session:
                old = await proposal_by_uri(session, args.renews)
                old_members = [m.actor_uri for m in await members_of(session, old)] if old else []
            await ensure_actors(fed, old_members)
        async with fed.db.session() as session:
            proposal = await create_proposal(
                session,
                fed,
                await session.get(Actor, author.id),
                args.title,
                text,
                [await session.get(Actor, p.id) for p in parties],
                await session.get(Actor, mediator.id) if mediator else None,
                start,
                end,
                args.renews,
                args.language,
                translations,
            )
    print(proposal.uri)


async def _prepare_to_act(fed, url: str, movement: str) -> tuple[Proposal, Actor]:
    """The proposal and the local movement, with every party and the mediator known (to reach them)."""
    async with fed.db.session() as session:
        proposal = await _proposal(session, url)
        actor = await _movement(session, movement)
        members = [m.actor_uri for m in await members_of(session, proposal)]
    await ensure_actors(fed, members)
    return proposal, actor


async def cmd_proposal_amend(args) -> None:
    text = _read_text(args.text_file)
    if not text.strip():
        raise CliError("the amended text is empty")
    translations = _translations(args.translation)
    async with open_instance(args.data) as fed:
        proposal, actor = await _prepare_to_act(fed, args.proposal_url, args.as_)
        async with fed.db.session() as session:
            version, offer = await amend(
                session,
                fed,
                await session.get(Actor, actor.id),
                await session.get(Proposal, proposal.id),
                text,
                args.title,
                translations,
                args.language,
            )
        try:
            await _deliver_to_origin(fed, offer, proposal.author_uri)
        except Exception:
            async with fed.db.session() as session:  # the origin refused: the pending version goes
                pending = await session.get(type(version), version.id)
                if pending is not None and pending.seq is None:
                    await session.delete(pending)
            raise
    print(version.hash)


def _acting_command(action, verb: str):
    async def run(args) -> None:
        async with open_instance(args.data) as fed:
            proposal, actor = await _prepare_to_act(fed, args.url, args.as_)
            async with fed.db.session() as session:
                found = await session.get(Proposal, proposal.id)
                activity = await action(session, fed, await session.get(Actor, actor.id), found, args)
                state = found.state
            if not proposal.local:
                await _deliver_to_origin(fed, activity, proposal.author_uri)
        print(f"{args.as_} {verb} {args.url} (now {state.replace('_', ' ')})")

    return run


async def _member(session, actor: Actor, name: str | None) -> Actor | None:
    """The member who acts for the movement (--by), one of its signatories or admins."""
    if not name:
        return None
    member = await local_actor(session, name)
    if member is None or member.movement_id != actor.id:
        raise CliError(f"{name!r} is not a member of {actor.username}")
    if member.role not in ("signatory", "admin"):
        raise CliError(f"{name} is a {member.role}; only signatories and admins act for {actor.username}")
    return member


async def _sign(session, fed, actor, proposal, args):
    by = await _member(session, actor, args.by)
    return await sign(session, fed, actor, proposal, by, args.reason)


async def _decline(session, fed, actor, proposal, args):
    by = await _member(session, actor, args.by)
    return await decline(session, fed, actor, proposal, args.reason, by)


async def _withdraw(session, fed, actor, proposal, args):
    return await withdraw(session, fed, actor, proposal, from_agreement=False)


async def _withdraw_from_agreement(session, fed, actor, proposal, args):
    if proposal.agreed_version is None:
        raise Refusal(409, f"{args.url} has not been agreed; its author withdraws the proposal instead")
    return await withdraw(session, fed, actor, proposal, from_agreement=True)


async def cmd_proposal_comment(args) -> None:
    text = args.text if args.text != "-" else sys.stdin.read()
    if not text.strip():
        raise CliError("nothing to say: the comment is empty")
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            proposal = await _proposal(session, args.url)
            actor = await local_actor(session, args.as_)
            if actor is None or actor.username == INSTANCE_ACTOR:
                raise CliError(f"no local movement or member called {args.as_!r}")
            members = [m.actor_uri for m in await members_of(session, proposal)]
        await ensure_actors(fed, members)
        async with fed.db.session() as session:
            obj = await comment(
                session,
                fed,
                await session.get(Actor, actor.id),
                await session.get(Proposal, proposal.id),
                text,
                args.reply_to,
            )
    print(obj.uri)


async def proposal_summary(session, proposal: Proposal) -> dict:
    members = await members_of(session, proposal)
    parties = [m for m in members if m.role == "party"]
    signatures = await signatures_of(session, proposal)
    versions = await versions_of(session, proposal)
    by_version: dict[str, list[str]] = {}
    for s in signatures:
        by_version.setdefault(s.version_hash, []).append(s.signer_uri)
    declined = {m.actor_uri: (m.decline or {}).get("version") for m in parties if m.declined_at}
    return {
        "url": proposal.uri,
        "agreement": proposal.agreement_uri,
        "title": proposal.title,
        "status": proposal.state,
        "origin": proposal.local,
        "author": proposal.author_uri,
        "parties": [m.actor_uri for m in parties],
        "mediator": proposal.mediator_uri,
        "renews": proposal.renews_uri,
        "superseded_by": proposal.superseded_by_uri,
        "current_version": proposal.current_version,
        "agreed_version": proposal.agreed_version,
        "start": iso_or_none(proposal.start_time),
        "end": iso_or_none(proposal.end_time),
        "versions": [
            {
                "version": v.hash,
                "seq": v.seq,
                "author": v.author_uri,
                "title": v.document.get("name"),
                "published": v.document.get("published"),
                "current": v.hash == proposal.current_version,
                "signed_by": by_version.get(v.hash, []),
                "declined_by": [u for u, h in declined.items() if h == v.hash],
            }
            for v in versions
        ],
        "signatures": by_version,
        "declined_by": list(declined),
        "withdrawn_by": [m.actor_uri for m in parties if m.withdrawn_at],
        "acted": [
            {
                "signer": s.signer_uri,
                "version": s.version_hash,
                "acted_by": s.acted_by_uri,
                "reason": s.reason,
                "mandate": s.mandate_uri,
                "mandate_digest": s.mandate_digest,
            }
            for s in signatures
            if s.acted_by_uri or s.reason or s.mandate_uri
        ],
    }


async def cmd_proposal_show(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            proposal = await _proposal(session, args.url)
            await refresh_expiry(session, proposal)
            summary = await proposal_summary(session, proposal)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    print(f"{summary['title']}  [{summary['status']}]\n  {summary['url']}")
    for v in summary["versions"]:
        mark = "*" if v["current"] else " "
        print(
            f" {mark} v{v['seq'] or '?'} {v['version'][:16]}…  by {v['author']}  signed by {len(v['signed_by'])}"
            f"/{len(summary['parties'])}"
        )


async def cmd_proposal_list(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            await expire_due(session)
            query = select(Proposal).order_by(Proposal.created_at.desc(), Proposal.id.desc())
            if args.movement:
                from models.agreement import ProposalParty

                movement = await _movement(session, args.movement)
                query = query.where(
                    Proposal.id.in_(
                        select(ProposalParty.proposal_id).where(ProposalParty.actor_uri == movement.uri)
                    )
                )
            rows = (await session.scalars(query)).all()
    for p in rows:
        row = {
            "url": p.uri,
            "title": p.title,
            "status": p.state,
            "version": p.current_version,
            "origin": p.local,
        }
        print(json.dumps(row, ensure_ascii=False) if args.json else f"{p.state:20} {p.title}  ({p.uri})")


# ---------------------------------------------------------------- agreement ...


async def cmd_agreement_list(args) -> None:
    async with open_instance(args.data) as fed:
        if "@" in args.movement:
            uri = (await _actor_ref(fed, args.movement)).uri
        else:
            async with fed.db.session() as session:
                uri = (await _movement(session, args.movement)).uri
        async with fed.db.session() as session:
            rows = await charter(session, uri)
    for item in rows:
        row = {
            "url": item.agreement_uri,
            "proposal": item.uri,
            "title": item.title,
            "status": item.status,
            "state": item.state,
            "parties": item.parties,
            "withdrawn_by": item.withdrawn_by,
            "version": item.agreed_version,
            "renews": item.renews_uri,
            "superseded_by": item.superseded_by_uri,
            "agreed": iso_or_none(item.agreed_at),
            "start": iso_or_none(item.start_time),
            "end": iso_or_none(item.end_time),
        }
        print(
            json.dumps(row, ensure_ascii=False)
            if args.json
            else f"{row['status']:10} {item.title}  ({row['url']})"
        )


async def _agreement(session, url: str) -> Proposal:
    proposal = await _proposal(session, url)
    if proposal.state not in {s.value for s in AGREED_STATES} or not proposal.agreement_canonical:
        raise CliError(f"{url} is not an agreement (yet): it is {proposal.state.replace('_', ' ')}")
    return proposal


async def signer_documents(session, fed, document: dict) -> dict[str, dict]:
    """The actor document (with its keys) of everyone who signed, as this instance knows them."""
    from federation.agreements.verify import parties_of

    found: dict[str, dict] = {}
    for uri in parties_of(document):
        actor = await actor_by_uri(session, uri)
        if actor is None:
            continue
        found[uri] = await actor_document(session, fed, actor) if actor.local else (actor.document or {})
    return found


async def agreement_bundle(session, fed, proposal: Proposal) -> dict:
    document = agreement_document(proposal)
    withdrawals = [
        m.withdrawal for m in await members_of(session, proposal) if m.withdrawal and m.role == "party"
    ]
    return {
        "agreement": document,
        "keys": await signer_documents(session, fed, document),
        "withdrawals": withdrawals,
        "status": proposal.state,
    }


async def cmd_agreement_export(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            proposal = await _agreement(session, args.url)
            if not args.with_keys:
                print(proposal.agreement_canonical)
                return
            bundle = await agreement_bundle(session, fed, proposal)
    print(json.dumps(bundle, ensure_ascii=False, indent=1))


# ---------------------------------------------------------------- verify (no instance needed)


async def _fetch_json(http: aiohttp.ClientSession, url: str) -> dict:
    try:  # no instance here, so no address policy; every hop must still be http(s)
        async with get_checked(
            http, url, lambda hop: check_url(hop, allow_private=True), lambda hop: {"Accept": AP_ACCEPT}
        ) as response:
            if response.status >= 400:
                raise FetchError(f"{url} answered {response.status}", response.status)
            return parse_json_document(await read_limited(response, 5_000_000), url)
    except asyncio.TimeoutError:
        raise FetchError(f"{url} did not answer in time") from None
    except aiohttp.ClientError as error:
        raise FetchError(f"cannot reach {url}: {error}") from None


async def _fetch_signers(document: dict) -> list[dict]:
    """Each signer's actor document, fetched from where its key id points (id checked)."""
    urls = {
        urldefrag(p["verificationMethod"])[0]
        for p in as_list(document.get("proof"))
        if isinstance(p, dict) and isinstance(p.get("verificationMethod"), str)
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:

        async def one(url: str):
            try:
                found = await _fetch_json(http, url)
            except FetchError as error:
                print(f"cannot fetch {url}: {error}", file=sys.stderr)
                return None
            return found if found.get("id") == url else None

        return [d for d in await asyncio.gather(*(one(u) for u in sorted(urls))) if d]


async def cmd_verify(args) -> None:
    source = args.source
    if source.startswith(("http://", "https://")):
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            data = await _fetch_json(http, source)
    else:
        try:
            raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
            data = json.loads(raw)
        except (OSError, ValueError) as error:
            raise CliError(f"cannot read an agreement from {source}: {error}") from None
    if not isinstance(data, dict):
        raise CliError(f"{source} holds no agreement document")
    bundle = isinstance(data.get("agreement"), dict) and "keys" in data
    document = data["agreement"] if bundle else data
    if bundle:
        keys_source = data["keys"].values() if isinstance(data["keys"], dict) else as_list(data["keys"])
    else:
        keys_source = await _fetch_signers(document)
    report = verify_agreement(document, keys_from_actor_documents(keys_source).get)
    for check in report.parties + report.strangers:
        detail = f"  ({check.detail})" if check.detail and check.status != VERIFIED else ""
        print(f"{check.status:9} {check.party}{detail}")
    verified = sum(1 for p in report.parties if p.status == VERIFIED)
    print(
        f"version {report.version}: {verified} of {len(report.parties)} parties verified"
        + (" (keys from the bundle)" if bundle else " (keys fetched)"),
        file=sys.stderr,
    )
    if not report.ok:
        missing = sum(1 for p in report.parties if p.status == MISSING)
        raise CliError(
            f"the agreement does not verify: {len(report.parties) - verified} of {len(report.parties)} "
            f"parties not verified ({missing} missing)"
            + (f", {len(report.strangers)} foreign proofs" if report.strangers else "")
        )


# ---------------------------------------------------------------- parser


def add_commands(sub) -> None:
    proposal = sub.add_parser(
        "proposal", help="proposals between movements: create, amend, sign, decline, show"
    )
    actions = proposal.add_subparsers(dest="action", required=True)

    p = actions.add_parser("create", help="a local movement proposes an agreement; prints the proposal's URL")
    p.add_argument("movement")
    p.add_argument("--title", required=True)
    p.add_argument("--text-file", required=True, help="the text (Markdown); - reads stdin")
    p.add_argument(
        "--party", action="append", required=True, metavar="HANDLE", help="another party; repeatable"
    )
    p.add_argument("--mediator", metavar="HANDLE")
    p.add_argument("--starts", metavar="YYYY-MM-DD", help="when the agreement takes effect")
    p.add_argument("--ends", metavar="YYYY-MM-DD", help="last day the agreement is valid (UTC)")
    p.add_argument("--renews", metavar="AGREEMENT_URL", help="the agreement this one renews (and supersedes)")
    p.add_argument("--language", metavar="LANG", help="the language of the text (e.g. en)")
    p.add_argument("--translation", action="append", metavar="LANG=FILE", help="the text in another language")
    p.set_defaults(run=cmd_proposal_create)

    p = actions.add_parser("amend", help="a new version by a party or the mediator; prints its version id")
    p.add_argument("proposal_url")
    p.add_argument("--as", dest="as_", required=True, metavar="MOVEMENT")
    p.add_argument("--text-file", required=True)
    p.add_argument("--title")
    p.add_argument("--language", metavar="LANG")
    p.add_argument("--translation", action="append", metavar="LANG=FILE")
    p.set_defaults(run=cmd_proposal_amend)

    for name, action, verb, text in (
        ("sign", _sign, "signed", "sign the current version"),
        ("decline", _decline, "declined", "decline the current version"),
        ("withdraw", _withdraw, "withdrew", "the author withdraws its proposal (before agreement)"),
    ):
        p = actions.add_parser(name, help=text)
        p.add_argument("url", metavar="PROPOSAL_URL")
        p.add_argument("--as", dest="as_", required=True, metavar="MOVEMENT")
        if name in ("sign", "decline"):
            p.add_argument("--reason", help="why (shown to every party)")
            p.add_argument("--by", metavar="MEMBER", help="the signatory or admin acting for the movement")
        p.set_defaults(run=_acting_command(action, verb))

    p = actions.add_parser("comment", help="say something in a proposal's discussion; prints the Note's URL")
    p.add_argument("url", metavar="PROPOSAL_URL")
    p.add_argument("--as", dest="as_", required=True, metavar="ACTOR")
    p.add_argument("--reply-to", metavar="NOTE_URL")
    p.add_argument("text", help="Markdown, or - to read stdin")
    p.set_defaults(run=cmd_proposal_comment)

    p = actions.add_parser("show", help="status, versions and signatures per version")
    p.add_argument("url", metavar="PROPOSAL_URL")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_proposal_show)

    p = actions.add_parser("list", help="proposals this instance knows (of one local movement)")
    p.add_argument("movement", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_proposal_list)

    agreement = sub.add_parser(
        "agreement", help="agreements in force: a movement's charter, withdraw, export"
    )
    actions = agreement.add_subparsers(dest="action", required=True)

    p = actions.add_parser("list", help="a movement's charter: one agreement a line")
    p.add_argument("movement")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_agreement_list)

    p = actions.add_parser("withdraw", help="a party withdraws from an agreement (signed)")
    p.add_argument("url", metavar="AGREEMENT_URL")
    p.add_argument("--as", dest="as_", required=True, metavar="MOVEMENT")
    p.set_defaults(run=_acting_command(_withdraw_from_agreement, "withdrew from"))

    p = actions.add_parser("export", help="print the signed agreement document (JSON-LD with its proof set)")
    p.add_argument("url", metavar="AGREEMENT_URL")
    p.add_argument(
        "--with-keys", action="store_true", help="a bundle with every signer's actor document and keys"
    )
    p.set_defaults(run=cmd_agreement_export)

    p = sub.add_parser(
        "verify", help="check every party's proof of an agreement (file, bundle or URL); no --data needed"
    )
    p.add_argument(
        "source", metavar="SOURCE", help="agreement document or bundle file, - for stdin, or agreement URL"
    )
    p.set_defaults(run=cmd_verify)
