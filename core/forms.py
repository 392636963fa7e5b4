from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from core.errors import SafetyStopped


def apply_validation_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, against its field where the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def error_messages(exc: Exception) -> list[str]:
    """A service's ValidationError, Conflict or safety stop as lines a page can show (field names in words)."""
    if isinstance(exc, SafetyStopped):
        return [stop.message for stop in exc.stops] + list(exc.field_errors().get("overrides", []))
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [f"{field.replace('_', ' ')}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]


# A page sends an override's reason as "override__<code>" beside the action's own fields.
OVERRIDE_PREFIX = "override__"


def overrides_from_post(post: Any) -> dict[str, str]:
    """The reasons a page's form carries for overriding safety stops; a field left empty overrides nothing."""
    return {
        key[len(OVERRIDE_PREFIX) :]: value
        for key, value in post.items()
        if key.startswith(OVERRIDE_PREFIX) and value.strip()
    }
