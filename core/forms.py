from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


def apply_validation_error(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form, against its field where the form has one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def error_messages(exc: Exception) -> list[str]:
    """A service's ValidationError or Conflict as lines a page can show (field names in words)."""
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return [f"{field.replace('_', ' ')}: {' '.join(messages)}" for field, messages in exc.message_dict.items()]
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    return [str(exc)]
