from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from infusions.dosing import REGIMENS, ProductFacts
from infusions.fluid_rules import MAX_ENTRY_ML, MIN_ENTRY_ML
from patients.models import Patient, WeightMeasurement
from patients.validators import validate_weight_kg


class Product(models.Model):
    """One IVIG brand of the catalogue (docs/clinical-rules.md reference §4.1, shipped by a data migration).

    Unknown label values are null, never guessed (docs/clinical-rules.md §A4); a product without vial sizes cannot be
    ordered until pharmacy fills them in.
    """

    name = models.CharField(max_length=100, unique=True)
    manufacturer = models.CharField(max_length=100)
    concentration_percent = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    vial_sizes_g = models.JSONField(default=list, blank=True, help_text="Grams of IgG per vial, e.g. [1, 2.5, 5].")
    # The GTINs (GS1 01) of the product's vials, each with its size: [{"gtin", "vial_size_g", "demo"}]. Pharmacy
    # records them (services.catalogue.record_gtins); ``demo`` marks the made-up ones of demo data.
    gtins = models.JSONField(default=list, blank=True)
    iga_content_ug_per_ml = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    iga_content_qualifier = models.CharField(max_length=10, blank=True, help_text="average or maximum")
    iga_depleted = models.BooleanField(default=False)
    stabiliser = models.CharField(max_length=200, blank=True)
    itp_indication = models.BooleanField(default=False)
    itp_indication_detail = models.CharField(max_length=300, blank=True)
    itp_label_dose = models.CharField(max_length=300, blank=True)
    initial_rate_mg_per_kg_min = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    initial_rate_duration_min = models.PositiveIntegerField(null=True, blank=True)
    step_up_interval_min = models.PositiveIntegerField(null=True, blank=True)
    itp_max_rate_mg_per_kg_min = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    at_risk_max_rate_mg_per_kg_min = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    discontinued = models.BooleanField(default=False)
    on_formulary = models.BooleanField(default=True, help_text="Offered to prescribers at this hospital.")
    # Structured fields the safety stops read (docs/clinical-rules.md §A9).
    itp_min_age_years = models.PositiveSmallIntegerField("label's lower age for ITP (years)", null=True, blank=True)
    contains_sorbitol = models.BooleanField(default=False)
    contains_maltose = models.BooleanField(default=False)
    contains_glucose = models.BooleanField(default=False)
    reconstituted = models.BooleanField(
        default=False, help_text="A powder prepared at 5 % or 10 %: the order names the prepared concentration."
    )
    # Values the label leaves unknown, recorded by pharmacy for this site: {field: {"value", "source", "by", "at"}}.
    # The field itself holds the value; this says where it came from. A label value is never replaced.
    site_values = models.JSONField(default=dict, blank=True)
    label_notes = models.TextField(blank=True)
    sources = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def orderable(self) -> bool:
        return self.on_formulary and not self.discontinued

    def concentration_for(self, prepared_percent: Decimal | None) -> Decimal | None:
        """The concentration the pump rates are worked out at: a reconstituted product's prepared one."""
        return prepared_percent if self.reconstituted else self.concentration_percent

    def vial_sizes(self) -> tuple[Decimal, ...]:
        return tuple(sorted(Decimal(str(size)) for size in self.vial_sizes_g or ()))

    def facts(self, prepared_percent: Decimal | None = None) -> ProductFacts:
        return ProductFacts(
            name=self.name,
            concentration_percent=self.concentration_for(prepared_percent),
            vial_sizes_g=self.vial_sizes(),
            iga_depleted=self.iga_depleted,
            itp_indication=self.itp_indication,
            initial_rate_mg_per_kg_min=self.initial_rate_mg_per_kg_min,
            step_up_interval_min=self.step_up_interval_min,
            itp_max_rate_mg_per_kg_min=self.itp_max_rate_mg_per_kg_min,
            at_risk_max_rate_mg_per_kg_min=self.at_risk_max_rate_mg_per_kg_min,
        )


class Regimen(models.TextChoices):
    ONE_DOSE_1G = "one_dose_1g_per_kg", REGIMENS["one_dose_1g_per_kg"].label
    TWO_DAYS_1G = "two_days_1g_per_kg", REGIMENS["two_days_1g_per_kg"].label
    FIVE_DAYS_0_4G = "five_days_0_4g_per_kg", REGIMENS["five_days_0_4g_per_kg"].label
    ONE_DOSE_0_8G = "one_dose_0_8g_per_kg", REGIMENS["one_dose_0_8g_per_kg"].label
    REPEAT_1G = "repeat_1g_per_kg", REGIMENS["repeat_1g_per_kg"].label


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft (awaiting verification)"
    VERIFIED = "verified", "Verified"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Order(models.Model):
    """A weight-based IVIG course. The computed dose is stored when the order is made, so a later change of
    catalogue, policy or weight never changes it silently; recalculating is an explicit, recorded action."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="orders")
    regimen = models.CharField(max_length=32, choices=Regimen.choices)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    baseline_platelet_count = models.PositiveIntegerField(
        "baseline platelet count (×10⁹/L)", validators=[MinValueValidator(0), MaxValueValidator(2000)]
    )
    baseline_collected_at = models.DateTimeField("baseline count collected at", null=True, blank=True)
    first_infusion_on = models.DateField()
    emergency = models.BooleanField(default=False)
    iga_override_reason = models.TextField(blank=True)
    previous_order = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="repeat_orders"
    )
    # An emergency order may replace an open order none of whose infusions has started (§A9 active_course).
    replaces = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    prepared_concentration_percent = models.DecimalField(
        "prepared concentration (%)", max_digits=3, decimal_places=1, null=True, blank=True
    )
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.DRAFT)
    # Returned by the verifier to its prescriber, with the reason; cleared when the prescriber recalculates.
    returned_reason = models.TextField(blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    returned_at = models.DateTimeField(null=True, blank=True)
    # A course on hold after a severe reaction, until a hematologist's review (§A10 course_on_hold).
    hold_reason = models.TextField(blank=True)
    hold_review_decision = models.CharField(max_length=20, blank=True)
    hold_review_reason = models.TextField(blank=True)
    hold_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    hold_reviewed_at = models.DateTimeField(null=True, blank=True)
    # A product change of an in-progress course's remaining days (§A9 "Courses that change"): who, when, why and
    # from what; the remaining days wait for a verifier (a pharmacist, or a hematologist other than the one who
    # changed it and the prescriber) before the next start.
    product_changed_from = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    product_change_reason = models.TextField(blank=True)
    product_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    product_changed_at = models.DateTimeField(null=True, blank=True)
    awaiting_reverification = models.BooleanField(
        default=False, help_text="The remaining days were worked out again on another product and await verification."
    )

    # An emergency order's estimated weight (§A9 "Emergency orders"): it stays on the order and never enters the
    # patient's weight history. While ``weight_measurement`` is empty the order is dosed on it; once the remaining
    # days have been recalculated on a measured weight, both are kept.
    estimated_weight_kg = models.DecimalField(
        "estimated weight (kg)",
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[validate_weight_kg],
    )

    # The working, frozen at creation (or at an explicit recalculation).
    weight_measurement = models.ForeignKey(
        WeightMeasurement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actual_weight_kg = models.DecimalField(max_digits=5, decimal_places=1)
    height_cm = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    age_years = models.PositiveIntegerField()
    dosing_weight_policy = models.CharField(max_length=32)
    dosing_weight_kg = models.DecimalField(max_digits=7, decimal_places=2)
    dosing_weight_basis = models.CharField(max_length=10)
    dosing_weight_exclusion = models.CharField(max_length=40, blank=True)
    dosing_weight_formula = models.TextField(blank=True)
    dosing_weight_override_kg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    dosing_weight_override_reason = models.TextField(blank=True)
    ideal_body_weight_kg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    adjusted_body_weight_kg = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    bmi = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    dose_per_day_g = models.DecimalField(max_digits=8, decimal_places=2)
    rounded_dose_per_day_g = models.DecimalField(max_digits=8, decimal_places=2)
    rounding_step_g = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    deviation_percent = models.DecimalField(max_digits=6, decimal_places=1)
    partial_vial = models.BooleanField(default=False)
    days = models.PositiveSmallIntegerField()
    total_calculated_g = models.DecimalField(max_digits=9, decimal_places=2)
    total_dose_g = models.DecimalField(max_digits=9, decimal_places=2)
    vials_per_day = models.JSONField(default=list, blank=True)
    volume_per_day_ml = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    rate_plan = models.JSONField(null=True, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # The record's safety status when the dose was worked out ({"iga_conflict", "fructose_intolerance",
    # "below_label_age"}), so record_changed can tell a change of status from a standing one (§A9).
    record_flags = models.JSONField(default=dict, blank=True)
    calculated_at = models.DateTimeField()

    # Where the course is given: the patient's unit when the order is written unless another is chosen. Empty for an
    # order written before units existed (shown in every unit's review). Indexed by order_unit_idx.
    unit = models.ForeignKey(
        "core.Unit", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders_created")
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="orders_verified"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("verify_order", "Can verify an IVIG order (pharmacist or a second hematologist)"),
            ("cancel_order", "Can cancel an IVIG order"),
            ("recalculate_order", "Can recalculate a draft order's dose"),
            ("review_hold", "Can review a course on hold after a severe reaction"),
            ("change_order_product", "Can change the product of an in-progress course's remaining days"),
        ]
        indexes = [
            models.Index(fields=["status", "-created_at"], name="order_status_queue_idx"),
            models.Index(fields=["patient", "-created_at"], name="order_per_patient_idx"),
            # The hematologist dashboard's "active courses": by status, then first infusion date.
            models.Index(fields=["status", "first_infusion_on"], name="order_active_course_idx"),
            models.Index(fields=["unit"], name="order_unit_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(regimen="repeat_1g_per_kg") | models.Q(previous_order__isnull=False),
                name="order_repeat_references_previous",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="order_cancel_has_reason",
            ),
            models.CheckConstraint(
                condition=models.Q(verified_by__isnull=True) | ~models.Q(verified_by=models.F("created_by")),
                name="order_verifier_is_not_creator",
            ),
            models.CheckConstraint(
                condition=models.Q(baseline_platelet_count__lte=2000), name="order_baseline_plausible"
            ),
            # §A9 active_course: one open course per patient, whatever path an order takes into the table.
            models.UniqueConstraint(
                fields=["patient"],
                condition=models.Q(status__in=["draft", "verified", "in_progress"]),
                name="order_one_open_course_per_patient",
                violation_error_message="The patient already has an open course.",
            ),
            models.CheckConstraint(
                condition=models.Q(estimated_weight_kg__isnull=True) | models.Q(emergency=True),
                name="order_estimated_weight_only_emergency",
            ),
            models.CheckConstraint(
                condition=models.Q(weight_measurement__isnull=False) | models.Q(estimated_weight_kg__isnull=False),
                name="order_dosed_on_a_weight",
            ),
            models.CheckConstraint(
                condition=models.Q(prepared_concentration_percent__isnull=True)
                | models.Q(prepared_concentration_percent__in=[Decimal("5"), Decimal("10")]),
                name="order_prepared_concentration_5_or_10",
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} {self.get_regimen_display()} of {self.product} for {self.patient.mrn}"

    @property
    def on_estimated_weight(self) -> bool:
        """An emergency order still dosed on its estimated weight (§A9): no measured weight behind its working."""
        return self.estimated_weight_kg is not None and self.weight_measurement_id is None

    @property
    def warning_messages(self) -> list[str]:
        return [warning["message"] for warning in self.warnings]

    @property
    def grams_given(self) -> Decimal:
        """Grams of IVIG the course has given: its days here and its doses given elsewhere."""
        here = sum((infusion.grams_given for infusion in self.infusions.all()), Decimal(0))
        return here + sum((dose.grams for dose in self.outside_doses.all()), Decimal(0))

    # docs/clinical-rules.md §A12: a co-therapy started up to 28 days before the first infusion still qualifies the
    # response ("with other ITP treatment"), so the order lists those too.
    CO_THERAPY_DAYS_BEFORE = 28

    def co_therapies_overlapping(self) -> list[Any]:
        """The patient's co-therapies (not withdrawn) overlapping the course: from 28 days before its first infusion
        day to the end of its window, which monitoring stores on the response (open while there is none)."""
        start = timezone.make_aware(datetime.combine(self.first_infusion_on, time.min)) - timedelta(
            days=self.CO_THERAPY_DAYS_BEFORE
        )
        response = getattr(self, "response", None)
        closes = getattr(response, "window_closes_at", None)
        return [
            therapy
            for therapy in self.patient.co_therapies.all()
            if therapy.entered_in_error_at is None
            and (therapy.given_until or therapy.given_from) >= start
            and (closes is None or therapy.given_from < closes)
        ]

    @property
    def partially_given(self) -> bool:
        """Cancelled after an infusion was given (A12): its checks stay and it counts as an ended course."""
        # From the days and doses the lists prefetch: no query per order.
        return self.status == OrderStatus.CANCELLED and (
            any(infusion.started_at for infusion in self.infusions.all()) or bool(self.outside_doses.all())
        )

    @property
    def on_hold(self) -> bool:
        return bool(self.hold_reason) and not self.hold_review_decision

    @property
    def vials_text(self) -> str:
        return " + ".join(f"{v['count']} × {_g(v['size_g'])} g" for v in self.vials_per_day) or "—"


def _g(value: Any) -> str:
    text = f"{Decimal(str(value)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class OutsideDose(models.Model):
    """A dose of this course given at another hospital before the patient came here (§A9 "Courses that change"):
    as reported, so the product is free text. The first outside start is the course's time zero (A6); outside doses
    count for too_soon_after_previous_day, first-ever infusion and product switch (§A10)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="outside_doses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    product = models.CharField(max_length=100, help_text="The product as reported by the other hospital.")
    grams = models.DecimalField(max_digits=7, decimal_places=2)
    lot = models.CharField(max_length=64)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__gt=models.F("started_at")), name="outside_dose_ends_after_start"
            ),
            models.CheckConstraint(condition=models.Q(grams__gt=0), name="outside_dose_grams_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.grams} g of {self.product} given elsewhere on {self.started_at:%Y-%m-%d}"


class InfusionStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"


class Infusion(models.Model):
    """One day of a verified course; created by verification (one per course day)."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="infusions")
    day_number = models.PositiveSmallIntegerField()
    scheduled_for = models.DateField()
    status = models.CharField(max_length=16, choices=InfusionStatus.choices, default=InfusionStatus.SCHEDULED)
    dose_g = models.DecimalField(max_digits=8, decimal_places=2)
    volume_ml = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    # The product this day was given with, written at its start; null means the order's product (a day not yet
    # started, or one started before products could change mid-course).
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Where this day is given: the order's unit when the days are scheduled; a nurse moves one day elsewhere (a
    # transfer) with move_infusion_to_unit, which keeps the earlier unit in the history. Empty for a day scheduled
    # before units existed (shown on every unit's worklist). Indexed by infusion_worklist_by_unit_idx.
    unit = models.ForeignKey(
        "core.Unit", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    current_rate_ml_per_h = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    stop_reason = models.TextField(blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    volume_infused_ml = models.DecimalField(max_digits=8, decimal_places=1, null=True, blank=True)
    checklist = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scheduled_for", "day_number"]
        permissions = [("administer_infusion", "Can start, document and complete infusions")]
        constraints = [
            models.UniqueConstraint(fields=["order", "day_number"], name="infusion_one_per_course_day"),
            models.CheckConstraint(condition=models.Q(day_number__gte=1), name="infusion_day_number_from_one"),
        ]
        indexes = [
            models.Index(fields=["scheduled_for", "status"], name="infusion_worklist_by_day_idx"),
            # The worklist of one unit: its days by date.
            models.Index(fields=["unit", "scheduled_for"], name="infusion_worklist_by_unit_idx"),
        ]

    def __str__(self) -> str:
        return f"Day {self.day_number} of order #{self.order_id} ({self.scheduled_for})"

    @property
    def ended_at(self) -> Any:
        return self.completed_at or self.stopped_at

    @property
    def given_product(self) -> Product:
        """The product of this day: the one it was started with, else the order's."""
        return self.product or self.order.product

    @property
    def grams_given(self) -> Decimal:
        """The grams this day gave: its dose once completed; for a day stopped part-way, the volume infused at the
        concentration it ran at (never above the dose); nothing for a day not started or still running."""
        if self.started_at is None or self.status in (InfusionStatus.SCHEDULED, InfusionStatus.IN_PROGRESS):
            return Decimal(0)
        if self.status == InfusionStatus.COMPLETED:
            return self.dose_g
        concentration = self.given_product.concentration_for(self.order.prepared_concentration_percent)
        if not concentration or self.volume_infused_ml is None:
            return Decimal(0)
        grams = (self.volume_infused_ml * concentration / 100).quantize(Decimal("0.01"))
        return min(grams, self.dose_g)


class RateSegment(models.Model):
    """A stretch of the infusion at one pump rate. Each rate change closes one segment and opens the next; a
    pause is a segment at 0 mL/h. The volume infused is computed from the segments."""

    class Reason(models.TextChoices):
        START = "start", "Start"
        TITRATION = "titration", "Rate change"
        PAUSE = "pause", "Paused"
        RESUME = "resume", "Resumed"

    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="rate_segments")
    rate_ml_per_h = models.DecimalField(max_digits=7, decimal_places=1)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["started_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["infusion"], condition=models.Q(ended_at__isnull=True), name="rate_segment_one_open"
            ),
            models.CheckConstraint(condition=models.Q(rate_ml_per_h__gte=0), name="rate_segment_rate_not_negative"),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="rate_segment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rate_ml_per_h} mL/h from {self.started_at:%H:%M}"


class VialLot(models.Model):
    """Traceability of a plasma product: the lot (and expiry) of every vial given."""

    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="vial_lots")
    # Null only for vials recorded before the product, GTIN and serial were (§A10 vial_mismatch).
    product = models.ForeignKey(Product, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    gtin = models.CharField("GTIN", max_length=14, null=True, blank=True)
    serial = models.CharField(max_length=20, null=True, blank=True)
    lot_number = models.CharField(max_length=64)
    expiry_date = models.DateField(null=True, blank=True)
    vial_size_g = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"lot {self.lot_number}"


class VitalSignsEntry(models.Model):
    """One set of vital signs with the alerts it raised (docs/clinical-rules.md §A5), stored as taken."""

    # No index of its own: vitals_by_infusion_time_idx starts with the infusion. Every index is maintained on each
    # insert, and vitals are the most frequent write.
    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="vitals", db_index=False)
    taken_at = models.DateTimeField()
    temperature_c = models.DecimalField(max_digits=3, decimal_places=1)
    heart_rate_bpm = models.PositiveSmallIntegerField()
    systolic_bp_mmhg = models.PositiveSmallIntegerField()
    diastolic_bp_mmhg = models.PositiveSmallIntegerField()
    respiratory_rate_per_min = models.PositiveSmallIntegerField()
    spo2_percent = models.PositiveSmallIntegerField()
    alerts = models.JSONField(default=list, blank=True)
    highest_severity = models.CharField(max_length=8, blank=True)
    # No index: nothing looks vitals up by recorder (staff accounts are deactivated, never deleted).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The audit trail is read per entry (by id), never by infusion or recorder: those two copies need no index.
    history = HistoricalRecords(no_db_index=["infusion", "recorded_by"])

    class Meta:
        ordering = ["taken_at", "pk"]
        verbose_name = "vital signs entry"
        verbose_name_plural = "vital signs entries"
        # In the order of Meta.ordering: the baseline (an infusion's first set) is the first entry of this index,
        # read without a sort.
        indexes = [models.Index(fields=["infusion", "taken_at", "id"], name="vitals_by_infusion_time_idx")]

    def __str__(self) -> str:
        return f"Vitals at {self.taken_at:%Y-%m-%d %H:%M}"


class Reaction(models.Model):
    """An infusion reaction, graded by CTCAE v5 "Infusion related reaction" (docs/clinical-rules.md §A5, reference
    §6.3)."""

    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="reactions")
    reaction = models.CharField(max_length=32)
    ctcae_grade = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    action_taken = models.TextField()
    noted_at = models.DateTimeField()
    rate_at_reaction_ml_per_h = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    stopped_infusion = models.BooleanField(default=False)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["noted_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ctcae_grade__gte=1, ctcae_grade__lte=5), name="reaction_ctcae_grade_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reaction} (CTCAE {self.ctcae_grade})"


class FluidEntryKind(models.TextChoices):
    INTAKE = "intake", "Intake (other than the IVIG)"
    OUTPUT = "output", "Output (urine, vomit, drain)"


class FluidEntry(models.Model):
    """One intake or output of the bedside fluid balance (docs/clinical-rules.md §A13 "Fluid"), kept for cardiac
    dysfunction, eGFR < 60, volume depletion or sepsis from the infusion's start until the next day's start or 24 h
    after its end. The IVIG's own volume comes from the rate segments, never from an entry. Append-only: an entry
    is never edited or deleted (a correction is a further entry, explained in its description)."""

    infusion = models.ForeignKey(Infusion, on_delete=models.PROTECT, related_name="fluid_entries", db_index=False)
    kind = models.CharField(max_length=8, choices=FluidEntryKind.choices)
    volume_ml = models.PositiveIntegerField(
        "volume (mL)", validators=[MinValueValidator(MIN_ENTRY_ML), MaxValueValidator(MAX_ENTRY_ML)]
    )
    recorded_at = models.DateTimeField(help_text="When the intake was given or the output measured.")
    description = models.CharField(max_length=200, blank=True)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["recorded_at", "pk"]
        verbose_name_plural = "fluid entries"
        # The balance reads an infusion's entries in time order.
        indexes = [models.Index(fields=["infusion", "recorded_at", "id"], name="fluid_entry_by_infusion_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(volume_ml__gte=MIN_ENTRY_ML, volume_ml__lte=MAX_ENTRY_ML),
                name="fluid_entry_volume_plausible",
            ),
            models.CheckConstraint(condition=models.Q(kind__in=["intake", "output"]), name="fluid_entry_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.volume_ml} mL at {self.recorded_at:%Y-%m-%d %H:%M}"


class SafetyRecordKind(models.TextChoices):
    OVERRIDE = "override", "Override"
    WARNING = "warning", "Warning"
    DOCUMENTED_DEVIATION = "documented_deviation", "Documented deviation (recorded late)"


class SafetyRecord(models.Model):
    """A safety stop that did not refuse (docs/clinical-rules.md §A8): an override with its reason, a warning shown,
    or what a late entry would have met. Bound to the order, and to the one infusion for a bedside event."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="safety_records")
    infusion = models.ForeignKey(
        Infusion, on_delete=models.PROTECT, null=True, blank=True, related_name="safety_records"
    )
    code = models.CharField(max_length=40)
    kind = models.CharField(max_length=24, choices=SafetyRecordKind.choices)
    stage = models.CharField(max_length=16)
    message = models.TextField()
    reason = models.TextField(blank=True)
    role = models.CharField(max_length=16, blank=True, help_text="The role the override was given in.")
    # The facts an override was given for (reaction ids, a dose, an IgA result and product): unbounded, as a
    # patient's reactions are.
    fingerprint = models.TextField(blank=True)
    at = models.DateTimeField(help_text="The event's own time.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["order", "code"], name="safety_record_by_order_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="override") | ~models.Q(reason=""), name="safety_override_has_reason"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code} on order #{self.order_id}"
