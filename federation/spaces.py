"""Forum spaces: FEP-1b12 groups (placeholder until that feature lands)."""
