"""Proposals, versions, signatures and agreements: documents, the lifecycle, and what local movements do.

Shapes (docs/federation.md): a `Proposal` (origin-owned, mutable) holds immutable versions; each version
is an `Agreement` document named by the SHA-256 of its JCS form. Parties sign a version with an
eddsa-jcs-2022 proof (sent as `Accept`), decline it (`Reject`), withdraw (`Leave`, signed); amendments
are `Offer`ed to the origin, which orders them and sends `Update{Proposal}`. Every change of state,
local or remote, goes through `transition()` and models.agreement.TRANSITIONS.
"""
