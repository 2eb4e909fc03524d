"""Helpers of the forum stories: a space on A that members of B (and C) follow, signed-in browsers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.harness import Instance, wait_for


def threads(instance: Instance, space_handle: str) -> list[dict]:
    return instance.cli("space", "threads", space_handle, "--json").lines


def local_id(instance: Instance, uri: str) -> int:
    """The database id of an object (the N in /threads/N and /posts/N/...)."""
    return instance.sql("SELECT id FROM objects WHERE uri = :u", u=uri)[0][0]


def text_of(html: str) -> str:
    """The visible text of a page, in one line."""
    html = re.sub(r"<style>.*?</style>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@dataclass
class World:
    a: Instance
    b: Instance
    c: Instance
    space: str
    handle: str

    def thread(self, author_instance: Instance, author: str, title: str, text: str) -> str:
        """A thread posted by a member of B or C, once every instance holds it; its id."""
        uri = author_instance.cli("space", "post", author, self.handle, "--title", title, text).out.strip()
        for instance in (self.a, self.b, self.c):
            wait_for(
                lambda: any(t["id"] == uri for t in threads(instance, self.handle)),
                what=f"the thread on {instance.host}",
            )
        return uri

    def page_on(self, instance: Instance, uri: str) -> str:
        return instance.url(f"/threads/{local_id(instance, uri)}")


def make_world(factory) -> World:
    """A hosts the space `commons` (moderator `mod`), B's member `bea` and C's member `cai` join it."""
    a, b, c = factory.new("a"), factory.new("b"), factory.new("c")
    a.movement("forum", "Forum")
    a.member("mod", "forum", role="admin")
    a.member("ana", "forum")
    space = a.cli("space", "create", "commons", "--name", "Commons", "--movement", "forum").out.strip()
    handle = a.handle("commons")
    b.movement("water")
    b.member("bea", "water")
    c.movement("land")
    c.member("cai", "land")
    b.cli("space", "join", "bea", handle)
    c.cli("space", "join", "cai", handle)
    a.cli("space", "join", "ana", handle)
    wait_for(
        lambda: b.following_state("bea", space) == c.following_state("cai", space) == "accepted",
        what="the space to accept B's and C's follows",
    )
    return World(a, b, c, space, handle)
