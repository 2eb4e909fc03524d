"""Moderators confirm each action and give a reason; the public moderation log lists it; a banned member
sees a clear page; bans are lifted from the ban list; moderators are added and removed across instances."""

import re

import pytest
import requests

from tests.forum_world import local_id, make_world, text_of, threads
from tests.harness import post_form, sign_in, wait_for


@pytest.fixture(scope="module")
def world(module_instances):
    return make_world(module_instances)


def moderate(mod, instance, thread_uri, post_uri, action, reason):
    n, post = local_id(instance, thread_uri), local_id(instance, post_uri)
    confirm = instance.url(f"/threads/{n}/moderate?post={post}&action={action}")
    page = mod.get(confirm).text
    assert re.search(r'name="reason"[^>]*required', page), "a reason is asked for"
    return post_form(
        mod, confirm, instance.url(f"/threads/{n}/moderate"), post=post, action=action, reason=reason
    )


def test_a_ban_with_its_reason_is_in_the_public_log_and_the_member_sees_why(world):
    a, b = world.a, world.b
    b.member("ben", "water")
    b.cli("space", "join", "ben", world.handle)
    wait_for(lambda: b.following_state("ben", world.space) == "accepted", what="ben's follow accepted")
    uri = world.thread(b, "ben", "Buy now", "Spam spam spam")
    mod = sign_in(a, "mod")
    moderate(mod, a, uri, uri, "ban", "selling watches")

    log = text_of(requests.get(a.url("/spaces/commons/modlog"), timeout=10).text)
    assert f"mod banned ben @ben@{b.host} selling watches" in log
    log_on_b = wait_for(
        lambda: (
            "selling watches" in (p := text_of(requests.get(b.url(f"/spaces/{world.handle}/modlog")).text))
            and p
        ),
        what="the ban in B's copy of the log",
    )
    assert "the space banned ben" in log_on_b
    ban = a.cli("space", "modlog", "commons", "--json").lines[0]
    assert (
        ban["action"] == "ban"
        and ban["target"] == b.url("/actors/ben")
        and ban["reason"] == "selling watches"
    )
    assert ban["moderator"] == a.url("/actors/mod")

    ben = sign_in(b, "ben")
    page = wait_for(
        lambda: (
            "You are banned from this space" in (p := ben.get(b.url(f"/spaces/{world.handle}")).text) and p
        ),
        what="the ban on B",
    )
    assert "selling watches" in page and 'name="title"' not in page and "Join this space" not in page
    refused = post_form(
        ben,
        b.url(f"/spaces/{world.handle}"),
        b.url(f"/spaces/{world.handle}/threads"),
        title="Again",
        text="Hi",
    )
    assert refused.headers["Content-Type"].startswith("text/html")
    assert (
        "You are banned from this space" in refused.text
        and "{" not in text_of(refused.text).split("Spaces")[0]
    )


def test_no_ban_is_offered_against_ones_own_post(world):
    a = world.a
    uri = a.cli("space", "post", "mod", "commons", "--title", "House rules", "Be kind").out.strip()
    mod = sign_in(a, "mod")
    page = mod.get(world.page_on(a, uri)).text
    assert "action=remove" in page and "action=ban" not in page
    n = local_id(a, uri)
    refused = mod.get(a.url(f"/threads/{n}/moderate?post={n}&action=ban"))
    assert "You cannot ban yourself" in refused.text


def test_a_removal_and_a_lock_are_logged_with_reasons(world):
    a, b = world.a, world.b
    uri = world.thread(b, "bea", "Heated", "Strong words")
    reply = b.cli("reply", "bea", uri, "Even stronger words").out.strip()
    wait_for(lambda: a.sql("SELECT 1 FROM objects WHERE uri = :u", u=reply), what="the reply on A")
    mod = sign_in(a, "mod")
    moderate(mod, a, uri, reply, "remove", "insults")
    moderate(mod, a, uri, uri, "lock", "cooling down")
    log = text_of(requests.get(a.url("/spaces/commons/modlog"), timeout=10).text)
    assert "mod locked Heated cooling down" in log and "insults" in log
    wait_for(
        lambda: [t["locked"] for t in threads(b, world.handle) if t["id"] == uri] == [True], what="lock on B"
    )


def test_a_moderator_lifts_a_ban_from_the_ban_list(world):
    a, c = world.a, world.c
    a.cli("space", "moderate", "commons", "--as", "mod", "ban", c.handle("land"), "--reason", "mistake")
    mod = sign_in(a, "mod")
    bans = a.url("/spaces/commons/moderation")
    page = text_of(mod.get(bans).text)
    assert f"Land @land@{c.host}" in page and "mistake" in page
    post_form(mod, bans, bans, action="unban", actor=c.url("/actors/land"), reason="sorted out")
    assert f"@land@{c.host}" not in text_of(mod.get(bans).text).split("Moderators")[0]
    assert "lifted the ban of Land" in text_of(requests.get(a.url("/spaces/commons/modlog"), timeout=10).text)
    assert sign_in(a, "ana").get(bans).status_code == 403


def test_moderators_are_added_and_removed_on_every_instance(world):
    a, b, c = world.a, world.b, world.c
    mod = sign_in(a, "mod")
    team = a.url("/spaces/commons/moderation")
    post_form(mod, team, team, action="add-moderator", actor=c.handle("cai"))
    cai_uri = c.url("/actors/cai")
    assert cai_uri in a.get_json(f"{world.space}/moderators").json()["orderedItems"]
    space_on_b = b.url(f"/spaces/{world.handle}")
    wait_for(lambda: "cai</a>" in requests.get(space_on_b, timeout=10).text, what="the new moderator on B")
    post_form(mod, team, team, action="remove-moderator", actor=cai_uri)
    assert cai_uri not in a.get_json(f"{world.space}/moderators").json()["orderedItems"]
    wait_for(lambda: "cai</a>" not in requests.get(space_on_b, timeout=10).text, what="the removal on B")
    log = text_of(requests.get(a.url("/spaces/commons/modlog"), timeout=10).text)
    assert "made a moderator: cai" in log and "removed from the moderators: cai" in log
