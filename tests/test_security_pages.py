"""Pages show only messages from the server's own table (never text from the URL), and carry security headers:
a Content-Security-Policy that allows no script at all, no framing, no MIME sniffing, same-origin referrers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from server.notices import NOTICES, code_for, text_of
from tests.harness import ROOT, csrf_of

PHISH = "Your session expired: sign in again at https://evil.example/login"
AP = {"Accept": "application/activity+json"}


@pytest.fixture(scope="module")
def forum(module_instances):
    a = module_instances.new("a")
    a.movement("forum", "Forum")
    a.member("ana", "forum")
    a.cli("space", "create", "assembly", "--name", "Assembly", "--movement", "forum")
    return a


def test_query_text_never_shows_on_a_page(forum):
    for query in (f"?error={PHISH}", f"?message={PHISH}", f"?notice={PHISH}"):
        page = requests.get(forum.url("/spaces/assembly" + query), timeout=10).text
        assert "Your session expired" not in page and 'class="error"' not in page


def test_a_known_notice_shows_its_own_text(forum):
    page = requests.get(forum.url("/spaces/assembly?notice=members-only"), timeout=10).text
    assert f'<p class="error">{NOTICES["members-only"]}</p>' in page


def test_a_refused_form_comes_back_with_a_notice_code(forum):
    """Ana (not joined) replies to a post that is not in the thread: the page says so from its table."""
    browser = requests.Session()
    form = browser.get(forum.url("/login"), timeout=10).text
    browser.post(
        forum.url("/login"),
        data={"username": "ana", "password": "correct horse", "csrf": csrf_of(form)},
        timeout=10,
    )
    page = browser.get(forum.url("/spaces/assembly"), timeout=10).text
    browser.post(forum.url("/spaces/assembly/join"), data={"csrf": csrf_of(page)}, timeout=10)
    opened = browser.post(
        forum.url("/spaces/assembly/threads"),
        data={"title": "Boats", "text": "Who has boats?", "csrf": csrf_of(page)},
        timeout=10,
    )
    answer = browser.post(
        opened.url + "/reply",
        data={"text": "x", "parent": "999999", "csrf": csrf_of(opened.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.headers["Location"].endswith("?notice=not-in-thread")
    assert NOTICES["not-in-thread"] in browser.get(forum.url(answer.headers["Location"]), timeout=10).text


def test_refusals_map_to_codes_not_to_their_text():
    assert code_for("https://evil.example/actors/x is banned from this space") == "banned"
    assert (
        code_for("the space refused the post: <a href=https://evil.example>sign in here</a>")
        == "space-refused"
    )
    assert code_for("anything a peer might say") == "refused"
    assert text_of(PHISH) is None and text_of(None) is None


def test_pages_forbid_script_and_framing(forum):
    for path in ("/spaces", "/spaces/assembly", "/login", "/actors/forum", "/nope"):
        headers = requests.get(forum.url(path), timeout=10).headers
        policy = headers.get("Content-Security-Policy", "")
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, path
        assert not re.search(r"script-src (?!'none')", policy), path  # no script of any origin, inline or not
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"


def test_activitypub_answers_still_work_for_mastodon(forum):
    mastodon_accept = (
        'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
    )
    answer = requests.get(forum.url("/actors/forum"), headers={"Accept": mastodon_accept}, timeout=10)
    assert answer.headers["Content-Type"].startswith("application/activity+json")
    assert answer.json()["id"] == forum.url("/actors/forum")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    webfinger = requests.get(
        forum.url("/.well-known/webfinger"), params={"resource": f"acct:forum@{forum.host}"}, timeout=10
    )
    assert webfinger.ok and webfinger.json()["subject"] == f"acct:forum@{forum.host}"


def test_templates_hold_no_inline_script():
    """The policy forbids inline script, so no template may need one: no <script>, no on* handlers, no javascript:."""
    for template in sorted(Path(ROOT, "templates").glob("*.html")):
        text = template.read_text()
        assert not re.search(r"<script|\son[a-z]+\s*=|javascript:", text, re.IGNORECASE), template.name
