from __future__ import annotations

from typing import Any

from axes.admin import AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken
from simple_history.admin import SimpleHistoryAdmin

from core import two_factor
from core.admin_base import ClinicalRecordAdmin
from core.models import Heartbeat, SingleSignOnIdentity, StaffUnits, Unit


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin[Heartbeat]):
    list_display = ["name", "last_seen_at"]
    readonly_fields = ["name", "last_seen_at"]


# knox's own admin shows digests and lets anyone with the add right mint a token of any lifetime; IT lists and revokes
# here, and issues interface tokens with `manage.py issue_api_token` (SECURITY.md "Sign-in and API tokens").
admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class APITokenAdmin(admin.ModelAdmin[AuthToken]):
    list_display = ["token_key", "user", "created", "expiry", "is_live"]
    list_filter = ["created", "expiry"]
    search_fields = ["token_key", "user__username"]
    fields = ["token_key", "user", "created", "expiry"]
    readonly_fields = ["token_key", "user", "created", "expiry"]
    ordering = ["-created"]
    list_select_related = ["user"]
    actions = ["delete_selected"]

    @admin.display(boolean=True, description="still valid")
    def is_live(self, token: AuthToken) -> bool:
        return token.expiry is None or token.expiry > timezone.now()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthToken | None = None) -> bool:
        return False


@admin.register(SingleSignOnIdentity)
class SingleSignOnIdentityAdmin(admin.ModelAdmin[SingleSignOnIdentity]):
    """Read-only links to the hospital sign-in service; deleting one unlinks the account."""

    list_display = ["user", "subject", "issuer", "created_at", "last_login_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "created_at", "last_login_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SingleSignOnIdentity | None = None) -> bool:
        return False


# django-axes' audit of sign-ins (successful ones and failures) is evidence: IT reads it, nobody edits or deletes it
# from the admin (`manage.py axes_reset_logs` prunes old rows on a retention schedule). Deleting an *access attempt*
# stays allowed: that is how IT unlocks an account or a source.
class ReadOnlyAuditAdmin:
    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


for _model, _axes_admin in ((AccessLog, AccessLogAdmin), (AccessFailureLog, AccessFailureLogAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, type(f"ReadOnly{_axes_admin.__name__}", (ReadOnlyAuditAdmin, _axes_admin), {}))


@admin.action(description="Reset two-factor sign-in (lost phone): the user sets it up again at next sign-in")
def reset_two_factor_sign_in(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    for user in queryset:
        two_factor.reset_two_factor(user, by=request.user)
    modeladmin.message_user(request, f"Two-factor sign-in reset for {queryset.count()} user(s).", messages.SUCCESS)


class UserAdminWithTwoFactorReset(UserAdmin):  # type: ignore[type-arg]
    actions = [reset_two_factor_sign_in]  # beside the site-wide delete


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserAdminWithTwoFactorReset)


@admin.register(Unit)
class UnitAdmin(ClinicalRecordAdmin):
    """Wards, day units and clinics. Never deleted (records point at them): a unit that closes is made inactive."""

    list_display = ["name", "kind", "site", "active"]
    list_filter = ["active", "kind", "site"]
    search_fields = ["name", "site"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(StaffUnits)
class StaffUnitsAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple_history ships no type hints
    """The units each member of staff works in: the worklist and the hematologist's review open on them."""

    list_display = ["user", "units"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    autocomplete_fields = ["user"]
    filter_horizontal = ["default_units"]
    readonly_fields = ["updated_at"]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("user").prefetch_related("default_units")

    @admin.display(description="default units")
    def units(self, obj: StaffUnits) -> str:
        return ", ".join(unit.name for unit in obj.default_units.all()) or "none (sees every unit)"
