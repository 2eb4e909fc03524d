"""What Mastodon and other servers read to find and trust a movement: WebFinger, NodeInfo, actor documents."""

import pytest
import requests

LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@pytest.fixture(scope="module")
def site(module_instances):
    a = module_instances.new("a")
    movement = a.movement("landrights", "Land Rights")
    a.member("alice", "landrights", role="admin")
    a.cli("post", "landrights", "First post")
    return a, movement


def test_webfinger_finds_a_movement_by_handle_and_by_url(site):
    a, movement = site
    for resource in (f"acct:landrights@{a.host}", movement):
        response = requests.get(a.url("/.well-known/webfinger"), params={"resource": resource})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/jrd+json")
        assert response.headers["access-control-allow-origin"] == "*"
        jrd = response.json()
        assert jrd["subject"] == f"acct:landrights@{a.host}"
        assert {"rel": "self", "type": "application/activity+json", "href": movement} in jrd["links"]


def test_webfinger_answers_404_for_unknown_accounts(site):
    a, _ = site
    response = requests.get(a.url("/.well-known/webfinger"), params={"resource": f"acct:nobody@{a.host}"})
    assert response.status_code == 404


def test_host_meta_points_to_webfinger(site):
    a, _ = site
    response = requests.get(a.url("/.well-known/host-meta"))
    assert response.status_code == 200
    assert f'template="{a.base_url}/.well-known/webfinger?resource={{uri}}"' in response.text


def test_nodeinfo_names_the_software_and_counts_members(site):
    a, _ = site
    links = requests.get(a.url("/.well-known/nodeinfo")).json()["links"]
    assert links[0]["rel"] == "http://nodeinfo.diaspora.software/ns/schema/2.1"
    info = requests.get(links[0]["href"]).json()
    assert info["version"] == "2.1"
    assert info["software"]["name"] == "interpeople" and info["software"]["version"]
    assert info["protocols"] == ["activitypub"]
    assert info["usage"]["users"]["total"] == 1
    assert info["usage"]["localPosts"] == 1


@pytest.mark.parametrize("accept", ["application/activity+json", LD])
def test_a_movement_is_a_group_with_both_kinds_of_key(site, accept):
    a, movement = site
    response = requests.get(movement, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == accept.split(";")[0]
    actor = response.json()
    assert actor["id"] == movement and actor["type"] == "Group"
    assert actor["preferredUsername"] == "landrights" and actor["name"] == "Land Rights"
    for field in ("inbox", "outbox", "followers", "following", "url", "summary"):
        assert field in actor
    assert actor["endpoints"]["sharedInbox"] == a.url("/inbox")
    assert actor["publicKey"]["owner"] == movement
    assert actor["publicKey"]["id"] == movement + "#main-key"
    assert actor["publicKey"]["publicKeyPem"].startswith("-----BEGIN PUBLIC KEY-----")
    [multikey] = actor["assertionMethod"]
    assert multikey["type"] == "Multikey" and multikey["controller"] == movement
    assert multikey["publicKeyMultibase"].startswith("z6Mk")  # an Ed25519 public key


def test_a_member_is_a_person_of_its_movement(site):
    a, movement = site
    actor = a.get_json("/actors/alice").json()
    assert actor["type"] == "Person"
    assert actor["attributedTo"] == movement


def test_a_browser_gets_a_readable_profile_at_the_same_url(site):
    a, movement = site
    response = requests.get(movement, headers={"Accept": "text/html"})
    assert response.headers["content-type"].startswith("text/html")
    assert "Land Rights" in response.text and f"@landrights@{a.host}" in response.text
    assert "First post" in response.text


def test_the_outbox_is_a_paged_ordered_collection_of_creates(site):
    a, movement = site
    outbox = a.get_json("/actors/landrights/outbox").json()
    assert outbox["type"] == "OrderedCollection" and outbox["totalItems"] == 1
    page = a.get_json(outbox["first"]).json()
    assert page["type"] == "OrderedCollectionPage" and page["partOf"] == outbox["id"]
    [create] = page["orderedItems"]
    assert create["type"] == "Create" and create["actor"] == movement
    note = a.get_json(create["object"]["id"]).json()
    assert note["id"] == create["object"]["id"] and note["content"] == "<p>First post</p>"


def test_the_followers_collection_is_paged(site):
    a, _ = site
    followers = a.get_json("/actors/landrights/followers").json()
    assert followers["type"] == "OrderedCollection" and followers["totalItems"] == 0
    assert a.get_json(followers["first"]).json()["orderedItems"] == []


def test_an_unknown_actor_is_404(site):
    a, _ = site
    assert a.get_json("/actors/nobody").status_code == 404
