"""Likes federate through the space and are counted on every instance; a pinned thread shows first on the
space's instance and on its followers; threads sort by activity, age or likes; members see unread markers."""

import re

import pytest
import requests

from tests.forum_world import local_id, make_world, text_of, threads
from tests.harness import post_form, sign_in, wait_for


@pytest.fixture(scope="module")
def world(module_instances):
    return make_world(module_instances)


def likes_shown(instance, world, uri) -> int:
    page = requests.get(world.page_on(instance, uri), timeout=10).text
    match = re.search(rf'id="p{local_id(instance, uri)}".*?(\d+) likes?', page, re.S)
    return int(match.group(1)) if match else -1


def test_likes_federate_to_every_instance(world):
    a, b, c = world.a, world.b, world.c
    uri = world.thread(b, "bea", "Rain", "Collect rain water")
    cai = sign_in(c, "cai")
    liked = post_form(cai, world.page_on(c, uri), c.url(f"/posts/{local_id(c, uri)}/like"))
    assert "Unlike" in liked.text
    ana = sign_in(a, "ana")
    post_form(ana, world.page_on(a, uri), a.url(f"/posts/{local_id(a, uri)}/like"))
    for instance in (a, b, c):
        wait_for(lambda: likes_shown(instance, world, uri) == 2, what=f"two likes on {instance.host}")

    post_form(cai, world.page_on(c, uri), c.url(f"/posts/{local_id(c, uri)}/unlike"))
    for instance in (a, b, c):
        wait_for(lambda: likes_shown(instance, world, uri) == 1, what=f"the unlike on {instance.host}")


def test_a_pinned_thread_shows_first_on_both_instances(world):
    a, b = world.a, world.b
    first = world.thread(b, "bea", "Old news", "Pinned soon")
    world.thread(b, "bea", "Fresh talk", "Newer")
    mod = sign_in(a, "mod")
    thread_on_a = world.page_on(a, first)
    confirm = a.url(f"/threads/{local_id(a, first)}/moderate?post={local_id(a, first)}&action=pin")
    assert "Pin this thread?" in mod.get(confirm).text
    post_form(
        mod, confirm, a.url(f"/threads/{local_id(a, first)}/moderate"), post=local_id(a, first), action="pin"
    )
    assert 'badge pinned">pinned<' in mod.get(thread_on_a).text
    for instance, path in ((a, "/spaces/commons"), (b, f"/spaces/{world.handle}")):

        def titles():
            page = requests.get(instance.url(path), timeout=10).text
            return re.findall(r'class="title" href="/threads/\d+">([^<]+)<', page)

        wait_for(lambda: titles()[0] == "Old news", what=f"the pinned thread first on {instance.host}")
    featured = a.get_json(f"{world.space}/featured").json()
    assert [t["id"] for t in featured["orderedItems"]] == [first]
    assert any(t["pinned"] for t in threads(b, world.handle) if t["id"] == first)


def test_threads_sort_by_new_and_top(world):
    a, b, c = world.a, world.b, world.c
    liked = world.thread(c, "cai", "Liked one", "Like me")
    world.thread(b, "bea", "Newest one", "Just now")
    ana = sign_in(a, "ana")
    post_form(ana, world.page_on(a, liked), a.url(f"/posts/{local_id(a, liked)}/like"))
    post_form(sign_in(a, "mod"), world.page_on(a, liked), a.url(f"/posts/{local_id(a, liked)}/like"))

    def titles(sort):
        page = requests.get(a.url(f"/spaces/commons?sort={sort}"), timeout=10).text
        return [t for t in re.findall(r'class="title" href="/threads/\d+">([^<]+)<', page)]

    unpinned = [t for t in titles("new") if t != "Old news"]
    assert unpinned[0] == "Newest one"
    assert [t for t in titles("top") if t != "Old news"][0] == "Liked one"
    assert requests.get(a.url("/spaces/commons?sort=loudest"), timeout=10).status_code == 400


def test_a_member_sees_threads_with_new_replies(world):
    a, b = world.a, world.b
    uri = world.thread(b, "bea", "Unread story", "Read me")
    ana = sign_in(a, "ana")
    space_page = a.url("/spaces/commons")

    def marker():
        page = text_of(ana.get(space_page).text)
        return re.search(r"Unread story (pinned )?(locked )?(new|\d+ new repl\w+)?", page).group(3)

    assert marker() == "new"
    ana.get(world.page_on(a, uri))
    assert marker() is None
    reply = b.cli("reply", "bea", uri, "A reply to read").out.strip()
    wait_for(lambda: a.sql("SELECT 1 FROM objects WHERE uri = :u", u=reply), what="the reply on A")
    wait_for(lambda: marker() == "1 new reply", what="the unread marker")
    ana.get(world.page_on(a, uri))
    assert marker() is None


def test_replies_sort_by_likes_on_request(world):
    a, b = world.a, world.b
    uri = world.thread(b, "bea", "Best tools", "Which tool?")
    b.cli("reply", "bea", uri, "A spade")
    liked = b.cli("reply", "bea", uri, "A hoe").out.strip()
    wait_for(lambda: a.sql("SELECT 1 FROM objects WHERE uri = :u", u=liked), what="the replies on A")
    ana = sign_in(a, "ana")
    post_form(ana, world.page_on(a, uri), a.url(f"/posts/{local_id(a, liked)}/like"))

    def replies(sort):
        page = text_of(requests.get(world.page_on(a, uri) + f"?sort={sort}", timeout=10).text)
        return sorted(("A spade", "A hoe"), key=page.index)

    assert replies("old") == ["A spade", "A hoe"]
    assert replies("top") == ["A hoe", "A spade"]
    assert replies("new") == ["A hoe", "A spade"]
    assert requests.get(world.page_on(a, uri) + "?sort=loud", timeout=10).status_code == 400
