"""Mutated activities for fuzzing an inbox: signed activities with odd types, shapes, text, sizes and nesting.

Every input is an activity by `actor` (so a signature by the actor's key verifies and the input reaches
the handlers) that one or more mutations have bent. A seed makes a run repeatable.
"""

from __future__ import annotations

import json
import random
import uuid

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ACTIVITY_TYPES = [
    "Create",
    "Update",
    "Delete",
    "Announce",
    "Follow",
    "Undo",
    "Accept",
    "Reject",
    "Like",
    "EmojiReact",
    "Flag",
    "Block",
    "Add",
    "Remove",
    "Move",
    "Lock",
    "Join",
    "Leave",
    "Invite",
    "Offer",
    "Question",
    "Proposal",
    "Agreement",
    "Sign",
    "Arrive",
    "View",
]
OBJECT_TYPES = [
    "Note",
    "Article",
    "Page",
    "Question",
    "Event",
    "Video",
    "Image",
    "Audio",
    "Document",
    "Tombstone",
    "Relationship",
    "Profile",
    "Place",
    "Collection",
    "OrderedCollection",
    "Link",
    "Mention",
    "Hashtag",
    "Person",
    "Group",
    "Create",
    "Announce",
    "Object",
    "ChatMessage",
]
FIELDS = [
    "to",
    "cc",
    "bto",
    "bcc",
    "audience",
    "tag",
    "attachment",
    "content",
    "contentMap",
    "summary",
    "name",
    "inReplyTo",
    "context",
    "conversation",
    "published",
    "updated",
    "attributedTo",
    "url",
    "sensitive",
    "replies",
    "source",
    "oneOf",
    "anyOf",
    "endTime",
    "quoteUrl",
    "object",
    "target",
    "origin",
    "id",
]
STRANGE_TEXT = [
    "\u0000",
    "\ud800",
    "\udfff",
    "\ud83d",
    "\U0001f30a",
    "\u202e",
    "e\u0301",
    "\ufeff",
    "\uffff",
    "<script>alert(1)</script>",
    "%00",
    "\\",
    '"',
    "\n\r\t",
    "ß" * 3,
    "𝔘𝔫𝔦",
    "\x7f",
    "\u2028",
]


# How often each mutation of Mutator.mutate is picked: types, field values, dropped fields, text,
# authors, nesting, tags, ids, actor shapes, sizes (big bodies are few: they are slow to send and check).
MUTATION_WEIGHTS = [3, 4, 2, 3, 2, 1, 1, 2, 1, 0.2]


class Mutator:
    """Makes mutated activities by `actor` (ids on `base`); `local` names the receiving instance's actors."""

    def __init__(self, seed: int, actor: str, base: str, local: list[str], stranger_base: str):
        self.random = random.Random(seed)
        self.actor, self.base, self.local, self.stranger = actor, base, local, stranger_base

    # -- valid starting points
    def _id(self, kind: str = "objects") -> str:
        return f"{self.base}/{kind}/{uuid.UUID(int=self.random.getrandbits(128))}"

    def note(self) -> dict:
        return {
            "id": self._id(),
            "type": "Note",
            "attributedTo": self.actor,
            "content": "<p>fuzz</p>",
            "to": [PUBLIC],
            "cc": [f"{self.actor}/followers"],
            "published": "2026-11-25T10:00:00Z",
        }

    def activity(self) -> dict:
        kind = self.random.choice(
            [
                "Create",
                "Create",
                "Create",
                "Announce",
                "Follow",
                "Like",
                "Update",
                "Delete",
                "Undo",
                "Accept",
                "Flag",
            ]
        )
        document = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": self._id("activities"),
            "type": kind,
            "actor": self.actor,
            "to": [PUBLIC],
            "cc": [f"{self.actor}/followers"],
        }
        if kind in ("Create", "Update"):
            document["object"] = self.note()
        elif kind in ("Follow", "Flag"):
            document["object"] = self.random.choice(self.local)
        elif kind == "Undo":
            document["object"] = {
                "id": self._id("activities"),
                "actor": self.actor,
                "type": self.random.choice(["Follow", "Like"]),
                "object": self.random.choice(self.local),
            }
        elif kind == "Accept":
            document["object"] = {
                "id": self._id("activities"),
                "type": "Follow",
                "actor": self.random.choice(self.local),
                "object": self.actor,
            }
        else:
            document["object"] = self.reference()
        return document

    def reference(self) -> str:
        """An id that is ours, the receiver's, unknown on our host, or on a host that does not answer."""
        return self.random.choice(
            [
                self._id(),
                self.random.choice(self.local),
                f"{self.stranger}/objects/1",
                self.actor,
                f"{self.base}/objects/missing",
            ]
        )

    # -- odd values
    def text(self) -> str:
        pick = self.random.random()
        if pick < 0.5:
            return "".join(self.random.choice(STRANGE_TEXT) for _ in range(self.random.randint(1, 6)))
        if pick < 0.95:
            return "".join(chr(self.random.randint(0, 0x10FFFF)) for _ in range(self.random.randint(1, 40)))
        return self.random.choice(["x", "é", "\u0000"]) * self.random.choice([300, 2100, 2100, 70_000])

    def value(self, depth: int = 0):
        """A random JSON value (strings strange or plain, numbers, lists, objects)."""
        choice = self.random.randint(0, 11 if depth < 3 else 6)
        if choice == 0:
            return None
        if choice == 1:
            return self.random.choice([0, -1, 2**63, -(2**70), 1.5, 1e308, True, False])
        if choice == 2:
            return self.text()
        if choice == 3:
            return self.reference()
        if choice == 4:
            return self.random.choice(ACTIVITY_TYPES + OBJECT_TYPES)
        if choice == 5:
            return ""
        if choice == 6:
            return self.random.choice([PUBLIC, "as:Public", "Public", f"{self.actor}/followers"])
        if choice in (7, 8):
            return [self.value(depth + 1) for _ in range(self.random.randint(0, 4))]
        if choice == 9:
            return {
                "type": self.random.choice(OBJECT_TYPES),
                "id": self.reference(),
                "name": self.value(depth + 1),
                "href": self.value(depth + 1),
            }
        if choice == 10:
            return self.note()
        return {self.text(): self.value(depth + 1) for _ in range(self.random.randint(0, 3))}

    def nested(self, depth: int):
        value = self.random.choice([[], {}, "bottom"])
        for _ in range(depth):
            value = [value] if self.random.random() < 0.5 else {"a": value}
        return value

    def type_value(self):
        return self.random.choice(
            [
                self.random.choice(ACTIVITY_TYPES + OBJECT_TYPES),
                [self.random.choice(OBJECT_TYPES), "Article"],
                ["https://example.org/ns#Thing", self.random.choice(ACTIVITY_TYPES)],
                7,
                None,
                [],
                {"a": 1},
                "",
                "T" * 80,
                [3, "Note"],
                self.text(),
            ]
        )

    # -- mutations
    def mutate(self, document: dict) -> None:
        target = document
        obj = document.get("object")
        if isinstance(obj, dict) and self.random.random() < 0.6:
            target = obj
        kind = self.random.choices(range(10), weights=MUTATION_WEIGHTS)[0]
        if kind == 0:
            target["type"] = self.type_value()
        elif kind == 1:
            target[self.random.choice(FIELDS)] = self.value()
        elif kind == 2:
            target.pop(self.random.choice(FIELDS), None)
        elif kind == 3:
            target[self.random.choice(["content", "summary", "name", self.text()])] = self.text()
        elif kind == 4:
            target["attributedTo"] = self.random.choice(
                [
                    [self.actor, f"{self.base}/channels/c"],
                    [
                        {"type": "Group", "id": f"{self.base}/channels/c"},
                        {"type": "Person", "id": self.actor},
                    ],
                    [],
                    [None, 5],
                    {"id": self.actor, "type": ["Person"]},
                    self.random.choice(self.local),
                ]
            )
        elif kind == 5:
            target[self.random.choice(FIELDS)] = self.nested(self.random.choice([10, 70, 900, 5000]))
        elif kind == 6:
            target["tag"] = [
                {
                    "type": self.random.choice(["Hashtag", "Mention", "Emoji", "Link"]),
                    "name": self.text(),
                    "href": self.value(),
                }
                for _ in range(self.random.randint(1, 300))
            ]
        elif kind == 7:
            target["id"] = self.random.choice(
                [
                    self._id() + "x" * 2100,
                    "not a url",
                    self.reference(),
                    "",
                    f"{self.stranger}/objects/{self.random.randint(0, 9)}",
                ]
            )
        elif kind == 8:
            document["actor"] = self.random.choice(
                [{"id": self.actor, "type": "Person"}, [self.actor], self.actor, {"id": self.actor}]
            )
        else:
            target["content"] = "<p>" + "wave " * self.random.choice([1000, 50_000, 190_000]) + "</p>"

    def next_input(self) -> bytes:
        """One mutated activity, serialised (sometimes with raw, non-ASCII text)."""
        document = self.activity()
        for _ in range(self.random.choice([1, 1, 2, 3, 5])):
            self.mutate(document)
        try:
            if self.random.random() < 0.5:
                body = json.dumps(document).encode()
            else:
                body = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
        except (ValueError, OverflowError, RecursionError):
            body = json.dumps(self.activity()).encode()
        if self.random.random() < 0.02:  # nesting deeper than any encoder writes: brackets spliced in
            depth = self.random.choice([1000, 100_000])
            body = body[:-1] + b',"deep":' + b"[" * depth + b"]" * depth + b"}"
        return body
