"""The inbox pipeline and its one routing table: activity type [+ object type] -> preparer, handler, observers.

The pipeline of a received activity:
  1. federation/inbox.py `Inbox.receive`: size, JSON, HTTP signature, Digest, Date, the actor acts for itself
     (and an embedded object is the actor's own) -- refused at once with a 4xx;
  2. federation/journal.py: the raw activity is committed to the inbox journal (group commit), then 202;
  3. federation/inbox_worker.py: entries are claimed in journal order (one at a time per object) and
     processed: plain posts in bulk (federation/inbox_batch.py), everything else by `Inbox.apply`, which runs
     the route's preparer (network work, before the transaction), then in one transaction stores the
     activity, runs its handler and its observers, and marks the entry done.

The table below is the whole routing: nothing registers itself by being imported. A handler is chosen by
(activity type, object type) first, then (activity type, None); preparers likewise; observers by activity
type ("*" for all), in the order listed. Registering the same key twice is an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

Handler = Callable[..., Awaitable[None]]
Preparer = Callable[..., Awaitable[dict]]
Key = tuple[str, str | None]


class RouteConflict(ValueError):
    """The same key registered twice."""


def _name(fn: Callable) -> str:
    return f"{fn.__module__.removeprefix('federation.')}.{fn.__name__}"


@dataclass
class RoutingTable:
    handlers: dict[Key, Handler] = field(default_factory=dict)
    preparers: dict[Key, Preparer] = field(default_factory=dict)
    observers: dict[str, list[Handler]] = field(default_factory=dict)
    # Observers and preparers that act only on activities naming a local actor in to/cc/audience: plain
    # posts, which name none, may then be stored in bulk without calling them.
    addressed_here: set[Callable] = field(default_factory=set)

    def handle(self, activity_type: str, object_type: str | None, fn: Handler) -> None:
        if (activity_type, object_type) in self.handlers:
            raise RouteConflict(
                f"two handlers for {activity_type} {object_type or '*'}: "
                f"{_name(self.handlers[(activity_type, object_type)])} and {_name(fn)}"
            )
        self.handlers[(activity_type, object_type)] = fn

    def prepare(
        self, activity_type: str, object_type: str | None, fn: Preparer, addressed_here: bool = False
    ) -> None:
        if (activity_type, object_type) in self.preparers:
            raise RouteConflict(
                f"two preparers for {activity_type} {object_type or '*'}: "
                f"{_name(self.preparers[(activity_type, object_type)])} and {_name(fn)}"
            )
        self.preparers[(activity_type, object_type)] = fn
        if addressed_here:
            self.addressed_here.add(fn)

    def observe(self, activity_type: str, fn: Handler, addressed_here: bool = False) -> None:
        listed = self.observers.setdefault(activity_type, [])
        if fn in listed:
            raise RouteConflict(f"{_name(fn)} observes {activity_type} twice")
        listed.append(fn)
        if addressed_here:
            self.addressed_here.add(fn)

    # ------------------------------------------------------------ lookups

    def handler_for(self, activity_type: str, object_type: str | None) -> Handler | None:
        return self.handlers.get((activity_type, object_type)) or self.handlers.get((activity_type, None))

    def preparer_for(self, activity_type: str, object_type: str | None) -> Preparer | None:
        return self.preparers.get((activity_type, object_type)) or self.preparers.get((activity_type, None))

    def observers_for(self, activity_type: str) -> list[Handler]:
        return self.observers.get(activity_type, []) + self.observers.get("*", [])

    def plain_path(self, activity_type: str, object_type: str | None) -> Handler | None:
        """The handler of this type when no observer or preparer needs more than it (for bulk storing)."""
        hooks = self.observers_for(activity_type)
        preparer = self.preparer_for(activity_type, object_type)
        if preparer is not None:
            hooks.append(preparer)
        handler = self.handler_for(activity_type, object_type)
        return handler if all(hook in self.addressed_here for hook in hooks) else None

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(activity type, object type, role, function) for every route, sorted: the table as printed."""
        rows = [(a, o or "*", "handler", _name(fn)) for (a, o), fn in self.handlers.items()]
        rows += [
            (a, o or "*", "preparer" + (" (addressed here)" if fn in self.addressed_here else ""), _name(fn))
            for (a, o), fn in self.preparers.items()
        ]
        rows += [
            (
                a,
                "*",
                f"observer {i + 1}" + (" (addressed here)" if fn in self.addressed_here else ""),
                _name(fn),
            )
            for a, fns in self.observers.items()
            for i, fn in enumerate(fns)
        ]
        return sorted(rows)

    def describe(self) -> str:
        return "\n".join(f"{a:10} {o:10} {role:30} {fn}" for a, o, role, fn in self.rows())


def build() -> RoutingTable:
    """The table: core ActivityPub, then the Mastodon API's interactions, forum spaces and agreements."""
    from federation import inbox as core
    from federation import interaction_inbox as interactions
    from federation.agreements import inbox as agreements
    from federation.decisions import polls
    from federation.spaces import inbox as spaces

    table = RoutingTable()
    # core (federation/inbox.py)
    table.handle("Create", None, core.on_create)
    table.handle("Update", None, core.on_update)
    table.handle("Delete", None, core.on_delete)
    table.handle("Follow", None, core.on_follow)
    table.handle("Accept", "Follow", core.on_accept_follow)
    table.handle("Reject", "Follow", core.on_reject_follow)
    table.handle("Undo", None, core.on_undo)
    table.handle("Announce", None, core.on_announce)
    # Announce's one preparer is the spaces' one: it fetches what a space relays (Announce{Create}) and,
    # for a plain boost (Announce{post id}), calls the core's fetch_announced and adds the thread's
    # ancestors when a space boosts.
    table.prepare("Announce", None, spaces.prepare_announce)

    # what the Mastodon API shows: hashtags, favourites, boosts, notifications
    table.observe("Create", interactions.received_post, addressed_here=True)
    table.observe("Like", interactions.received_like)
    table.observe("Announce", interactions.received_boost)
    table.observe("Undo", interactions.received_undo)
    table.observe("Follow", interactions.received_follow)
    table.observe("Delete", interactions.received_delete)

    # forum spaces: a local space at work
    table.prepare("Create", None, spaces.backfill_for_space, addressed_here=True)
    table.observe("Create", spaces.space_takes_post, addressed_here=True)
    table.observe("Update", spaces.space_relays_update)
    table.observe("Delete", spaces.space_relays_delete)
    table.observe("Like", spaces.space_relays_like)
    table.observe("Undo", spaces.space_relays_unlike)
    table.observe("Follow", spaces.space_checks_follower)
    table.handle("Flag", None, spaces.space_takes_report)
    # forum spaces: following a remote space, and its moderation
    table.handle("Announce", "Create", spaces.on_space_announces_post)
    table.handle("Announce", "Update", spaces.on_space_announces_post)
    table.handle("Announce", "Delete", spaces.on_space_announces_delete)
    table.handle("Announce", "Like", spaces.on_space_announces_like)
    table.handle("Announce", "Undo", spaces.on_space_announces_undo)
    for moderation in ("Lock", "Block", "Add", "Remove"):  # a moderator's, Announced by the space (Lemmy)
        table.handle("Announce", moderation, spaces.on_space_announces_moderation)
    table.observe("Announce", spaces.index_announced_post)
    for post_type in ("Note", "Page", "Article"):
        table.handle("Delete", post_type, spaces.on_delete_post)
    table.observe("Undo", spaces.on_space_undoes_moderation)
    for activity_type, object_type in (("Lock", None), ("Lock", "Page"), ("Lock", "Note"), ("Block", None)):
        table.handle(activity_type, object_type, spaces.on_space_moderation)
    for activity_type in ("Add", "Remove"):  # pinned threads (featured) and moderators
        table.prepare(activity_type, None, spaces.prepare_collection_change)
        table.handle(activity_type, None, spaces.on_space_collection_change)

    # proposals and agreements: proofs verified before the transaction, then the lifecycle
    for activity_type, object_type in (
        ("Create", "Proposal"),
        ("Update", "Proposal"),
        ("Accept", "Agreement"),
        ("Reject", "Agreement"),
        ("Leave", None),
    ):
        table.prepare(activity_type, object_type, agreements.prepare)
    table.handle("Create", "Proposal", agreements.on_proposal)
    table.handle("Update", "Proposal", agreements.on_proposal)
    table.handle("Offer", "Agreement", agreements.on_offer)
    table.handle("Accept", "Agreement", agreements.on_sign)
    table.handle("Reject", "Agreement", agreements.on_decline)
    table.handle("Leave", None, agreements.on_leave)
    # internal decisions: a vote from the fediverse on a movement's open poll (FEP-9967)
    table.observe("Create", polls.vote_by_note, addressed_here=True)
    return table


_table: RoutingTable | None = None


def routes() -> RoutingTable:
    """The process's routing table, built at first use."""
    global _table
    if _table is None:
        _table = build()
    return _table
