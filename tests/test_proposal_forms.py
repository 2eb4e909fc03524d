"""A signatory drafts, amends, declines and withdraws proposals from the browser (no JavaScript).

"rivers" on A proposes to "fishers" on B through the form (B found by handle with WebFinger); B's
signatory sees it under "Needs my signature" and declines it after a confirmation, with a reason.
"""

import re

import pytest
import requests

from tests.harness import csrf_of, html, sign_in
from tests.harness import wait_for as harness_wait_for


def wait_for(check, timeout: float = 45.0, **kwargs):
    """The harness's wait, with room for a busy machine (clocks and deliveries of several instances)."""
    return harness_wait_for(check, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def pair(module_instances):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("rivers", "River Keepers")
    b.movement("fishers", "Fisher Folk")
    a.member("ria", "rivers", role="signatory")
    a.member("rob", "rivers", role="member")
    b.member("bea", "fishers", role="signatory")
    return a, b


def propose(a, b, browser, title: str, **extra) -> requests.Response:
    form = html(a.url("/proposals/new"), browser)
    data = {
        "csrf": csrf_of(form),
        "title": title,
        "text": "We keep the river clean.",
        "parties": b.handle("fishers"),
        "ends": "2099-01-01",
    } | extra
    return browser.post(a.url("/proposals/new"), data=data)


def test_a_signatory_proposes_from_the_web_finding_parties_by_handle(pair):
    a, b = pair
    browser = sign_in(a, "ria")
    form = html(a.url("/proposals/new"), browser)
    for field in ("title", "text", "parties", "mediator", "starts", "ends", "renews"):
        assert f'<label for="{field}">' in form
    response = propose(a, b, browser, "Web pact", tlang="fr", ttext="Nous gardons la rivière propre.")
    assert response.status_code == 200 and "Web pact" in response.text
    url = re.search(r'rel="alternate" type="application/activity\+json" href="([^"]+)"', response.text).group(
        1
    )
    seen = wait_for(lambda: b.proposal(url), what="the proposal on B")
    assert seen["parties"] == [f"{a.base_url}/actors/rivers", f"{b.base_url}/actors/fishers"]
    assert "Nous gardons" in response.text


def test_a_bad_form_is_answered_with_a_clear_400(pair):
    a, b = pair
    browser = sign_in(a, "ria")
    unknown = propose(a, b, browser, "Nobody", parties=f"nobody@{b.host}")
    assert unknown.status_code == 400 and "cannot find nobody@" in unknown.text
    assert 'value="Nobody"' in unknown.text, "the form keeps what was typed"
    bad_date = propose(a, b, browser, "Bad date", ends="next year")
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    member = sign_in(a, "rob")
    assert member.get(a.url("/proposals/new")).status_code == 403


def test_needs_my_signature_then_decline_with_a_reason_after_confirming(pair):
    a, b = pair
    response = propose(a, b, sign_in(a, "ria"), "To be declined")
    url = re.search(r'rel="alternate" type="application/activity\+json" href="([^"]+)"', response.text).group(
        1
    )
    wait_for(lambda: b.proposal(url), what="the proposal on B")
    bea = sign_in(b, "bea")
    listing = html(b.url("/proposals"), bea)
    needs = listing.split('id="needs"')[1].split("</section>")[0]
    assert "To be declined" in needs
    local_id = b.sql("SELECT id FROM proposals WHERE uri = :u", u=url)[0][0]
    confirm = html(b.url(f"/proposals/{local_id}/decline"), bea)
    version = re.search(r'name="version" value="([0-9a-f]{64})"', confirm).group(1)
    done = bea.post(
        b.url(f"/proposals/{local_id}/decline"),
        data={
            "csrf": csrf_of(confirm),
            "confirm": "yes",
            "version": version,
            "reason": "Not before the harvest",
        },
    )
    assert done.status_code == 200 and "declined by" in done.text and "Not before the harvest" in done.text
    wait_for(lambda: a.proposal(url)["status"] == "declined", what="the decline on A")
    page = html(url)
    assert "declined by" in page and "Not before the harvest" in page
    assert (
        "To be declined" not in html(b.url("/proposals"), bea).split('id="needs"')[1].split("</section>")[0]
    )


def test_signing_a_version_that_changed_meanwhile_is_refused(pair):
    a, b = pair
    response = propose(a, b, sign_in(a, "ria"), "Moving target")
    url = re.search(r'rel="alternate" type="application/activity\+json" href="([^"]+)"', response.text).group(
        1
    )
    wait_for(lambda: b.proposal(url), what="the proposal on B")
    bea = sign_in(b, "bea")
    local_id = b.sql("SELECT id FROM proposals WHERE uri = :u", u=url)[0][0]
    confirm = html(b.url(f"/proposals/{local_id}/sign"), bea)
    stale = bea.post(
        b.url(f"/proposals/{local_id}/sign"),
        data={"csrf": csrf_of(confirm), "confirm": "yes", "version": "0" * 64},
    )
    assert "The proposal changed meanwhile" in stale.text
    assert not b.proposal(url)["signatures"]


def test_the_author_withdraws_its_proposal_after_confirming(pair):
    a, b = pair
    browser = sign_in(a, "ria")
    response = propose(a, b, browser, "Short lived")
    url = re.search(r'rel="alternate" type="application/activity\+json" href="([^"]+)"', response.text).group(
        1
    )
    local_id = a.sql("SELECT id FROM proposals WHERE uri = :u", u=url)[0][0]
    assert f"/proposals/{local_id}/withdraw" in response.text
    confirm = html(a.url(f"/proposals/{local_id}/withdraw"), browser)
    done = browser.post(
        a.url(f"/proposals/{local_id}/withdraw"), data={"csrf": csrf_of(confirm), "confirm": "yes"}
    )
    assert done.status_code == 200 and "withdrawn by its author" in done.text
    wait_for(
        lambda: (b.proposal(url) or {}).get("status") == "withdrawn_by_author", what="the withdrawal on B"
    )
