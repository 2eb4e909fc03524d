"""People join, sign in and look after their account without a shell; admins run the instance from pages."""

import re

import requests

from tests.harness import csrf_of, post_form, sign_in, wait_for

PAGE = {"Accept": "text/html"}


def test_a_person_joins_by_an_invitation_link_from_the_cli(instances):
    a = instances.new("a")
    a.movement("land", "Land Rights")
    link = a.cli("invite", "create", "--movement", "land", "--uses", "1", "--days", "2").out.strip()
    assert re.fullmatch(rf"{a.base_url}/invite/[\w-]+", link)

    person = requests.Session()
    page = person.get(link)
    assert page.status_code == 200 and "Land Rights" in page.text and 'for="username"' in page.text
    differ = person.post(
        link,
        data={"csrf": csrf_of(page.text), "username": "rosa", "password": "a long one", "password2": "x"},
    )
    assert differ.status_code == 400 and "The two passwords differ" in differ.text
    assert 'value="rosa"' in differ.text  # what was typed is kept
    joined = person.post(
        link,
        data={
            "csrf": csrf_of(page.text),
            "username": "rosa",
            "password": "a long one",
            "password2": "a long one",
        },
    )
    assert joined.url.endswith("/account?welcome=1") and "You are now a member" in joined.text
    assert "@rosa@" in joined.text and "Land Rights" in joined.text
    assert sign_in(a, "rosa", "a long one").get(a.url("/account")).url.endswith("/account")

    again = requests.get(link, headers=PAGE)
    assert again.status_code == 410 and "used up" in again.text and "<nav" in again.text
    assert requests.get(a.url("/invite/nonsense")).status_code == 404
    listed = a.cli("invite", "list", "--json").lines
    assert listed[0]["used"] == 1 and listed[0]["state"] == "used up"


def test_an_admin_makes_an_invitation_link_on_the_web(instances):
    a = instances.new("a")
    a.movement("land", "Land Rights")
    a.member("ada", "land", role="admin")
    ada = sign_in(a, "ada")
    made = post_form(
        ada,
        a.url("/admin/invitations"),
        a.url("/admin/invitations"),
        movement="land",
        role="signatory",
        uses="2",
    )
    link = re.search(r'id="invitation-link" readonly value="([^"]+)"', made.text).group(1)
    person = requests.Session()
    page = person.get(link).text
    assert "signatory" in page
    person.post(
        link,
        data={"csrf": csrf_of(page), "username": "tom", "password": "tom's pass", "password2": "tom's pass"},
    )
    assert "signatory of" in person.get(a.url("/account")).text
    members = ada.get(a.url("/admin/members")).text
    assert 'id="member-tom"' in members


def test_open_sign_up_waits_for_an_admins_approval(instances):
    a = instances.new("a")
    a.movement("land", "Land Rights")
    a.member("ada", "land", role="admin")
    closed = requests.get(a.url("/join")).text
    assert "by invitation" in closed and 'name="password"' not in closed
    ada = sign_in(a, "ada")
    saved = post_form(
        ada,
        a.url("/admin/settings"),
        a.url("/admin/settings"),
        title="Landless Forum",
        description="We *share* land.",
        rules="# Be kind\nNo spam.",
        signup="approval",
    )
    assert "Settings saved" in saved.text
    home = requests.get(a.url("/")).text
    assert "<h1>Landless Forum</h1>" in home and "<em>share</em>" in home
    assert "<h2>Be kind</h2>" in home and "<h1>Be kind" not in home  # Markdown headings sit under the h1
    assert 'href="/join"' in home and "Sign in" in home

    assert 'href="/join?movement=land"' in requests.get(a.url("/actors/land")).text
    person = requests.Session()
    sent = post_form(
        person,
        a.url("/join"),
        a.url("/join"),
        movement="land",
        username="nia",
        password="nia's password",
        password2="nia's password",
        message="I farm",
    )
    assert "request to join was sent" in sent.text
    refused = requests.Session()
    form = refused.get(a.url("/login")).text
    assert (
        refused.post(
            a.url("/login"), data={"username": "nia", "password": "nia's password", "csrf": csrf_of(form)}
        ).status_code
        == 401
    )
    assert "nia asks to join your movement" in ada.get(a.url("/notifications")).text
    members = ada.get(a.url("/admin/members")).text
    assert "nia" in members and "I farm" in members
    request_id = re.search(r'action="/admin/requests/(\d+)"', members).group(1)
    approved = ada.post(
        a.url(f"/admin/requests/{request_id}"), data={"csrf": csrf_of(members), "decision": "approve"}
    )
    assert "nia is now a member" in approved.text
    assert "Your account" in sign_in(a, "nia", "nia's password").get(a.url("/account")).text


def test_a_member_changes_the_password_and_an_admin_link_resets_it(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ada", "land", role="admin")
    a.member("bo", "land", password="first password")
    bo = sign_in(a, "bo", "first password")
    wrong = post_form(
        bo,
        a.url("/account"),
        a.url("/account/password"),
        current="nope",
        password="second pw",
        password2="second pw",
    )
    assert wrong.status_code == 403 and "current password is wrong" in wrong.text
    changed = post_form(
        bo,
        a.url("/account"),
        a.url("/account/password"),
        current="first password",
        password="second password",
        password2="second password",
    )
    assert "Your password was changed" in changed.text
    other_device = sign_in(a, "bo", "second password")
    assert "Your account" in bo.get(a.url("/account")).text  # the session that changed it stays in

    ada = sign_in(a, "ada")
    made = post_form(ada, a.url("/admin/members"), a.url("/admin/members/bo/reset"))
    link = re.search(r'id="reset-link" readonly value="([^"]+)"', made.text).group(1)
    person = requests.Session()
    page = person.get(link).text
    assert "bo" in page
    done = person.post(
        link, data={"csrf": csrf_of(page), "password": "third password", "password2": "third password"}
    )
    assert "Your password was changed" in done.text
    sign_in(a, "bo", "third password")
    for signed_out in (bo, other_device):  # sessions made before the reset are signed out
        assert signed_out.get(a.url("/account"), allow_redirects=False).status_code == 303
    assert requests.get(link).status_code == 410  # one time only
    cli_link = a.cli("reset-password", "bo").out.strip()
    assert requests.get(cli_link).status_code == 200


def test_the_header_counts_unread_notifications_of_replies(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ana", "land")
    a.member("bea", "land")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    ana = sign_in(a, "ana")
    space = a.url("/spaces/fields")
    post_form(ana, space, f"{space}/join")
    thread = post_form(ana, space, f"{space}/threads", title="Seeds", text="Who has seeds?")
    parent = re.search(r'name="parent" value="(\d+)"', thread.text).group(1)
    bea = sign_in(a, "bea")
    post_form(bea, space, f"{space}/join")
    post_form(bea, thread.url, f"{thread.url}/reply", text="I do", parent=parent)

    page = ana.get(a.url("/spaces")).text
    assert re.search(r'<b class="unread" aria-label="1 unread">1</b>', page)
    notes = ana.get(a.url("/notifications")).text
    assert "replied to your post" in notes and "bea" in notes and "Seeds" in notes
    post_form(ana, a.url("/notifications"), a.url("/notifications/read"))
    assert 'class="unread"' not in ana.get(a.url("/spaces")).text
    assert "Sign in" in requests.get(a.url("/spaces")).text


def test_admin_pages_are_for_admins_only(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("bo", "land")
    anonymous = requests.get(a.url("/admin"), allow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/login")
    refused = sign_in(a, "bo").get(a.url("/admin/members"), headers=PAGE)
    assert refused.status_code == 403 and "Only the instance" in refused.text and "<nav" in refused.text


def test_an_admin_creates_movements_and_spaces_and_sets_roles(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ada", "land", role="admin")
    a.member("bo", "land")
    ada = sign_in(a, "ada")
    made = post_form(ada, a.url("/admin/movements"), a.url("/admin/movements"), slug="water", name="Water")
    assert "Movement water created" in made.text
    bad = post_form(ada, a.url("/admin/movements"), a.url("/admin/movements"), slug="Not A Slug!", name="x")
    assert bad.status_code == 400 and "not a valid name" in bad.text
    space = post_form(
        ada,
        a.url("/admin/spaces"),
        a.url("/admin/spaces"),
        movement="water",
        slug="wells",
        name="Wells",
        rules="Be kind",
    )
    assert "Space wells created" in space.text and "Wells" in requests.get(a.url("/spaces/wells")).text
    role = post_form(ada, a.url("/admin/members"), a.url("/admin/members/bo/role"), role="signatory")
    assert "bo is now signatory" in role.text
    assert "healthy" in ada.get(a.url("/admin/deliveries")).text
    assert "Overview" in ada.get(a.url("/admin")).text


def test_missing_pages_and_expired_forms_are_styled_pages(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ana", "land")
    missing = requests.get(a.url("/nowhere/at/all"), headers=PAGE)
    assert missing.status_code == 404 and "<nav" in missing.text and 'href="/"' in missing.text
    assert (
        requests.get(a.url("/nowhere"), headers={"Accept": "application/json"})
        .headers["Content-Type"]
        .startswith("text/plain")
    )
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    ana = sign_in(a, "ana")
    expired = ana.post(
        a.url("/spaces/fields/threads"),
        data={"csrf": "stale", "title": "Seeds", "text": "A long text I do not want to lose"},
        headers=PAGE,
    )
    assert expired.status_code == 403 and "Your form expired" in expired.text
    assert "A long text I do not want to lose" in expired.text and 'value="stale"' not in expired.text
    resent = ana.post(
        a.url("/spaces/fields/join"), data={"csrf": csrf_of(expired.text)}
    )  # the page's fresh token works
    assert resent.status_code == 200


def test_overlong_fields_are_refused_with_a_message(instances):
    a = instances.new("a")
    a.movement("land")
    link = a.cli("invite", "create", "--movement", "land").out.strip()
    person = requests.Session()
    page = person.get(link).text
    long = person.post(
        link,
        data={"csrf": csrf_of(page), "username": "x" * 30000, "password": "p" * 10, "password2": "p" * 10},
    )
    assert long.status_code == 413
    named = person.post(
        link,
        data={
            "csrf": csrf_of(page),
            "username": "okname",
            "name": "n" * 101,
            "password": "p" * 10,
            "password2": "p" * 10,
        },
    )
    assert named.status_code == 400 and "at most 100 characters" in named.text


def test_a_blocked_domain_is_refused_at_the_inbox_and_gets_nothing(instances):
    a, b = instances.new("a"), instances.new("b")
    a.movement("land")
    a.member("ada", "land", role="admin")
    b.movement("farm")
    b.cli("follow", "farm", a.handle("land"))
    wait_for(lambda: b.following_state("farm", a.url("/actors/land")) == "accepted", what="follow accepted")
    ada = sign_in(a, "ada")
    blocked = post_form(ada, a.url("/admin/blocks"), a.url("/admin/blocks"), domain=b.host, reason="spam")
    assert f"{b.host} is blocked" in blocked.text
    b.movement("orchard")
    refused = b.cli("follow", "orchard", a.handle("land"), check=False)
    assert refused.code != 0 and "blocked" in refused.err

    before = {d["id"] for d in a.deliveries()}
    a.cli("post", "land", "Hello followers")
    assert not [d for d in a.deliveries() if b.host in d["inbox"] and d["id"] not in before]
    a.cli("block", "remove", b.host)
    assert b.host not in a.cli("block", "list").out


def test_every_form_field_has_a_server_side_limit(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ana", "land")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    ana = sign_in(a, "ana")
    space = a.url("/spaces/fields")
    post_form(ana, space, f"{space}/join")
    huge = post_form(ana, space, f"{space}/threads", title="t" * 301, text="x")
    assert huge.status_code == 413 and "title may have at most 300 characters" in huge.text
    assert "Seeds" not in requests.get(space).text


def test_a_member_is_told_when_a_moderator_removes_their_post(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ana", "land")
    a.member("mod", "land", role="admin")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    ana = sign_in(a, "ana")
    space = a.url("/spaces/fields")
    post_form(ana, space, f"{space}/join")
    thread = post_form(ana, space, f"{space}/threads", title="Seeds", text="Buy my pills")
    post_id = re.search(r'name="parent" value="(\d+)"', thread.text).group(1)
    mod = sign_in(a, "mod")
    post_form(mod, thread.url, f"{thread.url}/moderate", post=post_id, action="remove")
    page = ana.get(a.url("/notifications")).text
    assert "A moderator of Fields removed your post" in page


def test_mastodon_apps_see_the_title_rules_and_sign_up_the_admins_set(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ada", "land", role="admin")
    ada = sign_in(a, "ada")
    post_form(
        ada,
        a.url("/admin/settings"),
        a.url("/admin/settings"),
        title="Land Forum",
        description="",
        rules="1. Be kind\n2. No spam",
        signup="approval",
    )
    v2 = requests.get(a.url("/api/v2/instance")).json()
    assert v2["title"] == "Land Forum" and v2["registrations"]["enabled"] is True
    assert [r["text"] for r in requests.get(a.url("/api/v1/instance/rules")).json()] == ["Be kind", "No spam"]
    bad = post_form(ada, a.url("/admin/settings"), a.url("/admin/settings"), title="", signup="approval")
    assert bad.status_code == 400 and "needs a title" in bad.text


def test_one_address_may_send_a_few_join_requests_an_hour(instances):
    a = instances.new("a")
    a.movement("land")
    a.member("ada", "land", role="admin")
    ada = sign_in(a, "ada")
    post_form(ada, a.url("/admin/settings"), a.url("/admin/settings"), title="Land", signup="approval")
    person = requests.Session()
    answers = [
        post_form(
            person,
            a.url("/join"),
            a.url("/join"),
            movement="land",
            username=f"p{n}",
            password="p" * 9,
            password2="p" * 9,
        ).status_code
        for n in range(6)
    ]
    assert answers == [200] * 5 + [429]
