"""Mastodon.py clients for test instances: app registration, the password grant, and the authorization code
flow driven through the consent page as a person's browser would."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import requests
from mastodon import Mastodon

from tests.harness import csrf_of

OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPES = ["read", "write", "follow"]
PASSWORD = "correct horse"


def register(instance, scopes=SCOPES, redirect_uris: str = OOB) -> tuple[str, str]:
    return Mastodon.create_app(
        "Story client", api_base_url=instance.base_url, scopes=scopes, redirect_uris=redirect_uris
    )


def client(instance, access_token: str | None = None, app: tuple[str, str] | None = None) -> Mastodon:
    client_id, secret = app or register(instance)
    return Mastodon(
        client_id=client_id,
        client_secret=secret,
        access_token=access_token,
        api_base_url=instance.base_url,
        version_check_mode="created",
        request_timeout=15,
    )


def password_login(instance, username: str, password: str = PASSWORD, scopes=SCOPES) -> Mastodon:
    app = register(instance, scopes)
    mastodon = client(instance, app=app)
    mastodon.log_in(username, password, scopes=scopes, allow_http=True)
    return mastodon


def consent(
    instance,
    auth_url: str,
    username: str,
    password: str = PASSWORD,
    account: str | None = None,
    action: str = "approve",
) -> requests.Response:
    """Signs in on the consent page and approves (or denies); returns the final answer, redirects not followed."""
    browser = requests.Session()
    page = browser.get(auth_url, timeout=10)
    page.raise_for_status()
    oauth = {
        k: v[0]
        for k, v in parse_qs(urlsplit(auth_url).query).items()
        if k
        in (
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "response_type",
            "code_challenge",
            "code_challenge_method",
        )
    }
    signed_in = browser.post(
        instance.url("/oauth/authorize"),
        data={
            **oauth,
            "csrf": csrf_of(page.text),
            "username": username,
            "password": password,
            "action": "login",
        },
        timeout=10,
    )
    signed_in.raise_for_status()
    form = {**oauth, "csrf": csrf_of(signed_in.text), "action": action}
    if account:
        form["account"] = account
    return browser.post(instance.url("/oauth/authorize"), data=form, allow_redirects=False, timeout=10)


def code_login(instance, username: str, account: str | None = None, scopes=SCOPES) -> Mastodon:
    """The authorization code flow with the out-of-band page, as command-line clients use it."""
    app = register(instance, scopes)
    mastodon = client(instance, app=app)
    url = mastodon.auth_request_url(scopes=scopes, allow_http=True)
    answer = consent(instance, url, username, account=account)
    code = re.search(r'value="([^"]+)" id="code"', answer.text).group(1)
    mastodon.log_in(code=code, scopes=scopes, allow_http=True)
    return mastodon
