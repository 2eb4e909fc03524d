"""Received documents made safe to handle and store: bounded nesting, storable strings, one type, one author.

Peers send valid JSON-LD that the handlers do not expect (a `type` or `attributedTo` given as a list),
and hostile or broken peers send what no database column takes (NUL, lone surrogates, ids longer than
the 2048 characters of an id column, nesting deep enough to exhaust the interpreter's stack). Every such
input gets a 4xx here, or is reduced to the shape the handlers read, before it reaches them.
"""

from __future__ import annotations

import json
import re

from federation.refusal import Refusal
from federation.vocabulary import ACTOR_TYPES, id_of

MAX_DEPTH = 64  # far beyond any real activity (Announce{Create{Note{tag{...}}}} is about 6)
MAX_URI = 2048  # the id columns (String(2048))
MAX_TYPE = 64  # the type columns (String(64))
# References stored in id columns, or compared with them.
URI_FIELDS = ("id", "actor", "object", "target", "inReplyTo", "context", "audience", "attributedTo")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL) and lone surrogates (not UTF-8)


def parse_document(body: bytes) -> tuple[dict, bool]:
    """The JSON object of a body, and whether its strings had to be cleaned (see clean_strings).

    Refuses with 400 what is not a JSON object or nests deeper than MAX_DEPTH.
    """
    try:
        document = json.loads(body, parse_constant=_not_json)
    except RecursionError:
        raise Refusal(400, f"body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise Refusal(400, "body is not JSON") from None
    if not isinstance(document, dict):
        raise Refusal(400, "body is not a JSON object")
    # Each level opens a bracket: fewer brackets than MAX_DEPTH cannot nest deeper (a cheap C-speed count).
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and depth_of(document) > MAX_DEPTH:
        raise Refusal(400, f"body nests deeper than {MAX_DEPTH} levels")
    # NUL and surrogates only come from \u escapes, or from UTF-8-encoded surrogates (0xED 0xA0-0xBF).
    if b"\\u" in body or b"\xed" in body:
        cleaned = clean_strings(document)
        return cleaned, cleaned != document
    return document, False


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")  # Python's parser takes NaN and Infinity; JSON and JSONB do not


def depth_of(value) -> int:
    """How deeply lists and objects nest (walked iteratively: no recursion limit); stops past MAX_DEPTH."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest if isinstance(value, (dict, list)) else 0


def clean_string(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def clean_strings(value):
    """The value with every NUL and lone surrogate (in keys and strings) replaced by U+FFFD."""
    if isinstance(value, str):
        return clean_string(value)
    if isinstance(value, list):
        return [clean_strings(item) for item in value]
    if isinstance(value, dict):
        return {clean_string(key): clean_strings(item) for key, item in value.items()}
    return value


def one_type(document: dict, what: str) -> str | None:
    """The type handlers act on: a string, or the first string of a list (JSON-LD allows several)."""
    value = document.get("type")
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str)), None)
        if value is None:
            raise Refusal(400, f"{what} type is a list without a type name")
    if value is None:
        return None
    if not isinstance(value, str):
        raise Refusal(400, f"{what} type must be a string or a list of strings")
    if len(value) > MAX_TYPE:
        raise Refusal(400, f"{what} type is longer than {MAX_TYPE} characters")
    return value


def one_author(value, prefer: str | None = None) -> str | None:
    """The author's id from attributedTo, which PeerTube sends as a list (the account and its channel).

    The entry that is `prefer` (the sending actor) wins; else the first that is an id or an actor.
    """
    if not isinstance(value, list):
        return id_of(value)
    ids = [id_of(item) for item in value if isinstance(item, str) or _is_actor(item)]
    ids = [found for found in ids if found]
    if prefer in ids:
        return prefer
    return ids[0] if ids else None


def _is_actor(item) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type", "Person")
    return any(isinstance(k, str) and k in ACTOR_TYPES for k in (kind if isinstance(kind, list) else [kind]))


def _check_lengths(document: dict, what: str) -> None:
    for name in URI_FIELDS:
        value = document.get(name)
        for item in value if isinstance(value, list) else (value,):
            found = id_of(item)
            if found is not None and len(found) > MAX_URI:
                raise Refusal(400, f"{what} {name} is longer than {MAX_URI} characters")


def normalize_object(document: dict, actor_uri: str | None, what: str = "object") -> dict:
    """An object (or activity) with one type and one author, refused when an id is too long to store."""
    _check_lengths(document, what)
    shaped = dict(document)
    if "type" in document:
        shaped["type"] = one_type(document, what)
    if isinstance(document.get("attributedTo"), list):
        shaped["attributedTo"] = one_author(document["attributedTo"], actor_uri)
    return shaped


def _embedded(document: dict):
    """The activity, then the objects it embeds up to three deep (Announce{Create{Note}}), with names."""
    what = "activity"
    for _ in range(4):
        yield document, what
        document, what = document.get("object"), ("object" if what == "activity" else "embedded " + what)
        if not isinstance(document, dict):
            return


def check_sizes(document: dict) -> None:
    """Refuses (400) an activity whose ids, or those of the objects it embeds, are too long to store."""
    for part, what in _embedded(document):
        _check_lengths(part, what)


def normalize_activity(document: dict, actor_uri: str) -> dict:
    """An activity and the objects it embeds with one type and one author each."""
    parts = [normalize_object(part, actor_uri, what) for part, what in _embedded(document)]
    for outer, inner in zip(parts, parts[1:]):
        outer["object"] = inner
    return parts[0]
