"""What Mastodon apps rely on from one instance: paging with Link headers, tokens and scopes refused in
Mastodon's error shape, the consent page's redirects, and the start-up answers that keep apps from crashing."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mastodon import Mastodon, MastodonError, MastodonUnauthorizedError

from tests.mastodon_client import SCOPES, client, consent, password_login, register


@pytest.fixture(scope="module")
def site(module_instances):
    a = module_instances.new("a")
    a.movement("landrights", "Land Rights")
    a.member("alice", "landrights", role="admin")
    a.member("bob", "landrights")
    return a


def api(site, method: str, path: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(
        method, site.url(path), headers={**headers, **kwargs.pop("headers", {})}, timeout=10, **kwargs
    )


def test_paging_through_100_statuses_with_link_headers_returns_each_exactly_once(site):
    bob = password_login(site, "bob")
    posted = [bob.status_post(f"Update number {n}").id for n in range(100)]
    raw = api(site, "GET", "/api/v1/timelines/home?limit=7", bob.access_token)
    assert raw.headers["Link"].startswith("<") and 'rel="next"' in raw.headers["Link"].split(",")[0]
    ids = [s["id"] for s in raw.json()]
    assert all(isinstance(i, str) for i in ids)
    assert ids == sorted(
        ids, key=lambda i: (len(i), i), reverse=True
    )  # newest first, compared as Mastodon does

    seen = []
    page = bob.timeline_home(limit=7)
    while page:
        seen.extend(s.id for s in page)
        page = bob.fetch_next(page)
    mine = [i for i in seen if i in set(posted)]
    assert len(mine) == len(set(mine)) == 100 and set(mine) == set(posted)

    backwards, page = [], bob.account_statuses(bob.me().id, min_id=0, limit=9)
    while page:
        backwards.extend(s.id for s in page)
        page = bob.fetch_previous(page)
    assert sorted(backwards) == sorted(posted)


def test_calls_without_a_token_with_a_revoked_token_or_a_missing_scope_are_refused(site):
    missing = api(site, "GET", "/api/v1/timelines/home")
    assert missing.status_code == 401 and isinstance(missing.json()["error"], str)
    assert api(site, "GET", "/api/v1/accounts/verify_credentials", "not-a-token").status_code == 401

    reader = password_login(site, "alice", scopes=["read"])
    assert reader.timeline_home() is not None
    refused = api(site, "POST", "/api/v1/statuses", reader.access_token, data={"status": "hi"})
    assert refused.status_code == 403 and refused.json() == {
        "error": "This action is outside the authorized scopes"
    }

    narrow = password_login(site, "alice", scopes=["read:statuses"])
    assert api(site, "GET", "/api/v1/timelines/home", narrow.access_token).status_code == 200
    assert api(site, "GET", "/api/v1/notifications", narrow.access_token).status_code == 403

    writer = password_login(site, "alice")
    writer.revoke_access_token(allow_http=True)
    with pytest.raises(MastodonUnauthorizedError):
        writer.account_verify_credentials()
    gone = api(site, "GET", "/api/v1/accounts/verify_credentials", writer.access_token)
    assert gone.status_code == 401 and "error" in gone.json()

    client_id, secret = register(site)
    app_token = requests.post(
        site.url("/oauth/token"),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "read",
        },
        timeout=10,
    ).json()
    assert app_token["scope"] == "read" and app_token["token_type"] == "Bearer"
    assert (
        api(site, "GET", "/api/v1/apps/verify_credentials", app_token["access_token"]).json()["name"]
        == "Story client"
    )
    assert (
        api(site, "GET", "/api/v1/accounts/verify_credentials", app_token["access_token"]).status_code == 422
    )

    wrong = requests.post(
        site.url("/oauth/token"),
        data={
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": secret,
            "username": "alice",
            "password": "wrong password",
            "scope": "read",
        },
        timeout=10,
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_the_consent_page_redirects_to_the_apps_custom_scheme_and_can_act_for_a_movement(site):
    client_id, secret = register(site, redirect_uris="org.example.app://oauth")
    mastodon = client(site, app=(client_id, secret))
    url = mastodon.auth_request_url(
        redirect_uris="org.example.app://oauth", scopes=SCOPES, state="xyz", allow_http=True
    )
    answer = consent(
        site, url.replace("/oauth/authorize?", "/oauth/authorize/?"), "alice", account="landrights"
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("org.example.app://oauth?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    token = mastodon.log_in(
        code=query["code"][0], redirect_uri="org.example.app://oauth", scopes=SCOPES, allow_http=True
    )
    assert (
        Mastodon(access_token=token, api_base_url=site.base_url).account_verify_credentials().acct
        == "landrights"
    )
    with pytest.raises(MastodonError):  # a code works once
        mastodon.log_in(
            code=query["code"][0], redirect_uri="org.example.app://oauth", scopes=SCOPES, allow_http=True
        )

    denied = consent(site, url, "alice", action="deny")
    assert parse_qs(urlsplit(denied.headers["Location"]).query)["error"] == ["access_denied"]
    refused = consent(site, url, "bob", account="landrights")  # bob is no admin of the movement
    assert refused.status_code == 403


def test_start_up_calls_of_apps_get_valid_answers(site):
    token = password_login(site, "alice").access_token
    instance = api(site, "GET", "/api/v1/instance/").json()
    assert instance["version"].startswith("4.3.0 (compatible; Interpeople") and instance["uri"] == site.host
    v2 = api(site, "GET", "/api/v2/instance").json()
    assert v2["api_versions"]["mastodon"] >= 2 and v2["configuration"]["urls"]["streaming"].startswith(
        "ws://"
    )
    for path in (
        "/api/v1/custom_emojis",
        "/api/v1/filters",
        "/api/v2/filters",
        "/api/v1/lists",
        "/api/v1/announcements",
        "/api/v1/trends/tags",
        "/api/v1/follow_requests",
        "/api/v1/bookmarks/",
    ):
        answer = api(site, "GET", path, token)
        assert answer.status_code == 200 and answer.json() == [], path
    assert api(site, "GET", "/api/v1/markers?timeline[]=home", token).json() == {}
    saved = api(site, "POST", "/api/v1/markers", token, json={"home": {"last_read_id": "42"}}).json()
    assert saved["home"]["last_read_id"] == "42"
    assert api(site, "GET", "/api/v1/preferences", token).json()["posting:default:visibility"] == "public"

    cors = api(
        site,
        "OPTIONS",
        "/api/v1/statuses",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert cors.status_code == 204 and cors.headers["Access-Control-Allow-Origin"] == "*"
    for path in (
        "/api/v1/instance",
        "/.well-known/nodeinfo",
        "/nodeinfo/2.1",
        "/.well-known/oauth-authorization-server",
    ):
        assert api(site, "GET", path).headers.get("Access-Control-Allow-Origin") == "*", path
    metadata = api(site, "GET", "/.well-known/oauth-authorization-server").json()
    assert "password" in metadata["grant_types_supported"] and metadata["token_endpoint"].endswith(
        "/oauth/token"
    )

    # JSON, form and empty bodies alike; key[] arrays; trailing slashes; never-null avatars.
    as_json = api(
        site, "POST", "/api/v1/statuses", token, json={"status": "json body", "visibility": "private"}
    ).json()
    as_form = api(
        site, "POST", "/api/v1/statuses/", token, data={"status": "form body", "spoiler_text": "cw"}
    ).json()
    assert (
        as_json["visibility"] == "private"
        and as_form["spoiler_text"] == "cw"
        and as_form["sensitive"] is True
    )
    assert (
        api(site, "POST", f"/api/v1/statuses/{as_form['id']}/favourite", token).json()["favourited"] is True
    )
    me = api(site, "GET", "/api/v1/accounts/verify_credentials", token).json()
    movement = api(site, "GET", "/api/v1/accounts/lookup?acct=landrights").json()
    assert movement["group"] is True and me["group"] is False
    assert (
        me["avatar"]
        and me["header"]
        and requests.get(me["avatar"], timeout=5).headers["Content-Type"] == "image/png"
    )
    related = api(
        site, "GET", f"/api/v1/accounts/relationships?id[]={movement['id']}&id[]={me['id']}", token
    ).json()
    assert [r["id"] for r in related] == [movement["id"], me["id"]]
    assert api(site, "GET", "/api/v1/statuses/999999", token).json() == {"error": "Record not found"}

    same = [
        api(
            site,
            "POST",
            "/api/v1/statuses",
            token,
            data={"status": "once"},
            headers={"Idempotency-Key": "k-1"},
        ).json()["id"]
        for _ in range(2)
    ]
    assert same[0] == same[1]


def test_the_openapi_description_and_the_docs_list_the_same_endpoints(site):
    from server.mastodon.openapi import markdown_table
    from tests.harness import ROOT

    document = api(site, "GET", "/api/openapi.json").json()
    assert document["openapi"].startswith("3.") and "/api/v1/timelines/home" in document["paths"]
    assert document["paths"]["/api/v1/statuses"]["post"]["x-required-scope"] == "write:statuses"
    assert markdown_table() in (ROOT / "docs" / "mastodon-api.md").read_text(), (
        "docs/mastodon-api.md is out of date: paste server.mastodon.openapi.markdown_table() into it"
    )
    assert json.loads(json.dumps(document))  # plain JSON throughout
