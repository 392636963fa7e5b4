from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from simple_history.admin import SimpleHistoryAdmin


class ClinicalRecordAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple_history ships no type hints
    """Admin for clinical records: history visible and read-only, nothing hard-deleted (brief: history is kept).

    A clinical record changes only through its services, which check its state and record who and why. The history's
    "Revert" would save an old version straight over the record (a verified order back to draft, with none of the
    working or safety records that belong to that state), so it is disabled for every clinical model: the button is
    hidden, and a revert posted anyway changes nothing and comes back to the history with a message.
    """

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def revert_disabled(self, request: Any, obj: Any = None) -> bool:
        return True

    def has_change_history_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def history_form_view(
        self, request: Any, object_id: str, version_id: str, extra_context: dict[str, Any] | None = None
    ) -> Any:
        if request.method == "POST":
            opts = self.model._meta
            self.message_user(
                request,
                "A clinical record's history is read-only: nothing was reverted. Change the record through its own "
                "page, where its checks and reasons are recorded.",
                level=messages.ERROR,
            )
            url = reverse(f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_history", args=[object_id])
            return HttpResponseRedirect(url)
        return super().history_form_view(request, object_id, version_id, extra_context)
