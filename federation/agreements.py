"""Proposals, versions, signatures and agreements (placeholder until that feature lands)."""
