from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


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


class UnitKind(models.TextChoices):
    WARD = "ward", "Ward"
    DAY_UNIT = "day_unit", "Day unit"
    CLINIC = "clinic", "Clinic"


class Unit(models.Model):
    """A ward, day unit or clinic where IVIG is given. One instance serves several hospitals, so the site is kept
    beside the name. A unit is never deleted (patients, orders and infusions keep pointing at it): a unit that
    closes is made inactive, which takes it off the choices while its records stay readable."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=UnitKind.choices, default=UnitKind.WARD)
    site = models.CharField("hospital or site", max_length=100, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["site", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.site})" if self.site else self.name


class StaffUnits(models.Model):
    """The units a member of staff works in: the worklist and the hematologist's review open on them. Kept beside
    the user (AUTH_USER_MODEL stays Django's own); a user with no row, or none chosen, sees every unit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_units")
    default_units = models.ManyToManyField(Unit, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[default_units])

    class Meta:
        verbose_name = "staff default units"
        verbose_name_plural = "staff default units"

    def __str__(self) -> str:
        return f"Default units of {self.user}"
