"""The one refusal type: something we will not do or accept, with the HTTP status that says so."""

from __future__ import annotations


class Refusal(Exception):
    """An action or activity refused; `status` is the HTTP answer, `message` says why in one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message
