"""A dict of at most `limit` entries: storing one more drops the least recently used."""

from __future__ import annotations

from collections import OrderedDict


class Lru(OrderedDict):
    """An OrderedDict kept in order of use, capped at `limit` entries. Safe to share between threads: each
    step is one OrderedDict call (atomic under the GIL), and a race loses at most an entry's place."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def used(self, key):
        """The value for key (None if absent), now the most recently used."""
        found = self.get(key)
        if found is not None:
            try:
                self.move_to_end(key)
            except KeyError:  # dropped by another thread meanwhile
                pass
        return found

    def keep(self, key, value):
        """Stores value for key as the most recently used; returns it."""
        self[key] = value
        try:
            self.move_to_end(key)
            if len(self) > self.limit:
                self.popitem(last=False)
        except KeyError:  # another thread dropped it, or emptied the dict, meanwhile
            pass
        return value
