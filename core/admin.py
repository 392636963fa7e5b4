from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from core import two_factor
from core.models import Heartbeat, SingleSignOnIdentity


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin[Heartbeat]):
    list_display = ["name", "last_seen_at"]
    readonly_fields = ["name", "last_seen_at"]


@admin.register(SingleSignOnIdentity)
class SingleSignOnIdentityAdmin(admin.ModelAdmin[SingleSignOnIdentity]):
    """Read-only links to the hospital sign-in service; deleting one unlinks the account."""

    list_display = ["user", "subject", "issuer", "created_at", "last_login_at"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "created_at", "last_login_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


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
