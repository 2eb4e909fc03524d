"""`interpeople decision ...` and `interpeople movement set`: internal decisions from the command line."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from federation.agreements.store import proposal_by_uri
from federation.decisions.lifecycle import cast_vote, close_if_due, open_decision
from federation.decisions.settings import parse_settings, save_settings
from federation.refusal import Refusal
from federation.vocabulary import iso_or_none
from models import Actor, utcnow
from models.actor import local_actor
from models.agreement import Proposal
from models.decision import Decision, settings_of, votes_of
from server.commands.errors import CliError
from server.config import open_instance


async def _movement(session, name: str) -> Actor:
    actor = await local_actor(session, name)
    if actor is None or actor.type != "Group" or actor.movement_id is not None:
        raise CliError(f"no local movement called {name!r}")
    return actor


async def _decision(session, ref: str) -> Decision:
    """A decision by number or by its URL."""
    ref = ref.strip()
    if ref.isdigit():
        found = await session.get(Decision, int(ref))
    else:
        found = await session.scalar(select(Decision).where(Decision.uri == ref))
    if found is None:
        raise CliError(f"this instance has no decision {ref}")
    return found


def _when(args) -> dt.datetime | None:
    if args.closes:
        try:
            moment = dt.datetime.fromisoformat(args.closes.replace("Z", "+00:00"))
        except ValueError:
            raise CliError("--closes must be an ISO date and time, e.g. 2027-01-31T18:00:00Z") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    if args.hours is not None:
        if args.hours <= 0:
            raise CliError("--hours must be more than 0")
        return utcnow() + dt.timedelta(hours=args.hours)
    return None


async def decision_row(session, decision: Decision) -> dict:
    votes = await votes_of(session, decision.id)
    proposal = await session.get(Proposal, decision.proposal_id) if decision.proposal_id else None
    return {
        "id": decision.id,
        "url": decision.uri,
        "question": decision.question,
        "kind": decision.kind,
        "state": decision.state,
        "outcome": decision.outcome,
        "proposal": proposal.uri if proposal else None,
        "version": decision.version_hash,
        "members_only": decision.members_only,
        "quorum": decision.quorum,
        "threshold": decision.threshold,
        "electorate": decision.electorate,
        "closes": iso_or_none(decision.closes_at),
        "closed": iso_or_none(decision.closed_at),
        "votes": len(votes),
        "tally": decision.tally,
        "digest": decision.digest,
    }


async def cmd_movement_set(args) -> None:
    try:
        values = parse_settings(
            args.quorum, args.threshold, args.duration_hours, args.require_mandate, args.hide_results
        )
    except Refusal as error:
        raise CliError(error.message) from None
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            movement = await _movement(session, args.name)
            if values:
                await save_settings(session, movement.id, values)
            settings = await settings_of(session, movement.id)
            row = {
                "movement": movement.username,
                "quorum": settings.quorum,
                "threshold": settings.threshold,
                "require_mandate": settings.require_mandate,
                "hide_results": settings.hide_results,
                "duration_hours": settings.duration_hours,
            }
    print(json.dumps(row))


async def cmd_decision_open(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            proposal = await proposal_by_uri(session, args.proposal_url)
            if proposal is None:
                raise CliError(f"this instance knows no proposal {args.proposal_url}")
            movement = await _movement(session, args.as_)
            decision = await open_decision(
                session,
                fed,
                movement,
                proposal,
                args.question,
                args.kind,
                _when(args),
                members_only=not args.open_poll,
                hide_results=True if args.hide_results else None,
            )
    print(decision.uri)


async def cmd_decision_vote(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            decision = await _decision(session, args.decision)
            voter = await local_actor(session, args.as_)
            if voter is None or voter.type != "Person":
                raise CliError(f"no local member called {args.as_!r}")
            await cast_vote(session, fed, decision, voter, args.choice)
    print(f"{args.as_} voted {args.choice} in {decision.uri}")


async def cmd_decision_show(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            decision = await _decision(session, args.decision)
            await close_if_due(session, fed, decision)
            row = await decision_row(session, decision)
    if args.json:
        print(json.dumps(row))
    else:
        print(
            f"{row['url']}  {row['state']}{': ' + row['outcome'] if row['outcome'] else ''}  {row['question']}"
        )
        print(f"  {row['votes']} vote(s) of {row['electorate']} members; closes {row['closes']}")
        if row["digest"]:
            print(f"  outcome record sha-256 {row['digest']}")


async def cmd_decision_list(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            movement = await _movement(session, args.movement)
            decisions = (
                await session.scalars(
                    select(Decision).where(Decision.movement_id == movement.id).order_by(Decision.id.desc())
                )
            ).all()
            rows = [await decision_row(session, d) for d in decisions]
    for row in rows:
        print(
            json.dumps(row)
            if args.json
            else f"{row['id']}  {row['state']}{': ' + row['outcome'] if row['outcome'] else ''}  {row['question']}"
        )


def add_movement_commands(movement) -> None:
    p = movement.add_parser("set", help="how a movement decides: quorum, threshold, mandate, hidden results")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--quorum", help="share of members who must vote (0-1, or a percentage)")
    p.add_argument("--threshold", help="a decision passes when more than this share of agree+disagree agree")
    p.add_argument("--require-mandate", choices=("yes", "no"), help="signing needs a passing decision")
    p.add_argument("--hide-results", choices=("yes", "no"), help="hide results until a decision closes")
    p.add_argument("--duration-hours", help="default time a decision stays open")
    p.set_defaults(run=cmd_movement_set)


def add_commands(sub) -> None:
    decision = sub.add_parser("decision", help="internal decisions of a movement: open, vote, show, list")
    actions = decision.add_subparsers(dest="action", required=True)

    p = actions.add_parser("open", help="ask a movement's members about a proposal's current version")
    p.add_argument("proposal_url", metavar="PROPOSAL_URL")
    p.add_argument("--as", dest="as_", required=True, metavar="MOVEMENT")
    p.add_argument("--question", required=True)
    p.add_argument("--kind", choices=("consent", "agree"), default="consent")
    p.add_argument("--closes", metavar="TIME", help="deadline (ISO date and time, UTC)")
    p.add_argument("--hours", type=float, help="deadline in this many hours (default: the movement's)")
    p.add_argument("--open-poll", action="store_true", help="followers may vote too (a Question on Mastodon)")
    p.add_argument("--hide-results", action="store_true", help="hide results until it closes")
    p.set_defaults(run=cmd_decision_open)

    p = actions.add_parser("vote", help="a member votes (again: changes the vote)")
    p.add_argument("decision", metavar="DECISION", help="number or URL")
    p.add_argument("choice", help="consent|object, or agree|abstain|disagree|block")
    p.add_argument("--as", dest="as_", required=True, metavar="MEMBER")
    p.set_defaults(run=cmd_decision_vote)

    p = actions.add_parser("show", help="a decision, its votes count and its outcome")
    p.add_argument("decision", metavar="DECISION")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_decision_show)

    p = actions.add_parser("list", help="a movement's decisions, newest first")
    p.add_argument("movement")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_decision_list)
