"""The Mastodon client REST API: OAuth, entities, accounts, statuses, timelines, notifications, streaming."""
