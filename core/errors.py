"""Errors that services raise, mapped to HTTP by the API and to messages by pages."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from core.stops import OVERRIDE_REASON_MAX_LENGTH, Stop


class Conflict(Exception):
    """The object's current state forbids the action (docs/api.md: 409 ``{"detail": ...}``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class SafetyStopped(Exception):
    """A request refused by one or more safety stops (docs/api.md "Safety stops"); nothing was changed.

    ``stops`` lists every stop the request raises and has not settled, as ``core.stops.Stop``; ``forbidden`` says an
    override came from a user without the rule's role (403); ``blank_reasons`` lists codes given a blank reason.
    """

    def __init__(self, stops: Sequence[Stop], *, forbidden: bool = False, blank_reasons: Sequence[str] = ()) -> None:
        self.stops = tuple(stops)
        self.forbidden = forbidden
        self.blank_reasons = tuple(blank_reasons)
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        if self.forbidden:
            return "Your role may not override: " + " ".join(stop.message for stop in self.stops)
        return " ".join(stop.message for stop in self.stops) or "Give a reason for each override."

    def concerns_sent_values(self, sent: Collection[str]) -> bool:
        """400 when every stop concerns a value sent in this request (its field is among ``sent``), 409 otherwise
        (docs/api.md "Safety stops")."""
        return all(stop.field is not None and stop.field in sent for stop in self.stops)

    def field_errors(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for stop in self.stops:
            if stop.field:
                errors.setdefault(stop.field, []).append(stop.message)
        if self.blank_reasons:
            errors["overrides"] = [
                f"Give a reason (1–{OVERRIDE_REASON_MAX_LENGTH} characters) for overriding {code}."
                for code in self.blank_reasons
            ]
        return errors
