"""javascript:, data: and other non-web URLs from remote actors and client apps are never stored nor rendered as
links: only http(s) URLs survive the storage boundary (models.types.WebUrl), and pages filter hrefs again."""

from __future__ import annotations

import re

import pytest
import requests

from models.types import web_url
from server.links import link_target, site_path
from tests.fake_peer import FakePeer
from tests.harness import csrf_of
from tests.signing import create_note, signed_post

EVIL = "javascript:alert(document.cookie)"


class HostilePeer(FakePeer):
    """A peer whose actor's profile link, icon and posts' links are scripts."""

    def actor_document(self, name: str) -> dict:
        return {
            **super().actor_document(name),
            "url": EVIL,
            "name": "Hostile",
            "icon": {"type": "Image", "url": "data:text/html,<script>alert(1)</script>"},
        }


@pytest.fixture
def hostile():
    peer = HostilePeer("hostile").start()
    yield peer
    peer.stop()


def hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html)


def test_a_remote_actors_script_link_is_neither_stored_nor_linked(instances, hostile):
    """A hostile actor follows a movement: its profile shows it, linked to its id, never to its javascript: url."""
    a = instances.new("a")
    a.movement("landrights")
    _, answer = hostile.follow("hostile", a.url("/actors/landrights"), a.url("/actors/landrights/inbox"))
    assert answer.status_code < 300
    assert a.sql("SELECT url FROM actors WHERE uri = :u", u=hostile.actor_id) == [(None,)]
    page = requests.get(a.url("/actors/landrights"), timeout=10).text
    assert "Hostile" in page and hostile.actor_id in hrefs(page)
    assert not [h for h in hrefs(page) if not h.startswith(("http://", "https://", "/", "#"))]

    account = requests.get(
        a.url("/api/v1/accounts/lookup"), params={"acct": hostile.handle}, timeout=10
    ).json()
    assert account["url"] == hostile.actor_id
    assert account["avatar"].startswith(a.base_url)  # the data: icon is replaced by the default avatar


def test_a_remote_posts_script_link_is_not_its_status_url(instances, hostile):
    a = instances.new("a")
    a.movement("landrights")
    hostile.follow("hostile", a.url("/actors/landrights"), a.url("/actors/landrights/inbox"))
    note = create_note(hostile.actor_id, hostile.base_url, "look here", url=EVIL)
    key = (f"{hostile.actor_id}#main-key", hostile.private_pem)
    assert signed_post(a.url("/actors/landrights/inbox"), note, key).status_code < 300
    a.wait_inbox_drained()  # a plain post is stored after the 202
    account = requests.get(
        a.url("/api/v1/accounts/lookup"), params={"acct": hostile.handle}, timeout=10
    ).json()
    statuses = requests.get(a.url(f"/api/v1/accounts/{account['id']}/statuses"), timeout=10).json()
    assert [s["url"] for s in statuses] == [note["object"]["id"]]


def test_an_apps_script_website_is_dropped_and_not_linked_on_the_consent_page(instances):
    a = instances.new("a")
    a.movement("landrights")
    a.member("ana", "landrights")
    registered = requests.post(
        a.url("/api/v1/apps"),
        json={
            "client_name": "Sly",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read",
            "website": EVIL,
        },
        timeout=10,
    ).json()
    assert registered["website"] is None
    fine = requests.post(
        a.url("/api/v1/apps"),
        json={
            "client_name": "Fine",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read",
            "website": "https://fine.example/",
        },
        timeout=10,
    ).json()
    assert fine["website"] == "https://fine.example/"
    url = a.url(
        f"/oauth/authorize?client_id={registered['client_id']}&redirect_uri=urn:ietf:wg:oauth:2.0:oob"
        "&response_type=code&scope=read"
    )
    browser = requests.Session()
    form = browser.get(url, timeout=10).text
    signed_in = browser.post(
        a.url("/oauth/authorize"),
        data={
            "client_id": registered["client_id"],
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
            "scope": "read",
            "response_type": "code",
            "csrf": csrf_of(form),
            "username": "ana",
            "password": "correct horse",
            "action": "login",
        },
        timeout=10,
    ).text
    assert "Authorize Sly" in signed_in and "javascript:" not in signed_in


@pytest.mark.parametrize(
    "scheme",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "JaVaScRiPt:alert(1)",
        "vbscript:x",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "//evil.example",
        "/relative",
        "https:/no-host",
        "http://exa mple.org/",
        "ftp://example.org/",
    ],
)
def test_only_http_urls_are_web_urls(scheme):
    assert web_url(scheme) is None


def test_links_keep_web_urls_and_site_paths_only():
    assert link_target("https://example.org/@x") == "https://example.org/@x"
    assert link_target("/threads/3") == "/threads/3"
    for bad in ("javascript:alert(1)", "//evil.example", "/\t/evil.example", "/\\evil.example", None, 5):
        assert link_target(bad) == "#"
    assert site_path("/\n/evil.example") is None
