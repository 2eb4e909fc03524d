"""Progress of long CLI work on stderr: a line each tenth of the way (or a live line on a terminal)."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, label: str, total: int, unit: str = ""):
        self.label, self.total, self.unit = label, max(total, 0), unit
        self._shown = -1
        self._live = sys.stderr.isatty()

    def update(self, done: int) -> None:
        share = 100 if self.total == 0 else min(100, done * 100 // self.total)
        step = share if self._live else share // 10 * 10
        if step == self._shown:
            return
        self._shown = step
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.label}: {share:3d}% ({done}/{self.total}{unit})"
        if self._live:
            end = "\n" if share == 100 else ""
            print(f"\r{text}", end=end, file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def done(self) -> None:
        self.update(self.total)


def note(text: str) -> None:
    """One line about a step of the work, on stderr (stdout carries the result)."""
    print(text, file=sys.stderr, flush=True)
