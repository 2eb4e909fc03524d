"""Pure steps of the members' pages: domain blocks matching, headings demoted, form limits, invitation states."""

import datetime as dt

import pytest

from federation.accounts.blocks import matches, normalise_domain
from federation.accounts.invitations import state_of
from federation.content import markdown_to_html, sanitize_html
from federation.refusal import Refusal
from models.account import JOIN_TRANSITIONS, Invitation, JoinState
from server.form_limits import too_long


def test_a_block_covers_the_domain_and_its_subdomains_only():
    assert matches(["example.org"], "example.org") == "example.org"
    assert matches(["example.org"], "social.example.org:8443") == "example.org"
    assert matches(["example.org"], "badexample.org") is None
    assert matches(["127.0.0.1:8002"], "127.0.0.1:8002") == "127.0.0.1:8002"
    assert matches(["127.0.0.1:8002"], "127.0.0.1:8003") is None


def test_admins_may_type_a_domain_a_handle_or_a_url():
    assert normalise_domain(" Example.ORG ") == "example.org"
    assert normalise_domain("bea@social.example.org") == "social.example.org"
    assert normalise_domain("https://social.example.org/users/bea") == "social.example.org"
    for bad in ("", "not a domain", "exa mple.org", "-x.org"):
        with pytest.raises(Refusal):
            normalise_domain(bad)


def test_markdown_headings_sit_under_the_page_heading():
    assert markdown_to_html("# Top\n## Sub") == "<h2>Top</h2>\n<h3>Sub</h3>"
    assert sanitize_html("<h1>Remote</h1>") == "<h2>Remote</h2>"
    assert sanitize_html(sanitize_html("<h1>x</h1><h3>y</h3>")) == "<h2>x</h2><h3>y</h3>"  # idempotent


def test_form_fields_over_their_limit_are_named():
    assert too_long({"title": "t" * 300, "text": "x" * 20000}) is None
    assert "title" in too_long({"title": "t" * 301})
    assert "text" in too_long({"text": "x" * 20001})


def test_an_invitation_is_open_until_used_up_expired_or_revoked():
    now = dt.datetime(2026, 12, 5, tzinfo=dt.timezone.utc)
    later = now + dt.timedelta(days=1)
    assert state_of(Invitation(uses=2, used=1, expires_at=later), now) == "open"
    assert state_of(Invitation(uses=2, used=2, expires_at=later), now) == "used up"
    assert state_of(Invitation(uses=2, used=0, expires_at=now), now) == "expired"
    assert state_of(Invitation(uses=2, used=0, expires_at=later, revoked_at=now), now) == "revoked"


def test_a_join_request_is_decided_once():
    assert JOIN_TRANSITIONS[JoinState.pending] == {JoinState.approved, JoinState.refused}
    assert not JOIN_TRANSITIONS[JoinState.approved] and not JOIN_TRANSITIONS[JoinState.refused]
