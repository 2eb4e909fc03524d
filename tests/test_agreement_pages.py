"""People read proposals, agreements and charters in the browser (no JavaScript), and a signatory signs
through the page. The same URLs answer JSON-LD to ActivityPub clients.

"rivers" on A proposes to "fishers" on B, who amends; both sign, B's signatory through the page.
"""

import re

import pytest
import requests

from tests.harness import csrf_of, html, sign_in, wait_for


@pytest.fixture(scope="module")
def signed(module_instances, tmp_path_factory):
    a, b = module_instances.new("a"), module_instances.new("b")
    a.movement("rivers", "River Keepers")
    b.movement("fishers", "Fisher Folk")
    b.member("bea", "fishers", role="signatory")
    b.member("bob", "fishers", role="member")
    folder = tmp_path_factory.mktemp("texts")
    (folder / "v1.md").write_text("We keep the river clean.\n\nWe share the water.\n")
    (folder / "v2.md").write_text("We keep the river clean.\n\nWe share the water fairly, every season.\n")
    url = a.cli(
        "proposal",
        "create",
        "rivers",
        "--title",
        "Clean river pact",
        "--text-file",
        str(folder / "v1.md"),
        "--party",
        b.handle("fishers"),
        "--ends",
        "2099-01-01",
    ).out.strip()
    wait_for(lambda: b.proposal(url), what="the proposal on B")
    b.cli("proposal", "amend", url, "--as", "fishers", "--text-file", str(folder / "v2.md"))
    wait_for(
        lambda: (
            a.proposal(url)["current_version"] == b.proposal(url)["current_version"]
            and len(a.proposal(url)["versions"]) == 2
        ),
        what="the amendment everywhere",
    )
    b.cli("proposal", "comment", url, "--as", "bob", "Can we add the spawning season?")
    a.cli("proposal", "sign", url, "--as", "rivers")
    wait_for(
        lambda: len(b.proposal(url)["signatures"].get(b.proposal(url)["current_version"], [])) == 1,
        what="A's signature on B",
    )
    return a, b, url


def test_a_signatory_signs_through_the_page_after_confirming_with_a_reason(signed):
    a, b, url = signed
    copy = f"/proposals/r/{b.sql('SELECT id FROM proposals WHERE uri = :u', u=url)[0][0]}"
    member = sign_in(b, "bob")
    assert "Sign this version" not in html(b.url(copy), member), "a plain member may not sign"
    signatory = sign_in(b, "bea")
    page = html(b.url(copy), signatory)
    link = re.search(r'href="(/proposals/\d+/sign)"', page).group(1)
    confirm = html(b.url(link), signatory)
    assert "this exact version" in confirm and '<label for="reason">' in confirm
    version = re.search(r'name="version" value="([0-9a-f]{64})"', confirm).group(1)
    unconfirmed = signatory.post(b.url(link), data={"csrf": csrf_of(confirm)}, allow_redirects=False)
    assert unconfirmed.status_code == 303 and unconfirmed.headers["Location"] == link
    response = signatory.post(
        b.url(link),
        data={"csrf": csrf_of(confirm), "confirm": "yes", "version": version, "reason": "Good for the river"},
    )
    assert response.status_code == 200 and "in force" in response.text
    assert "signed by" in response.text and "Good for the river" in response.text
    wait_for(lambda: a.proposal(url)["status"] == "agreed", what="the agreement on A")
    acted = wait_for(lambda: [x for x in a.proposal(url)["acted"] if x["reason"]], what="who acted, on A")
    assert acted[0]["acted_by"] == f"{b.base_url}/actors/bea" and acted[0]["reason"] == "Good for the river"
    timeline = html(url).split('id="timeline"')[1].split("</section>")[0]
    assert "<b>sign</b> v2" in timeline and "Good for the river" in timeline and "acted:" in timeline


def test_the_pages_print_without_forms_and_export_json_ld(signed):
    a, b, url = agreed(signed)
    page = html(url)
    assert "@media print" in page and "Accountability timeline" in page
    exported = requests.get(url + "?format=json", timeout=10)
    assert exported.json()["type"] == "Proposal" and len(exported.json()["versions"]) == 2
    signatory = sign_in(b, "bea")
    copy = f"/agreements/r/{b.sql('SELECT id FROM proposals WHERE uri = :u', u=url)[0][0]}"
    agreement = html(b.url(copy), signatory)
    assert "/proposals/new?renews=" in agreement and "Withdraw from the agreement" in agreement
    renewal = html(b.url(re.search(r'href="(/proposals/new\?renews=[^"]+)"', agreement).group(1)), signatory)
    assert "Renew an agreement" in renewal and "We share the water fairly" in renewal


def agreed(signed):
    """The agreement in force (B signs from the command line unless its signatory already did on the page)."""
    a, b, url = signed
    if b.proposal(url)["status"] != "agreed":
        b.cli("proposal", "sign", url, "--as", "fishers", check=False)
    wait_for(
        lambda: a.proposal(url)["status"] == b.proposal(url)["status"] == "agreed",
        what="the agreement on A and B",
    )
    return a, b, url


def test_the_proposal_page_shows_versions_diff_signatures_and_discussion(signed):
    a, b, url = signed
    wait_for(lambda: "Can we add the spawning season?" in html(url), what="B's comment on A's page")
    page = html(url)
    assert "Clean river pact" in page and "Who signed which version" in page
    assert re.search(r"<ins>[^<]*fairly, every season[^<]*</ins>", page)
    assert re.search(r"v1 <span class=\"hash\">", page) and re.search(r"v2 <span class=\"hash\">", page)
    assert "River Keepers" in page and "Fisher Folk" in page


def test_the_agreement_page_marks_every_signature_verified(signed):
    a, b, url = agreed(signed)
    agreement = a.proposal(url)["agreement"]
    for base, path in (
        (a, agreement),
        (b, f"/agreements/r/{b.sql('SELECT id FROM proposals WHERE uri = :u', u=url)[0][0]}"),
    ):
        page = html(path if path.startswith("http") else base.url(path))
        assert page.count('<span class="mark ok"><b>✓</b>verified</span>') == 2, page
        assert "Every party&#39;s signature verifies" in page or "Every party's signature verifies" in page
        assert "until 2099-01-01" in page


def test_the_charter_lists_the_agreement(signed):
    a, b, url = agreed(signed)
    page = html(a.url("/actors/rivers/charter"))
    assert "Charter of River Keepers" in page and "Clean river pact" in page and "Fisher Folk" in page
    collection = a.get_json("/actors/rivers/charter").json()
    assert collection["type"] == "OrderedCollection" and collection["totalItems"] == 1
    assert collection["first"]["orderedItems"][0]["status"] == "in_force"
    assert "/actors/rivers/charter" in html(a.url("/actors/rivers"))


def test_the_same_urls_answer_json_ld(signed):
    a, b, url = agreed(signed)
    proposal = a.get_json(url)
    assert proposal.headers["content-type"].startswith("application/activity+json")
    assert proposal.json()["type"] == "Proposal" and len(proposal.json()["versions"]) == 2
    agreement = a.get_json(proposal.json()["agreement"]).json()
    assert agreement["type"] == "Agreement" and len(agreement["proof"]) == 2
    context = requests.get(agreement["@context"][-1], timeout=5)
    assert context.headers["content-type"].startswith("application/ld+json")
    assert {"Proposal", "Agreement", "parties", "mediator", "version", "renews"} <= set(
        context.json()["@context"]
    )
