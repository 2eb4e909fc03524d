"""CLI commands for ways in: `invite create|list`, `member reset` (a one-time password link), `block add|remove|list`."""

from __future__ import annotations

import json

from federation.accounts.blocks import block_domain, list_blocks, normalise_domain, unblock_domain
from federation.accounts.invitations import create_invitation, invitation_url, list_invitations, state_of
from federation.accounts.resets import create_reset, reset_url
from models.actor import ROLES, local_movement, local_person
from server.commands.errors import CliError
from server.config import open_instance


async def cmd_invite_create(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            movement = await local_movement(session, args.movement)
            if movement is None:
                raise CliError(f"no local movement called {args.movement!r}")
            _, token = await create_invitation(session, movement, args.role, args.uses, args.days)
        print(invitation_url(fed, token))


async def cmd_invite_list(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            rows = await list_invitations(session)
    for invitation, movement in rows:
        row = {
            "id": invitation.id,
            "movement": movement.username,
            "role": invitation.role,
            "used": invitation.used,
            "uses": invitation.uses,
            "expires": invitation.expires_at.isoformat(),
            "state": state_of(invitation),
        }
        print(json.dumps(row) if args.json else "\t".join(str(v) for v in row.values()))


async def cmd_member_reset(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            member = await local_person(session, args.username)
            if member is None:
                raise CliError(f"no local member called {args.username!r}")
            token = await create_reset(session, member)
        print(reset_url(fed, token))


async def cmd_block(args) -> None:
    async with open_instance(args.data) as fed:
        async with fed.db.session() as session:
            if args.action == "add":
                block = await block_domain(session, args.domain, args.reason, None)
                print(f"blocked {block.domain}")
            elif args.action == "remove":
                domain = normalise_domain(args.domain)
                if not await unblock_domain(session, domain):
                    raise CliError(f"{domain} is not blocked")
                print(f"unblocked {domain}")
            else:
                for block in await list_blocks(session):
                    print(f"{block.domain}\t{block.reason or ''}")


def _positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = kind.__name__
    return parse


def add_commands(sub) -> None:
    invite = sub.add_parser("invite", help="invitation links to become a member").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    p = invite.add_parser("create", help="make an invitation link to a movement; prints the link")
    p.add_argument("--movement", required=True, help="the local movement the invited person joins")
    p.add_argument("--role", choices=ROLES, default="member")
    p.add_argument("--uses", type=_positive(int), default=1, help="how many people may use it (default 1)")
    p.add_argument("--days", type=_positive(float), default=7, help="how long it stays valid (default 7)")
    p.set_defaults(run=cmd_invite_create)
    p = invite.add_parser("list", help="the invitations, newest first")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_invite_list)

    p = sub.add_parser("reset-password", help="a one-time link with which a member chooses a new password")
    p.add_argument("username")
    p.set_defaults(run=cmd_member_reset)

    block = sub.add_parser("block", help="instance and domain blocks (their activities are refused)")
    actions = block.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("add", help="block a domain (and its subdomains)")
    p.add_argument("domain")
    p.add_argument("--reason", default=None)
    p.set_defaults(run=cmd_block)
    p = actions.add_parser("remove", help="lift a block")
    p.add_argument("domain")
    p.set_defaults(run=cmd_block)
    p = actions.add_parser("list", help="the blocked domains")
    p.set_defaults(run=cmd_block)
