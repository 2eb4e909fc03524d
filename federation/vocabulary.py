"""ActivityStreams vocabulary: contexts, addressing constants and small accessors."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any
from urllib.parse import urlsplit

AS = "https://www.w3.org/ns/activitystreams"
SECURITY = "https://w3id.org/security/v1"
MULTIKEY = "https://w3id.org/security/multikey/v1"
DATA_INTEGRITY = "https://w3id.org/security/data-integrity/v2"
DATA_INTEGRITY_V1 = "https://w3id.org/security/data-integrity/v1"
DID = "https://www.w3.org/ns/did/v1"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})
# publicKey/publicKeyPem (security/v1), proofs (data-integrity), the assertionMethod property (DID: the
# data-integrity and multikey contexts define it only as a proof purpose) and Multikey (multikey/v1).
# Interpeople actors add their instance's agreements context (AGREEMENTS_CONTEXT_PATH), which also tells
# peers that speak Proposal and Agreement (speaks_agreements).
ACTOR_CONTEXT = [AS, SECURITY, DATA_INTEGRITY_V1, DID, MULTIKEY]
AGREEMENTS_CONTEXT_PATH = "/ns/agreements/v1"
AP_CONTENT_TYPE = "application/activity+json"
LD_CONTENT_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
ACTOR_TYPES = frozenset({"Person", "Group", "Organization", "Service", "Application"})
# Objects shown as posts on timelines (those Mastodon shows); others are stored but not shown.
POST_TYPES = frozenset({"Note", "Article", "Page", "Question", "Event", "Image", "Video", "Audio"})


def speaks_agreements(actor_document: dict | None) -> bool:
    """Whether an actor's document names an agreements context: an Interpeople actor, which takes Proposal
    and Agreement activities (other servers refuse types they do not know, and get a readable Note)."""
    context = (actor_document or {}).get("@context")
    return any(isinstance(c, str) and c.endswith(AGREEMENTS_CONTEXT_PATH) for c in as_list(context))


def iso(moment: dt.datetime | None = None) -> str:
    """A time as ActivityPub documents carry it: UTC, to the second, with Z (now when none is given)."""
    return (
        (moment or dt.datetime.now(dt.timezone.utc))
        .astimezone(dt.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def iso_or_none(moment: dt.datetime | None) -> str | None:
    return iso(moment) if moment else None


def id_of(value: Any) -> str | None:
    """The id of a reference that may be a string or an embedded object."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        found = value.get("id")
        return found if isinstance(found, str) else None
    return None


def as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def audience_of(document: dict) -> set[str]:
    """Every id named in to, cc, bto, bcc and audience."""
    found: set[str] = set()
    for field in ("to", "cc", "bto", "bcc", "audience"):
        value = document.get(field)
        if value is None:
            continue
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, str):  # by far the usual shape: take it without a call
                found.add(item)
            else:
                item_id = id_of(item)
                if item_id:
                    found.add(item_id)
    return found


def reaches_followers(audience: set[str], followers_url: str | None) -> bool:
    """Whether an activity so addressed goes to its actor's followers: public, or their collection named."""
    return bool(audience & PUBLIC_ALIASES) or (followers_url is not None and followers_url in audience)


def is_public(document: dict) -> bool:
    return bool(audience_of(document) & PUBLIC_ALIASES)


def dumps(document: dict) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def wants_activity_json(accept: str) -> bool:
    """True when an Accept header asks for ActivityPub JSON rather than a page."""
    accept = accept.lower()
    return "application/activity+json" in accept or "application/ld+json" in accept


def visibility_of(document: dict, followers_url: str | None) -> str:
    """public, unlisted, private or direct, read from to and cc the way Mastodon reads them."""
    to = {id_of(x) for x in as_list(document.get("to"))}
    cc = {id_of(x) for x in as_list(document.get("cc"))}
    if to & PUBLIC_ALIASES:
        return "public"
    if cc & PUBLIC_ALIASES:
        return "unlisted"
    if followers_url and followers_url in to | cc:
        return "private"
    return "direct"


def object_link(url: str, name: str | None = None) -> dict:
    """A FEP-e232 object link, the tag that points a post at another ActivityPub object."""
    link = {"type": "Link", "mediaType": LD_CONTENT_TYPE, "href": url}
    if name:
        link["name"] = name
    return link


def linked_objects(document: dict) -> list[str]:
    """The objects a post links with FEP-e232 tags."""
    return [
        t["href"]
        for t in as_list(document.get("tag"))
        if isinstance(t, dict)
        and t.get("type") == "Link"
        and isinstance(t.get("href"), str)
        and t.get("mediaType") in (LD_CONTENT_TYPE, AP_CONTENT_TYPE)
    ]


_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def host_of(uri: str | None) -> str:
    """The host (netloc) of a URI, lower-cased; cheaper than urlsplit, as the inbox checks it on every post."""
    found = _NETLOC.match(uri or "")
    return found.group(1).lower() if found else urlsplit(uri or "").netloc.lower()
