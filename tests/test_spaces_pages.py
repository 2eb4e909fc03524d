"""A member signs in, opens a thread and replies through the pages; a moderator removes a reply; every page
is also ActivityPub JSON at the same URL."""

import re

import requests

from tests.harness import csrf_of

AP = {"Accept": "application/activity+json"}


def test_member_posts_and_moderator_removes_through_pages(instances):
    a = instances.new("a")
    a.movement("forum", "Forum")
    a.member("ana", "forum", password="ana's password")
    a.member("mod", "forum", role="admin", password="mod's password")
    space = a.cli(
        "space", "create", "assembly", "--name", "Assembly", "--movement", "forum", "--rules", "Be kind"
    ).out.strip()
    assert requests.get(space, headers=AP).json()["attributedTo"] == f"{space}/moderators"
    assert "Assembly" in requests.get(space).text

    ana = requests.Session()
    form = ana.get(a.url("/login")).text
    assert (
        ana.post(
            a.url("/login"), data={"username": "ana", "password": "wrong", "csrf": csrf_of(form)}
        ).status_code
        == 401
    )
    ana.post(
        a.url("/login"),
        data={
            "username": "ana",
            "password": "ana's password",
            "csrf": csrf_of(form),
            "next": "/spaces/assembly",
        },
    )
    page = ana.get(space).text
    assert "signed in as" in page
    forged = ana.post(f"{space}/threads", data={"title": "Forged", "text": "x"}, allow_redirects=False)
    assert forged.status_code == 403
    ana.post(f"{space}/join", data={"csrf": csrf_of(page)})
    opened = ana.post(
        f"{space}/threads", data={"title": "Boats", "text": "Who has **boats**?", "csrf": csrf_of(page)}
    )
    thread_url = opened.url
    assert re.search(r"/threads/\d+$", thread_url) and "<strong>boats</strong>" in opened.text
    parent = re.search(r'name="parent" value="(\d+)"', opened.text).group(1)
    replied = ana.post(
        f"{thread_url}/reply", data={"text": "I do", "parent": parent, "csrf": csrf_of(opened.text)}
    )
    assert "I do" in replied.text

    collection = requests.get(thread_url, headers=AP).json()
    assert collection["type"] == "OrderedCollection" and collection["id"] == thread_url
    posts = requests.get(collection["first"], headers=AP).json()["orderedItems"]
    assert len(posts) == 2
    assert requests.get(f"{posts[0]}/replies?page=1", headers=AP).json()["orderedItems"] == [posts[1]]
    assert [t["replies"] for t in a.cli("space", "threads", "assembly", "--json").lines] == [1]

    mod = requests.Session()
    mod.post(
        a.url("/login"),
        data={
            "username": "mod",
            "password": "mod's password",
            "csrf": csrf_of(mod.get(a.url("/login")).text),
        },
    )
    page = mod.get(thread_url).text
    reply_id = re.findall(r"moderate\?post=(\d+)&amp;action=remove", page)[-1]
    assert (
        ana.post(
            f"{thread_url}/moderate",
            data={"post": reply_id, "action": "remove", "csrf": csrf_of(replied.text)},
        ).status_code
        == 403
    )
    mod.post(f"{thread_url}/moderate", data={"post": reply_id, "action": "remove", "csrf": csrf_of(page)})
    assert "removed by the space" in requests.get(thread_url).text
    assert [t["replies"] for t in a.cli("space", "threads", "assembly", "--json").lines] == [0]
