"""Browser stories (Debian's chromium through Playwright): an admin invites, a person joins by the link, signs
in, sees a notification of a reply and changes the password; a blocked domain is refused; pages fit 390 px."""

import re

import requests

from tests.browser import MOBILE_WIDTH, page_width
from tests.harness import csrf_of


def sign_in(page, instance, username: str, password: str) -> None:
    page.goto(instance.url("/"))
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Sign in").click()
    page.get_by_label("Member name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page) -> None:
    page.get_by_role("navigation", name="Site").get_by_role("button", name="Sign out").click()


def test_an_invited_person_joins_sees_a_reply_and_changes_the_password(instances, browser):
    a = instances.new("a")
    a.movement("land", "Land Rights")
    a.member("ada", "land", role="admin", password="ada's password")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")

    admin = browser.new_context().new_page()
    sign_in(admin, a, "ada", "ada's password")
    admin.get_by_role("link", name="Admin").click()
    admin.get_by_role("navigation", name="Admin").get_by_role("link", name="Invitations").click()
    admin.get_by_label("Movement").select_option("land")
    admin.get_by_role("button", name="Make an invitation link").click()
    link = admin.get_by_label("Invitation link").input_value()
    assert link.startswith(a.url("/invite/"))

    person = browser.new_context().new_page()
    person.goto(link)
    assert "Join Land Rights" in person.locator("h1").inner_text()
    person.get_by_label("Member name").fill("rosa")
    person.locator("#password").fill("rosa's password")
    person.get_by_label("Password again").fill("rosa's password")
    person.get_by_role("button", name="Become a member").click()
    assert "You are now a member" in person.content()
    sign_out(person)
    sign_in(person, a, "rosa", "rosa's password")
    person.goto(a.url("/spaces/fields"))
    person.get_by_role("button", name="Join").first.click()
    person.locator("summary", has_text="Open a thread").click()
    person.get_by_label("Title").fill("Seed swap")
    person.get_by_label("Text").fill("Who brings beans?")
    person.get_by_role("button", name="Post thread").click()
    thread_url = person.url

    admin.goto(thread_url)
    admin.locator("summary", has_text="reply").first.click()
    admin.get_by_label("Your reply").first.fill("I bring beans")
    admin.get_by_role("button", name="Reply").first.click()

    person.goto(a.url("/spaces"))
    unread = person.locator("header .unread")
    assert unread.inner_text() == "1"
    person.get_by_role("link", name=re.compile("Notifications")).click()
    item = person.locator("li.notification").first
    assert "replied to your post in" in item.inner_text() and "Seed swap" in item.inner_text()
    person.get_by_role("button", name="Mark all as read").click()
    assert person.locator("header .unread").count() == 0

    person.get_by_role("link", name="rosa").click()
    person.get_by_label("Current password").fill("rosa's password")
    person.locator("#password").fill("a new password")
    person.get_by_label("New password again").fill("a new password")
    person.get_by_role("button", name="Change password").click()
    assert "Your password was changed" in person.content()
    sign_out(person)
    sign_in(person, a, "rosa", "a new password")
    assert person.get_by_role("navigation", name="Site").get_by_role("link", name="rosa").is_visible()


def test_an_admin_blocks_a_domain_and_its_follow_is_refused(instances, page):
    a, b = instances.new("a"), instances.new("b")
    a.movement("land")
    a.member("ada", "land", role="admin", password="ada's password")
    b.movement("farm")
    sign_in(page, a, "ada", "ada's password")
    page.goto(a.url("/admin/blocks"))
    page.get_by_label("Domain, handle or URL").fill(f"farm@{b.host}")
    page.get_by_label("Reason").fill("harassment")
    page.get_by_role("button", name="Block").click()
    assert f"{b.host} is blocked" in page.content()
    refused = b.cli("follow", "farm", a.handle("land"), check=False)
    assert refused.code != 0 and "blocked" in refused.err


def test_the_main_pages_fit_a_390_px_phone(instances, phone, tmp_path):
    a = instances.new("a")
    a.movement("land", "Land Rights")
    a.member("ada", "land", role="admin", password="ada's password")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    word = "Landrights" * 30  # one unbroken word, far wider than a phone
    ada = requests.Session()
    form = ada.get(a.url("/login")).text
    ada.post(a.url("/login"), data={"username": "ada", "password": "ada's password", "csrf": csrf_of(form)})
    space = ada.get(a.url("/spaces/fields")).text
    ada.post(a.url("/spaces/fields/join"), data={"csrf": csrf_of(space)})
    thread = ada.post(
        a.url("/spaces/fields/threads"), data={"csrf": csrf_of(space), "title": word, "text": word}
    )
    a.movement("water", "Water")
    text = tmp_path / "pact.md"
    text.write_text(f"# {word}\n\n{word}")
    proposal = a.cli(
        "proposal", "create", "land", "--title", word, "--text-file", str(text), "--party", a.handle("water")
    ).out.strip()
    sign_in(phone, a, "ada", "ada's password")
    pages = [
        proposal,
        "/",
        "/spaces",
        "/spaces/fields",
        thread.url,
        "/login",
        "/join",
        "/notifications",
        "/account",
        "/actors/land",
        "/actors/land/charter",
        "/admin",
        "/admin/members",
        "/admin/invitations",
        "/admin/deliveries",
        "/admin/blocks",
        "/admin/settings",
        "/nowhere",
    ]
    for path in pages:
        phone.goto(path if path.startswith("http") else a.url(path))
        assert page_width(phone) <= MOBILE_WIDTH, f"{path} is {page_width(phone)} px wide"


def test_every_field_has_a_label_and_pages_have_a_skip_link(instances, page):
    a = instances.new("a")
    a.movement("land")
    a.member("ada", "land", role="admin", password="ada's password")
    a.cli("space", "create", "fields", "--name", "Fields", "--movement", "land")
    sign_in(page, a, "ada", "ada's password")
    unlabelled = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
        .filter(e => e.labels.length === 0 && !e.getAttribute('aria-label')).map(e => e.name)"""
    for path in [
        "/",
        "/spaces/fields",
        "/account",
        "/notifications",
        "/admin/members",
        "/admin/invitations",
        "/admin/movements",
        "/admin/spaces",
        "/admin/blocks",
        "/admin/settings",
    ]:
        page.goto(a.url(path))
        assert page.evaluate(unlabelled) == [], path
        assert page.locator("a.skip[href='#main']").count() == 1 and page.locator("main#main").count() == 1
        assert page.locator("h1").count() == 1, path
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
