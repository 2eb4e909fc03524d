"""A member reports a post from the page and the space's moderators see who reported what; spaces and
movements have valid Atom feeds; search finds spaces and threads."""

import xml.etree.ElementTree as ET

import pytest
import requests

from tests.forum_world import local_id, make_world, text_of
from tests.harness import post_form, sign_in, wait_for

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def world(module_instances):
    return make_world(module_instances)


def test_a_report_reaches_the_moderators_with_names(world):
    a, b, c = world.a, world.b, world.c
    uri = world.thread(b, "bea", "Cheap watches", "Buy cheap watches here")
    cai = sign_in(c, "cai")
    form = c.url(f"/posts/{local_id(c, uri)}/report")
    assert "Why should the moderators look at it?" in cai.get(form).text
    sent = post_form(cai, form, form, reason="spam")
    assert "moderators got your report" in sent.text

    mod = sign_in(a, "mod")
    reports = a.url("/spaces/commons/reports")
    page = wait_for(
        lambda: "Cheap watches" in (p := text_of(mod.get(reports).text)) and p, what="the report on A"
    )
    assert f"cai @cai@{c.host} reported Cheap watches by bea" in page and "“spam”" in page
    assert "http" not in page.split("Open reports")[1].split("Cheap watches")[0], "names, not raw URLs"
    assert "1 open report" in text_of(mod.get(a.url("/spaces/commons")).text)
    assert sign_in(a, "ana").get(reports).status_code == 403

    listed = [r for r in a.cli("space", "reports", "commons", "--json").lines if r["object"] == uri]
    assert listed[0]["reporter"] == c.url("/actors/cai") and listed[0]["reason"] == "spam"
    report_id = listed[0]["id"]
    post_form(mod, reports, a.url(f"/spaces/commons/reports/{report_id}/resolve"))
    assert "No open reports" in mod.get(reports).text
    assert "Cheap watches" in mod.get(reports + "?show=resolved").text


def test_space_and_movement_feeds_are_valid_atom(world):
    a, b = world.a, world.b
    world.thread(b, "bea", "Feed me", "A thread for *feeds*")
    answer = requests.get(a.url("/spaces/commons/feed.atom"), timeout=10)
    assert answer.headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(answer.content)
    assert feed.tag == f"{ATOM}feed" and feed.find(f"{ATOM}title").text == "Commons"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert "Feed me" in titles
    entry = entries[titles.index("Feed me")]
    assert "<em>feeds</em>" in entry.find(f"{ATOM}content").text
    assert entry.find(f"{ATOM}link").get("href").startswith(a.url("/threads/"))

    b.cli("post", "water", "Water <news> & more from the movement")
    movement = ET.fromstring(requests.get(b.url("/actors/water/feed.atom"), timeout=10).content)
    assert movement.find(f"{ATOM}title").text == "Water"
    assert "Water &lt;news&gt; &amp; more" in movement.find(f"{ATOM}entry").find(f"{ATOM}content").text
    assert requests.get(b.url("/actors/nobody/feed.atom"), timeout=10).status_code == 404


def test_search_finds_a_thread_and_a_space(world):
    a, b = world.a, world.b
    world.thread(b, "bea", "Irrigation 100% solar", "Pumps that run on sunlight")
    for instance in (a, b):
        page = text_of(requests.get(instance.url("/search?q=sunlight"), timeout=10).text)
        assert "Irrigation 100% solar" in page
        assert "Commons" in text_of(requests.get(instance.url("/search?q=commo"), timeout=10).text)
    assert "No thread matches" in requests.get(a.url("/search?q=100%25%25"), timeout=10).text
    assert requests.get(a.url("/search?q=" + "x" * 300), timeout=10).status_code == 400
