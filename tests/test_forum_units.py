"""Pure steps of the forum features: search patterns, edit detection, notices, and the routes of the new
activities."""

from federation.edits import changes, source_of
from federation.routing import build
from models import Object
from server import notices
from server.routes.discovery import like_pattern


def test_a_search_takes_percent_underscore_and_backslash_literally():
    assert like_pattern("100%") == "%100\\%%"
    assert like_pattern("snake_case") == "%snake\\_case%"
    assert like_pattern("a\\b") == "%a\\\\b%"
    assert like_pattern("Wells") == "%wells%"


def test_an_edit_is_a_change_of_title_or_text_only():
    post = Object(uri="https://b.example/objects/1", type="Page", name="Wells", content="<p>three</p>")
    assert not changes(post, "Wells", "<p>three</p>")
    assert changes(post, "Wells", "<p>four</p>")
    assert changes(post, "Wells (updated)", "<p>three</p>")
    reply = Object(uri="https://b.example/objects/2", type="Note", name=None, content=None)
    assert not changes(reply, None, "")


def test_the_markdown_source_of_a_post():
    assert source_of({"source": {"content": "**hi**", "mediaType": "text/markdown"}}) == "**hi**"
    assert source_of({"source": "not a dict"}) is None
    assert source_of(None) is None


def test_refusals_become_notices_a_member_can_read():
    assert notices.code_for("https://b.example/actors/bea is banned from this space") == "banned"
    assert notices.code_for("only the author may edit or delete a post") == "not-author"
    assert notices.code_for("you cannot ban yourself") == "own-post"
    assert notices.text_of("reported").startswith("Thank you")


def test_pins_moderators_and_relayed_likes_have_routes():
    rows = {(a, o, fn) for a, o, _, fn in build().rows()}
    for expected in [
        ("Add", "*", "spaces.inbox.on_space_collection_change"),
        ("Remove", "*", "spaces.inbox.on_space_collection_change"),
        ("Announce", "Like", "spaces.inbox.on_space_announces_like"),
        ("Announce", "Undo", "spaces.inbox.on_space_announces_undo"),
        ("Undo", "*", "spaces.inbox.space_relays_unlike"),
    ]:
        assert expected in rows, expected
