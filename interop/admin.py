from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.admin_base import ClinicalRecordAdmin
from core.errors import Conflict
from interop.hl7.services import reprocess_message
from interop.models import HL7Message, HL7MessageResult, LocalObservationCode, SMARTTokenPatient

logger = logging.getLogger(__name__)


class HL7MessageResultInline(admin.TabularInline):
    model = HL7MessageResult
    extra = 0
    can_delete = False
    fields = [
        "obx_index",
        "platelet_result",
        "observation_code",
        "result_status",
        "value_original",
        "unit_original",
        "value_10e9_per_l",
        "specimen_id",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HL7Message)
class HL7MessageAdmin(ClinicalRecordAdmin):
    """Every HL7 message received, raw, with its outcome and the ACK sent. Filter by outcome "Error" for the
    queue of messages to fix (an unknown MRN, no order under way) and re-process."""

    list_display = [
        "received_at",
        "control_id",
        "transport",
        "message_type",
        "patient_mrn",
        "outcome",
        "ack_code",
        "reprocessed_count",
        "short_error",
    ]
    list_filter = ["outcome", "ack_code", "transport"]
    search_fields = ["control_id", "patient_mrn", "error"]
    date_hierarchy = "received_at"
    inlines = [HL7MessageResultInline]
    actions = ["reprocess"]
    fields = [
        "control_id",
        "received_at",
        "transport",
        "received_by",
        "message_type",
        "sending_application",
        "sending_facility",
        "patient_mrn",
        "outcome",
        "ack_code",
        "error",
        "processed_at",
        "reprocessed_count",
        "raw_segments",
        "ack_segments",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="error")
    def short_error(self, obj: HL7Message) -> str:
        return obj.error[:120]

    @admin.display(description="message as received (one segment a line)")
    def raw_segments(self, obj: HL7Message) -> str:
        return obj.raw.replace("\r\n", "\n").replace("\r", "\n")

    @admin.display(description="ACK sent")
    def ack_segments(self, obj: HL7Message) -> str:
        return obj.ack_text.replace("\r", "\n")

    @admin.action(description="Re-process (after fixing the patient or order)", permissions=["change"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[HL7Message]) -> None:
        outcomes: dict[str, int] = {}
        for message_id in queryset.order_by("received_at", "pk").values_list("pk", flat=True):
            try:
                ack = reprocess_message(message_id, user=request.user)
            except Conflict as exc:
                self.message_user(request, exc.detail, messages.WARNING)
                continue
            except Exception:  # one message's failure never stops the others being re-processed
                logger.exception("HL7 message %s could not be re-processed", message_id)
                self.message_user(
                    request, f"HL7 message #{message_id} could not be re-processed (see the log).", messages.ERROR
                )
                continue
            outcomes[ack.code] = outcomes.get(ack.code, 0) + 1
        if outcomes:
            summary = ", ".join(f"{count} {code}" for code, count in sorted(outcomes.items()))
            level = messages.SUCCESS if set(outcomes) == {"AA"} else messages.WARNING
            self.message_user(request, f"Re-processed: {summary}.", level)


@admin.register(LocalObservationCode)
class LocalObservationCodeAdmin(SimpleHistoryAdmin):  # type: ignore[misc]  # simple_history ships no type hints
    """The laboratories' own result codes, per sending facility (MSH-4), mapped to what they name. Every change is
    in the history. After mapping a code, re-process the messages waiting in the error queue for it."""

    list_display = ["sending_facility", "code", "test", "description", "created_at"]
    list_filter = ["test", "sending_facility"]
    search_fields = ["sending_facility", "code", "description"]


@admin.register(SMARTTokenPatient)
class SMARTTokenPatientAdmin(admin.ModelAdmin):
    """Which patient each SMART patient-launch token reads (read-only: made with the token, gone with it; revoke the
    token itself under Django OAuth Toolkit → Access tokens)."""

    list_display = ["access_token", "patient", "created_at"]
    list_select_related = ["access_token__application", "patient"]
    search_fields = ["patient__mrn", "access_token__application__name"]
    readonly_fields = ["access_token", "patient", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
