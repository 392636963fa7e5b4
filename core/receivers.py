"""A password change or a deactivation ends the account's API tokens, however it is made.

A receiver rather than a service call: passwords change through Django's own admin, forms and ``changepassword``
command, which call no service of ours; the user's save is the one place they all pass.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save

from core import tokens

_ENDS_TOKENS = "_ivig_ends_tokens"


def _password_changed(previous_hash: str, user: Any, update_fields: Any) -> bool:
    if previous_hash == user.password:
        return False
    if getattr(user, "_password", None) is not None:
        return True  # set_password() keeps the raw password until the save
    # Django re-hashes an unchanged password at sign-in when the hasher's work factor rises: it clears the raw
    # password and saves the hash alone. Any other new hash (assigned directly, or made unusable) is a change.
    return not (update_fields is not None and set(update_fields) == {"password"})


def note_credential_change(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login at every sign-in: nothing to compare, no query
    previous = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if previous is None:
        return
    deactivated = previous["is_active"] and not instance.is_active
    if deactivated or _password_changed(previous["password"], instance, update_fields):
        setattr(instance, _ENDS_TOKENS, True)


def end_tokens_after_credential_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    if getattr(instance, _ENDS_TOKENS, False):
        tokens.revoke_all_tokens(instance.pk)
        delattr(instance, _ENDS_TOKENS)


def connect() -> None:
    user_model = get_user_model()
    pre_save.connect(note_credential_change, sender=user_model, dispatch_uid="ivig-note-credential-change")
    post_save.connect(end_tokens_after_credential_change, sender=user_model, dispatch_uid="ivig-end-tokens")
