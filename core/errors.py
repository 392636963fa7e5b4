"""Errors that services raise, mapped to HTTP by the API and to messages by pages."""

from __future__ import annotations


class Conflict(Exception):
    """The object's current state forbids the action (docs/api.md: 409 ``{"detail": ...}``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail
