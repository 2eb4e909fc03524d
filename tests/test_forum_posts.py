"""Members edit and delete their own posts from the thread page; every instance that follows the space shows
the new text with its history, or drops the post. A member leaves a space."""

import pytest

from tests.forum_world import local_id, make_world, text_of, threads
from tests.harness import post_form, sign_in, wait_for


@pytest.fixture(scope="module")
def world(module_instances):
    return make_world(module_instances)


def test_an_edit_reaches_the_space_and_its_followers_with_its_history(world):
    a, b, c = world.a, world.b, world.c
    uri = world.thread(b, "bea", "Wells", "We have **three** wells.")
    bea = sign_in(b, "bea")
    thread_on_b = world.page_on(b, uri)
    assert f"/posts/{local_id(b, uri)}/edit" in bea.get(thread_on_b).text
    edit = b.url(f"/posts/{local_id(b, uri)}/edit")
    assert "three" in bea.get(edit).text
    saved = post_form(bea, edit, edit, title="Wells (updated)", text="We have **four** wells.")
    assert saved.status_code == 200 and "<strong>four</strong>" in saved.text and "edited" in saved.text

    for instance in (a, c):
        page = wait_for(
            lambda: "four" in (p := text_of(requests_get(world.page_on(instance, uri)))) and p,
            what=f"the edit on {instance.host}",
        )
        assert "Wells (updated)" in page and "edited" in page
        history = text_of(requests_get(instance.url(f"/posts/{local_id(instance, uri)}/history")))
        assert "four" in history and "three" in history and "1 earlier version" in history


def test_a_deleted_reply_leaves_every_instance(world):
    a, b, c = world.a, world.b, world.c
    thread = world.thread(c, "cai", "Seeds", "Who keeps seeds?")
    reply = b.cli("reply", "bea", thread, "Our seed bank does.").out.strip()
    for instance in (a, b, c):
        wait_for(
            lambda: [t["replies"] for t in threads(instance, world.handle) if t["id"] == thread] == [1],
            what=f"the reply on {instance.host}",
        )
    bea = sign_in(b, "bea")
    delete = b.url(f"/posts/{local_id(b, reply)}/delete")
    assert "cannot be undone" in bea.get(delete).text
    done = post_form(bea, delete, delete)
    assert "Your post was deleted" in done.text and "deleted by its author" in done.text
    for instance in (a, c):
        wait_for(
            lambda: [t["replies"] for t in threads(instance, world.handle) if t["id"] == thread] == [0],
            what=f"the deletion on {instance.host}",
        )
        page = text_of(requests_get(world.page_on(instance, thread)))
        assert "Our seed bank" not in page


def test_only_the_author_may_edit(world):
    uri = world.thread(b := world.b, "bea", "Tools", "A shared toolbox")
    cai = sign_in(world.c, "cai")
    assert cai.get(world.c.url(f"/posts/{local_id(world.c, uri)}/edit")).status_code == 403
    assert "Edit</a>" not in cai.get(world.page_on(world.c, uri)).text
    assert b.cli("space", "threads", world.handle, "--json").lines


def test_a_member_leaves_a_space(world):
    b = world.b
    b.member("bo", "water")
    b.cli("space", "join", "bo", world.handle)
    wait_for(lambda: b.following_state("bo", world.space) == "accepted", what="bo's follow accepted")
    bo = sign_in(b, "bo")
    space_on_b = b.url(f"/spaces/{world.handle}")
    assert "Leave this space" in bo.get(space_on_b).text
    left = post_form(bo, space_on_b, f"{space_on_b}/leave")
    assert "You left the space" in left.text and "Join this space" in left.text
    wait_for(
        lambda: (
            not world.a.sql(
                "SELECT 1 FROM follows f JOIN actors a ON a.id = f.follower_id WHERE a.uri = :u",
                u=b.url("/actors/bo"),
            )
        ),
        what="the Undo{Follow} on A",
    )


def requests_get(url: str) -> str:
    import requests

    return requests.get(url, timeout=10).text


def test_a_mastodon_app_edits_a_reply_and_the_space_shows_its_history(world):
    import requests

    from tests.mastodon_client import password_login

    a, b = world.a, world.b
    thread = world.thread(b, "bea", "Apps", "Which app do you use?")
    reply = b.cli("reply", "bea", thread, "Tusky, mostly").out.strip()
    token = password_login(b, "bea").access_token
    headers = {"Authorization": f"Bearer {token}"}
    status = str(local_id(b, reply))
    source = requests.get(b.url(f"/api/v1/statuses/{status}/source"), headers=headers, timeout=10).json()
    assert source["text"] == "Tusky, mostly"
    edited = requests.put(
        b.url(f"/api/v1/statuses/{status}"), data={"status": "Ivory, now"}, headers=headers, timeout=10
    )
    assert edited.status_code == 200 and "Ivory" in edited.json()["content"] and edited.json()["edited_at"]
    history = requests.get(b.url(f"/api/v1/statuses/{status}/history"), timeout=10).json()
    assert ["Tusky" in h["content"] for h in history] == [True, False]
    wait_for(
        lambda: "Ivory, now" in requests_get(world.page_on(a, thread)),
        what="the app's edit on A's thread page",
    )
    assert "Tusky" in requests_get(a.url(f"/posts/{local_id(a, reply)}/history"))
    refused = requests.put(
        b.url(f"/api/v1/statuses/{status}"), data={"status": ""}, headers=headers, timeout=10
    )
    assert refused.status_code == 422
