"""Helpers that sign requests the way a remote server would (with the project's own signing code)."""

from __future__ import annotations

import json
import uuid

import requests

from federation.keys import secret_for
from federation.signatures import sign_request


def activity(actor: str, host_base: str, kind: str, **fields) -> dict:
    """An activity of `kind` by actor, its id on the actor's host."""
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{host_base}/activities/{uuid.uuid4()}",
        "type": kind,
        "actor": actor,
        **fields,
    }


def create_note(actor: str, host_base: str, text: str = "hello", **note_fields) -> dict:
    """A Create{Note} by actor, with ids on the actor's host."""
    note_id = f"{host_base}/objects/{uuid.uuid4()}"
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{host_base}/activities/{uuid.uuid4()}",
        "type": "Create",
        "actor": actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [f"{actor}/followers"],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>{text}</p>",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "published": "2026-11-25T10:00:00Z",
            **note_fields,
        },
    }


def signed_post(
    url: str,
    document: dict | bytes,
    key: tuple[str, str],
    *,
    headers: dict | None = None,
    body: bytes | None = None,
    date: str | None = None,
) -> requests.Response:
    """POSTs document signed with key (key id, private PEM); `body` replaces what is sent after signing."""
    signed_body = document if isinstance(document, bytes) else json.dumps(document).encode()
    key_id, private = key
    signed = sign_request("post", url, secret_for(key_id, private, "rsa"), signed_body, date=date)
    signed["content-type"] = "application/activity+json"
    signed.update(headers or {})
    return requests.post(url, data=body if body is not None else signed_body, headers=signed, timeout=15)
