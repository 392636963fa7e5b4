from __future__ import annotations

from django.conf import settings
from django.db import models


class Heartbeat(models.Model):
    """When a background process last proved it is alive (the worker, the reminder sweep).

    ``/healthz`` reads these rows: a sweep that has stopped ticking is as dangerous as a database that is down,
    because reminders silently stop.
    """

    name = models.CharField(max_length=64, unique=True)
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        db_table = "ivig_tracker_heartbeat"  # the table predates the core app (core/migrations/0001)

    def __str__(self) -> str:
        return f"{self.name} at {self.last_seen_at:%Y-%m-%d %H:%M:%S %Z}"


class SingleSignOnIdentity(models.Model):
    """The hospital sign-in service's account behind a local account (core/sso.py).

    Matched on the provider's issuer and subject, which never change for a person, rather than on e-mail or
    username, which can be reassigned. Deleting this row unlinks the account (IT, in the admin).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_sso_identity_per_issuer_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ← {self.subject} at {self.issuer}"
