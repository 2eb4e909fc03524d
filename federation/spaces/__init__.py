"""Forum spaces (FEP-1b12 groups): creating them, the rules a post must pass, the thread index, and Announce.

Shapes (see docs/spaces.md): threads are `Page`s with a `name`, replies `Note`s with `inReplyTo`; both carry
`audience` (and `to`) naming the space. The space Announces every accepted Create/Update/Delete/Like as
received, and also Announces a new post's id for followers that are plain Mastodon-style accounts.
Moderation is done by the space itself: `Delete` (removal), `Lock` (thread) and `Block` (ban), and `Undo` of
the last two.
"""
