from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from infusions.models import Order


class CheckLabel(models.TextChoices):
    H24 = "24h", "24 h"
    H48 = "48h", "48 h"
    H72 = "72h", "72 h"
    D7 = "7d", "7 days"
    D14 = "14d", "14 days (follow-up)"
    D28 = "28d", "28 days (follow-up)"


# docs/clinical-rules.md §A6: due at the first infusion's completion plus these elapsed hours.
CHECK_OFFSETS_HOURS = {CheckLabel.H24: 24, CheckLabel.H48: 48, CheckLabel.H72: 72, CheckLabel.D7: 168}
# docs/clinical-rules.md §A12: follow-up checks, due at 09:00 hospital time this many days after the first infusion
# ended, overdue 72 h later, reminded to the ordering hematologist.
FOLLOW_UP_DAYS = {CheckLabel.D14: 14, CheckLabel.D28: 28}
FOLLOW_UP_LABELS = tuple(FOLLOW_UP_DAYS)


# docs/clinical-rules.md reference §7.1, the WHO bleeding scale as the worklist offers it.
WHO_BLEEDING_GRADES = [
    ("0", "no bleeding"),
    ("1", "petechial or minor bleeding"),
    ("2", "mild, clinically significant blood loss not needing transfusion"),
    ("3", "gross blood loss needing red-cell transfusion"),
    ("4", "debilitating or life-threatening bleeding"),
]


class CheckStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    DUE = "due", "Due"
    OVERDUE = "overdue", "Overdue"
    RESULTED = "resulted", "Resulted"
    CANCELLED = "cancelled", "Cancelled"


class ResponseCategory(models.TextChoices):
    COMPLETE_RESPONSE = "complete_response", "Complete response"
    RESPONSE = "response", "Response"
    NO_RESPONSE = "no_response", "No response"
    PENDING = "pending", "Pending"


class PlateletCheck(models.Model):
    """One of the four platelet counts due after the first infusion of a course (docs/clinical-rules.md §A6).

    The row is the schedule: nothing but this row says a reminder is owed, so a lost message or a Redis restart
    costs latency, never a reminder (docs/decisions/0001-reminders-are-rows-not-eta-tasks.md). ``status`` is stored for
    the API and the lists; the sweep moves it from scheduled to due to overdue as time passes.
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="platelet_checks")
    label = models.CharField(max_length=4, choices=CheckLabel.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=CheckStatus.choices, default=CheckStatus.SCHEDULED)
    platelet_count = models.PositiveIntegerField(null=True, blank=True)
    collected_at = models.DateTimeField(null=True, blank=True)
    bleeding = models.BooleanField(null=True, blank=True)
    category = models.CharField(max_length=20, choices=ResponseCategory.choices, blank=True)
    resulted_at = models.DateTimeField(null=True, blank=True)
    # Why a check was cancelled: its order cancelled before anything was given, or a follow-up superseded by the
    # patient's next course (A12).
    cancel_reason = models.CharField(max_length=100, blank=True)
    # When the sweep created each reminder; null = still owed. The sweep claims owed rows with
    # SELECT ... FOR UPDATE SKIP LOCKED, so two sweeps at once work on disjoint rows.
    due_reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_at", "pk"]
        permissions = [("record_platelet_result", "Can record platelet results")]
        constraints = [
            models.UniqueConstraint(fields=["order", "label"], name="platelet_check_one_per_label"),
        ]
        indexes = [
            # The reminder sweep's loop: open checks by due time.
            models.Index(
                fields=["due_at"],
                condition=models.Q(status__in=["scheduled", "due", "overdue"]),
                name="platelet_check_open_due_idx",
            ),
            # The dashboard's "has an overdue check" per order.
            models.Index(fields=["order"], condition=models.Q(status="overdue"), name="check_overdue_by_order_idx"),
            # The nurse worklist's counts to enter, overdue first then by due time.
            models.Index(
                fields=["-status", "due_at", "id"],
                condition=models.Q(status__in=["due", "overdue"]),
                name="platelet_check_to_result_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_label_display()} platelet check of order #{self.order_id}"


class PlateletResult(models.Model):
    """A platelet count. Corrections never overwrite: the earlier result stays with ``superseded_by`` set; a
    result entered in error is withdrawn with its reason, never deleted (docs/clinical-rules.md §A12)."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Entered by staff"
        HL7 = "hl7", "Laboratory (HL7)"

    class Status(models.TextChoices):
        FINAL = "final", "Final"
        PRELIMINARY = "preliminary", "Preliminary"
        CORRECTED = "corrected", "Corrected"
        SUPERSEDED = "superseded", "Superseded by a correction"
        ENTERED_IN_ERROR = "entered_in_error", "Entered in error"

    class NotAttributed(models.TextChoices):
        DURING_INFUSION = "during_infusion", "Collected during the first infusion"
        BEFORE_COURSE = "before_course", "Collected before the course"
        AFTER_COURSE_WINDOW = "after_course_window", "Collected after the course's window"
        AFTER_TRANSFUSION = "after_transfusion", "Collected within 24 h after a platelet transfusion"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="platelet_results")
    platelet_check = models.ForeignKey(
        PlateletCheck, on_delete=models.PROTECT, null=True, blank=True, related_name="results"
    )
    platelet_count = models.PositiveIntegerField(validators=[MinValueValidator(0), MaxValueValidator(2000)])
    collected_at = models.DateTimeField()
    bleeding = models.BooleanField(default=False)
    # False until a WHO grade is recorded for it (every lab result arrives so): classified as without bleeding.
    bleeding_assessed = models.BooleanField(default=True)
    bleeding_who_grade = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(4)])
    # Blank when the result counts toward the order's course; else why not (it is then not classified).
    not_attributed_reason = models.CharField(max_length=20, choices=NotAttributed.choices, blank=True)
    category = models.CharField(max_length=20, choices=ResponseCategory.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FINAL)
    # Why it was corrected (on the correcting result) or withdrawn as entered in error.
    change_reason = models.TextField(blank=True)
    preliminary = models.BooleanField(default=False)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()
    # Not a column: set by ``record_platelet_result`` on the result it returns when the same result was posted again.
    already_recorded = False

    class Meta:
        ordering = ["collected_at", "pk"]
        indexes = [models.Index(fields=["order", "collected_at"], name="platelet_result_by_order_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(platelet_count__lte=2000), name="platelet_result_count_plausible"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platelet_count} ×10⁹/L at {self.collected_at:%Y-%m-%d %H:%M}"

    @property
    def current(self) -> bool:
        """Stands: neither superseded by a correction nor withdrawn (the row form of ``CURRENT_RESULT``)."""
        return self.superseded_by_id is None and self.status != self.Status.ENTERED_IN_ERROR


# The results that stand: not superseded by a correction, not withdrawn as entered in error (A12).
CURRENT_RESULT = models.Q(superseded_by__isnull=True) & ~models.Q(status=PlateletResult.Status.ENTERED_IN_ERROR)


class OrderResponse(models.Model):
    """The order's current IWG assessment (monitoring/response_rules.py), kept for dashboards and the API."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="response")
    category = models.CharField(max_length=20, choices=ResponseCategory.choices, default=ResponseCategory.PENDING)
    best_platelet_count = models.PositiveIntegerField(null=True, blank=True)
    latest_platelet_count = models.PositiveIntegerField(null=True, blank=True)
    time_to_response_hours = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    repeat_dose_recommended = models.BooleanField(default=False)
    loss_of_response = models.CharField(
        max_length=12,
        choices=[("none", "None"), ("unconfirmed", "Unconfirmed"), ("confirmed", "Confirmed")],
        default="none",
    )
    bleeding_unassessed = models.BooleanField(default=False)
    # A12: results count toward the course until this moment; null while the window is open (course being given).
    window_closes_at = models.DateTimeField(null=True, blank=True)
    with_corticosteroids = models.BooleanField(default=False)
    with_other_itp_treatment = models.BooleanField(default=False)
    repeat_decision = models.CharField(max_length=8, blank=True)  # accept | decline
    repeat_decision_reason = models.TextField(blank=True)
    repeat_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    repeat_decided_at = models.DateTimeField(null=True, blank=True)
    repeat_order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    assessed_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        permissions = [("decide_repeat_dose", "Can decide on a recommended repeat dose")]

    def __str__(self) -> str:
        return f"{self.get_category_display()} for order #{self.order_id}"


class LabCheck(models.Model):
    """A creatinine or hemoglobin a course owes (docs/clinical-rules.md §A13 "After the course"): after its last
    infusion, and for a longer course a creatinine before day 3. Like a platelet check, the row is the schedule the
    reminder sweep reads; a current result collected inside the window answers it, and withdrawing that result opens
    it again."""

    class Test(models.TextChoices):
        CREATININE = "creatinine", "Creatinine"
        HEMOGLOBIN = "hemoglobin", "Hemoglobin"

    class Label(models.TextChoices):
        POST_COURSE = "post_course", "72 h after the course"
        BEFORE_DAY_3 = "before_day_3", "Before day 3"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lab_checks")
    test = models.CharField(max_length=12, choices=Test.choices)
    label = models.CharField(max_length=14, choices=Label.choices)
    due_at = models.DateTimeField()
    window_opens_at = models.DateTimeField()
    # Null: open until answered (before day 3).
    window_closes_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=CheckStatus.choices, default=CheckStatus.SCHEDULED)
    lab_result = models.ForeignKey(
        "patients.LabResult", on_delete=models.PROTECT, null=True, blank=True, related_name="lab_checks"
    )
    cancel_reason = models.CharField(max_length=100, blank=True)
    due_reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["order", "test", "label"], name="lab_check_one_per_test_and_label"),
        ]
        indexes = [
            # The reminder sweep's loop and the worklist: open checks by due time.
            models.Index(
                fields=["due_at"],
                condition=models.Q(status__in=["scheduled", "due", "overdue"]),
                name="lab_check_open_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_test_display()} {self.get_label_display().lower()} of order #{self.order_id}"


class NotificationKind(models.TextChoices):
    PLATELET_CHECK_DUE = "platelet_check_due", "Platelet check due"
    PLATELET_CHECK_OVERDUE = "platelet_check_overdue", "Platelet check overdue"
    NON_RESPONSE = "non_response", "No response: repeat dose recommended"
    VITALS_ALERT = "vitals_alert", "Vital signs alert"
    DOCUMENTED_DEVIATION = "documented_deviation", "Recorded late past a safety stop"
    COURSE_ON_HOLD = "course_on_hold", "Course on hold: review needed"
    ORDER_RETURNED = "order_returned", "Order returned by the verifier"
    WEIGH_PATIENT = "weigh_patient", "Weigh the patient: emergency order on an estimated weight"
    VIALS_NOT_DETAILED = "vials_not_detailed", "Vials not detailed: a start recorded lot numbers only"
    LOSS_OF_RESPONSE = "loss_of_response", "Loss of response"
    RESULT_CORRECTED = "result_corrected", "Platelet result corrected"
    LAB_CHECK_DUE = "lab_check_due", "Lab check due (creatinine or hemoglobin)"
    LAB_CHECK_OVERDUE = "lab_check_overdue", "Lab check overdue (creatinine or hemoglobin)"
    RENAL_DECLINE = "renal_decline", "Creatinine rise after IVIG: possible kidney injury"
    HEMOLYSIS_SUSPECTED = "hemolysis_suspected", "Hemoglobin fall after IVIG: haemolysis suspected"


class Notification(models.Model):
    """One message to one person. ``dedupe_key`` is unique: however often a sweep runs, a reminder is created
    once per check, kind and recipient."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    message = models.TextField()
    order = models.ForeignKey(Order, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    platelet_check = models.ForeignKey(
        PlateletCheck, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    lab_check = models.ForeignKey(
        LabCheck, on_delete=models.PROTECT, null=True, blank=True, related_name="notifications"
    )
    dedupe_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread_inbox_idx",
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_inbox_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient}"


class Delivery(models.Model):
    """One notification sent through one channel (email, webhook). Unique per notification and channel; sent
    outside any transaction, then marked with a conditional update
    (docs/decisions/0001-reminders-are-rows-not-eta-tasks.md)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Enqueued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Not sent: no longer needed"
        FAILED = "failed", "Failed"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16)
    # Sent with every attempt (the webhook's X-IVIG-Delivery-Id), the same on each retry, so a receiver that saw an
    # attempt we timed out on recognises the retry. Random rather than the row's id: ids restart with a restored or
    # rebuilt database, and a receiver would then drop a new delivery as a duplicate. Nullable and not indexed only
    # so that adding it took no long lock on a live table (monitoring 0010 filled the existing rows): every row has one.
    delivery_id = models.UUIDField(default=uuid.uuid4, null=True, editable=False)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="delivery_one_per_channel"),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status__in=["pending", "claimed", "sending"]),
                name="delivery_outstanding_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} delivery of notification #{self.notification_id}: {self.status}"
