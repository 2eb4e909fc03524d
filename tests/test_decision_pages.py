"""Members decide in the browser: a signatory asks the members from the proposal page, members vote on
/decisions/N (results hidden until it closes when asked), an admin sets how the movement decides, and the
signatory signs with the passing outcome as mandate, shown on the confirmation and proposal pages."""

import re

import pytest
import requests

from tests.harness import csrf_of, html, sign_in
from tests.harness import wait_for as harness_wait_for


def wait_for(check, timeout: float = 45.0, **kwargs):
    """The harness's wait, with room for a busy machine (clocks and deliveries of several instances)."""
    return harness_wait_for(check, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def story(module_instances, tmp_path_factory):
    a, b = module_instances.new("a"), module_instances.new("b", clock_interval=0.3)
    a.movement("rivers", "River Keepers")
    b.movement("fishers", "Fisher Folk")
    b.member("ada", "fishers", role="admin")
    b.member("bea", "fishers", role="signatory")
    b.member("bob", "fishers", role="member")
    b.movement("stranger")
    b.member("sam", "stranger", role="signatory")
    text = tmp_path_factory.mktemp("texts") / "text.md"
    text.write_text("We share the river.")
    url = a.propose("rivers", [b.handle("fishers")])
    wait_for(lambda: b.proposal(url), what="the proposal on B")
    page = f"/proposals/r/{b.sql('SELECT id FROM proposals WHERE uri = :u', u=url)[0][0]}"
    return a, b, url, page


def test_an_admin_sets_how_the_movement_decides(story):
    _, b, _, _ = story
    admin = sign_in(b, "ada")
    form = html(b.url("/actors/fishers/decisions"), admin)
    assert '<label for="quorum">' in form and '<label for="threshold">' in form
    bad = admin.post(b.url("/actors/fishers/decisions"), data={"csrf": csrf_of(form), "quorum": "150%"})
    assert bad.status_code == 400 and "quorum must be between" in bad.text
    saved = admin.post(
        b.url("/actors/fishers/decisions"),
        data={
            "csrf": csrf_of(form),
            "quorum": "50%",
            "threshold": "0.5",
            "duration_hours": "48",
            "require_mandate": "yes",
            "hide_results": "yes",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    shown = b.cli("movement", "set", "fishers").out
    assert '"require_mandate": true' in shown and '"quorum": 0.5' in shown and '"duration_hours": 48' in shown
    member = sign_in(b, "bob")
    assert "requires a passing decision" in html(b.url("/actors/fishers/decisions"), member)
    assert member.post(b.url("/actors/fishers/decisions"), data={"csrf": csrf_of(form)}).status_code in (
        403,
        200,
    )


def test_members_decide_on_the_page_and_the_signatory_signs_with_the_mandate(story):
    a, b, url, page = story
    b.cli("movement", "set", "fishers", "--require-mandate", "yes", "--hide-results", "yes")
    bea = sign_in(b, "bea")
    proposal = html(b.url(page), bea)
    assert '<label for="question">' in proposal
    opened = bea.post(
        b.url(page.replace("/proposals/r/", "/proposals/") + "/decide"),
        data={
            "csrf": csrf_of(proposal),
            "question": "Shall we sign the river pact?",
            "kind": "consent",
            "hours": "0.003",
        },
    )
    assert opened.status_code == 200 and "Shall we sign the river pact?" in opened.text
    decision = re.search(r"/decisions/(\d+)", opened.url).group(0)
    for name, choice in (("bea", "consent"), ("bob", "consent")):
        browser = sign_in(b, name)
        form = html(b.url(decision), browser)
        voted = browser.post(b.url(decision + "/vote"), data={"csrf": csrf_of(form), "choice": choice})
        assert voted.status_code == 200 and f"now: {choice}" in voted.text
        assert "Results stay hidden until the decision closes" in voted.text
    sam = sign_in(b, "sam")
    outsider = html(b.url(decision), sam)
    assert "Only members of Fisher Folk vote" in outsider
    refused = sam.post(b.url(decision + "/vote"), data={"csrf": csrf_of(outsider), "choice": "object"})
    assert "Only members of the movement vote" in refused.text
    closed = wait_for(
        lambda: "Outcome: passed" in html(b.url(decision)) and html(b.url(decision)), what="the close"
    )
    digest = re.search(r'SHA-256 <span class="hash">([0-9a-f]{64})', closed).group(1)
    listing = html(b.url("/actors/fishers/decisions"))
    assert "Shall we sign the river pact?" in listing and "passed" in listing
    record = b.get_json(decision).json()
    assert record["outcome"] == "passed" and record["oneOf"][0]["replies"]["totalItems"] == 2
    confirm = html(b.url(page.replace("/proposals/r/", "/proposals/") + "/sign"), bea)
    assert "Mandate: the internal decision" in confirm and digest[:16] in confirm
    version = re.search(r'name="version" value="([0-9a-f]{64})"', confirm).group(1)
    signed = bea.post(
        b.url(page.replace("/proposals/r/", "/proposals/") + "/sign"),
        data={"csrf": csrf_of(confirm), "confirm": "yes", "version": version},
    )
    assert signed.status_code == 200 and "signed with a mandate" in signed.text
    acted = wait_for(lambda: [x for x in a.proposal(url)["acted"] if x["mandate"]], what="the mandate on A")
    assert acted[0]["mandate_digest"] == digest


def test_the_decision_answers_json_ld_as_a_question(story):
    _, b, url, _ = story
    decision = b.cli(
        "decision", "open", url, "--as", "fishers", "--question", "Sign?", "--hours", "2", "--open-poll"
    ).out.strip()
    document = b.get_json(decision).json()
    assert document["type"] == "Question" and document["id"] == decision
    assert document["attributedTo"] == f"{b.base_url}/actors/fishers" and document["proposal"] == url
    assert [o["name"] for o in document["oneOf"]] == ["consent", "object"] and "closed" not in document
    assert requests.get(decision + "/nothing", timeout=5).status_code == 404
    assert requests.get(b.url("/decisions/424242"), timeout=5).status_code == 404
