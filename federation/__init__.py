"""ActivityPub protocol: signatures, fetching, inbox handling, delivery and vocabulary."""
