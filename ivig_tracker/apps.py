from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class IvigTrackerConfig(AppConfig):
    name = "ivig_tracker"
    verbose_name = "IVIG Tracker core"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed

        user_model = get_user_model()

        def forget_changed_user(sender: Any, instance: Any, **kwargs: Any) -> None:
            from ivig_tracker.roles import forget_access

            if isinstance(instance, user_model):
                forget_access(instance.pk)

        # A user's role changed in the admin: the next request sees it at once (group permission edits
        # reach everybody within ACCESS_CACHE_SECONDS).
        m2m_changed.connect(forget_changed_user, sender=user_model.groups.through, dispatch_uid="ivig.forget_groups")
        m2m_changed.connect(
            forget_changed_user, sender=user_model.user_permissions.through, dispatch_uid="ivig.forget_perms"
        )
