"""Internal decisions of a movement: polls on a proposal version, their outcome records, and mandates.

A decision (models/decision.py) is a poll inside one movement about one version of a proposal; its members
vote (and, on an open poll, Mastodon followers too: FEP-9967 `Question`, votes as `Note`s with `name` and
`inReplyTo`). Closed at its deadline by the clock (clock.py), it is frozen into an outcome record served at
/decisions/N, named by its SHA-256 digest; a Sign (`Accept`) links it as `mandate` + `mandateDigest`.
"""
