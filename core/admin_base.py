from __future__ import annotations

from typing import Any

from simple_history.admin import SimpleHistoryAdmin


class ClinicalRecordAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple_history ships no type hints
    """Admin for clinical records: history visible, nothing hard-deleted (brief: history is kept)."""

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False
