from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from patients import rules
from patients.rules import is_iga_deficient
from patients.validators import (
    validate_birth_date,
    validate_height_cm,
    validate_iga_mg_dl,
    validate_not_in_future,
    validate_visible_characters,
    validate_weight_kg,
)


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"


class AntiIgaAntibodies(models.TextChoices):
    UNKNOWN = "unknown", "Unknown (not tested)"
    NEGATIVE = "negative", "Negative"
    POSITIVE = "positive", "Positive"


class Patient(models.Model):
    mrn = models.CharField("MRN", max_length=32, unique=True, validators=[validate_visible_characters])
    given_name = models.CharField(max_length=100, validators=[validate_visible_characters])
    family_name = models.CharField(max_length=100, validators=[validate_visible_characters])
    birth_date = models.DateField(validators=[validate_birth_date])
    sex = models.CharField(max_length=6, choices=Sex.choices)
    height_cm = models.DecimalField(
        max_digits=5, decimal_places=1, null=True, blank=True, validators=[validate_height_cm]
    )
    # The reason given when the current height tripped implausible_body_size (§A9), blank otherwise. It belongs to
    # the height value: cleared when the height changes without a stop, and kept per value in the history.
    height_confirmation_reason = models.TextField(blank=True)
    serum_iga_mg_dl = models.DecimalField(
        "serum IgA (mg/dL)", max_digits=7, decimal_places=2, null=True, blank=True, validators=[validate_iga_mg_dl]
    )
    iga_measured_on = models.DateField("IgA measured on", null=True, blank=True, validators=[validate_not_in_future])
    cardiac_dysfunction = models.BooleanField(default=False)
    renal_impairment = models.BooleanField(default=False)
    # docs/clinical-rules.md §A13: a pregnancy is recorded with its expected delivery date, or "not yet known" with a
    # review date; it ends with a delivery or end date, or 14 days after the expected date (``pregnancy_open``).
    pregnant = models.BooleanField(default=False)
    expected_delivery_date = models.DateField(null=True, blank=True)
    pregnancy_review_on = models.DateField("pregnancy: review the expected date on", null=True, blank=True)
    pregnancy_ended_on = models.DateField("pregnancy ended on (delivery or end)", null=True, blank=True)
    # Version 1's single flag: "thrombosis risk, factor not specified" (the API's thrombosis_risk_unspecified) until
    # the factors below are chosen (docs/clinical-rules.md §A13).
    thrombosis_risk = models.BooleanField(
        "thrombosis risk, factor not specified",
        default=False,
        help_text="Kept from before the factors were recorded one by one: choose the factors below instead.",
    )
    thrombosis_risk_details = models.TextField(blank=True)
    anti_iga_antibodies = models.CharField(
        "anti-IgA antibodies", max_length=8, choices=AntiIgaAntibodies.choices, default=AntiIgaAntibodies.UNKNOWN
    )
    anti_iga_antibodies_on = models.DateField(
        "anti-IgA antibodies tested on", null=True, blank=True, validators=[validate_not_in_future]
    )
    # docs/clinical-rules.md §A13: the at-risk factors of the boxed warning, one by one. The acute ones (volume
    # depletion, sepsis, nephrotoxic drugs, immobilization) carry the date they were assessed.
    volume_depletion = models.BooleanField(default=False)
    sepsis = models.BooleanField(default=False)
    paraproteinemia = models.BooleanField(default=False)
    nephrotoxic_drugs = models.BooleanField(default=False)
    immobilization = models.BooleanField(default=False)
    hypercoagulable_state = models.BooleanField(default=False)
    previous_thrombosis = models.BooleanField(default=False)
    estrogens = models.BooleanField("estrogens (contraceptive or replacement)", default=False)
    central_venous_catheter = models.BooleanField(default=False)
    hyperviscosity = models.BooleanField(default=False)
    cardiovascular_disease = models.BooleanField(
        "established cardiovascular disease (or two of hypertension, diabetes, smoking, dyslipidemia)", default=False
    )
    acute_factors_assessed_on = models.DateField(
        "acute factors assessed on", null=True, blank=True, validators=[validate_not_in_future]
    )
    hereditary_fructose_intolerance = models.BooleanField(default=False)
    diabetes = models.BooleanField(default=False)
    on_insulin = models.BooleanField(default=False)
    allergies = models.TextField(blank=True)
    previous_infusion_reactions = models.TextField(
        blank=True, help_text="Free text. Severe IVIG reactions belong in the structured IVIG reaction history."
    )
    # Where the patient is now (docs/architecture.md "Wards and units"). Empty for a patient recorded before units
    # existed: such a patient is shown in every unit's lists. Indexed by patient_unit_idx (added concurrently).
    unit = models.ForeignKey(
        "core.Unit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        help_text="The ward, day unit or clinic the patient is in now.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["family_name", "given_name", "mrn"]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="patient_name_search_idx"),
            models.Index(fields=["unit"], name="patient_unit_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(iga_measured_on__isnull=True) | models.Q(serum_iga_mg_dl__isnull=False),
                name="patient_iga_date_needs_value",
            )
        ]

    def __str__(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name} ({self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    def age_on(self, day: date) -> int:
        years = day.year - self.birth_date.year
        if (day.month, day.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years

    @property
    def age_years(self) -> int:
        return self.age_on(timezone.localdate())

    @property
    def pregnancy_open(self) -> bool:
        """A13: recorded pregnant and not yet ended (delivery or end date, or 14 days after the expected date)."""
        return rules.pregnancy_open(
            self.pregnant, self.expected_delivery_date, self.pregnancy_ended_on, timezone.localdate()
        )

    @property
    def pregnancy_ends_on(self) -> date | None:
        return rules.pregnancy_ends_on(self.expected_delivery_date, self.pregnancy_ended_on) if self.pregnant else None

    @property
    def pregnancy_ends_soon(self) -> bool:
        """A13: the prompt a week before an open pregnancy ends by itself (14 days after the expected date)."""
        ends = self.pregnancy_ends_on
        if not self.pregnancy_open or ends is None or self.pregnancy_ended_on is not None:
            return False
        return (ends - timezone.localdate()).days <= rules.PREGNANCY_PROMPT_DAYS_BEFORE_END

    @property
    def risk_flags(self) -> dict[str, bool]:
        """Each at-risk factor of docs/clinical-rules.md §A13 as recorded (True when present); pregnancy counts
        while open and for 6 weeks after it."""
        flags = {code: bool(getattr(self, code)) for code, _label in rules.RISK_FACTORS}
        flags["pregnant"] = rules.hypercoagulable_after_pregnancy(
            self.pregnant, self.expected_delivery_date, self.pregnancy_ended_on, timezone.localdate()
        )
        return flags

    @property
    def risk_factors(self) -> tuple[str, ...]:
        return rules.risk_factors_present(self.risk_flags)

    @property
    def acute_factors_to_reassess(self) -> tuple[str, ...]:
        return rules.acute_factors_to_reassess(self.risk_flags, self.acute_factors_assessed_on, timezone.localdate())

    @property
    def iga_deficient(self) -> bool | None:
        return is_iga_deficient(self.serum_iga_mg_dl, settings.IVIG_IGA_DEFICIENCY_CUTOFF_MG_DL)

    @property
    def current_weight(self) -> WeightMeasurement | None:
        # Uses the prefetched list when a selector prefetched it, so lists stay at a fixed query count.
        cache = getattr(self, "_prefetched_objects_cache", {})
        if "weights" in cache:
            weights = sorted(cache["weights"], key=lambda w: (w.measured_at, w.pk), reverse=True)
            return weights[0] if weights else None
        return self.weights.order_by("-measured_at", "-pk").first()

    @property
    def weight_kg(self) -> Decimal | None:
        current = self.current_weight
        return current.weight_kg if current else None


class WeightMeasurement(models.Model):
    """Each weighing is kept: a new weight never overwrites the old one (dosing must be reproducible)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="weights")
    weight_kg = models.DecimalField(max_digits=5, decimal_places=1, validators=[validate_weight_kg])
    measured_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # A weight that tripped weight_change or implausible_body_size (§A9) is kept with the stop's code and the
    # recording user's reason; both blank for an ordinary weighing.
    confirmation_code = models.CharField(max_length=64, blank=True)
    confirmation_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-measured_at", "-pk"]
        indexes = [models.Index(fields=["patient", "-measured_at"], name="weight_latest_per_patient_idx")]

    def __str__(self) -> str:
        return f"{self.weight_kg} kg on {timezone.localtime(self.measured_at):%Y-%m-%d %H:%M}"

    def age_days(self, now: datetime | None = None) -> int:
        return ((now or timezone.now()) - self.measured_at).days


class ReportedIvigReaction(models.Model):
    """A reaction to IVIG given elsewhere (another hospital, or before this system), as reported: the structured
    history the previous-severe-reaction stop reads beside this system's own reactions (docs/clinical-rules.md
    §A9)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reported_ivig_reactions")
    occurred_on = models.DateField(validators=[validate_not_in_future])
    product = models.CharField(max_length=100, help_text="The IVIG brand, as reported.")
    ctcae_grade = models.PositiveSmallIntegerField(null=True, blank=True)
    anaphylaxis = models.BooleanField(default=False)
    where = models.CharField(max_length=200, help_text="Where it was given (hospital, unit).")
    details = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-occurred_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ctcae_grade__isnull=True) | models.Q(ctcae_grade__gte=1, ctcae_grade__lte=5),
                name="reported_reaction_ctcae_grade_1_to_5",
            ),
            models.CheckConstraint(
                condition=models.Q(ctcae_grade__isnull=False) | models.Q(anaphylaxis=True),
                name="reported_reaction_graded_or_anaphylaxis",
            ),
        ]

    def __str__(self) -> str:
        what = "anaphylaxis" if self.anaphylaxis else f"CTCAE grade {self.ctcae_grade}"
        return f"{self.product} on {self.occurred_on:%Y-%m-%d}: {what} ({self.where})"

    @property
    def severe(self) -> bool:
        return self.anaphylaxis or (self.ctcae_grade or 0) >= 3


class CoTherapyKind(models.TextChoices):
    PLATELET_TRANSFUSION = "platelet_transfusion", "Platelet transfusion"
    CORTICOSTEROID = "corticosteroid", "Corticosteroid"
    OTHER_ITP_TREATMENT = "other_itp_treatment", "Other ITP treatment (TPO receptor agonist, rituximab, other)"
    PREMEDICATION = "premedication", "Premedication"
    PREHYDRATION = "prehydration", "Pre-hydration"
    DIURETIC = "diuretic", "Diuretic"


class CoTherapy(models.Model):
    """A treatment given beside the IVIG, with its period (docs/clinical-rules.md §A12): a platelet transfusion
    makes the counts of the next 24 h count toward nothing; corticosteroids and other ITP treatments qualify a
    response. Never deleted: a wrong entry is withdrawn as entered in error, with the reason."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="co_therapies")
    kind = models.CharField(max_length=24, choices=CoTherapyKind.choices)
    drug = models.CharField(max_length=100, blank=True)
    dose = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    dose_unit = models.CharField(max_length=20, blank=True)
    route = models.CharField(max_length=40, blank=True)
    volume_ml = models.PositiveIntegerField(null=True, blank=True)
    units = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Platelet units transfused.")
    given_from = models.DateTimeField()
    given_until = models.DateTimeField(null=True, blank=True, help_text="Empty for a single dose.")
    description = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    entered_in_error_reason = models.TextField(blank=True)
    entered_in_error_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["given_from", "pk"]
        indexes = [models.Index(fields=["patient", "given_from"], name="co_therapy_by_patient_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(given_until__isnull=True) | models.Q(given_until__gte=models.F("given_from")),
                name="co_therapy_period_in_order",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.given_from:%Y-%m-%d %H:%M}"

    @property
    def withdrawn(self) -> bool:
        return self.entered_in_error_at is not None


class LabResult(models.Model):
    """A laboratory value beside the platelet count (docs/clinical-rules.md §A13): creatinine and hemoglobin stored
    in SI units as converted from the unit sent (which is kept), the ABO/Rh group as ``O+``, ``A-``... Never
    overwritten: a correction is a new result superseding the old one, a wrong one is withdrawn with the reason."""

    class Test(models.TextChoices):
        CREATININE = "creatinine", "Creatinine"
        HEMOGLOBIN = "hemoglobin", "Hemoglobin"
        BLOOD_GROUP = "blood_group", "Blood group (ABO/Rh)"

    class Source(models.TextChoices):
        MANUAL = "manual", "Entered by staff"
        HL7 = "hl7", "Laboratory (HL7)"

    class Status(models.TextChoices):
        FINAL = "final", "Final"
        CORRECTED = "corrected", "Corrected"
        SUPERSEDED = "superseded", "Superseded by a correction"
        ENTERED_IN_ERROR = "entered_in_error", "Entered in error"

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lab_results")
    test = models.CharField(max_length=12, choices=Test.choices)
    value_sent = models.CharField(max_length=40, help_text="The value as typed or sent by the laboratory.")
    unit_sent = models.CharField(max_length=20, blank=True)
    # µmol/L for creatinine, g/L for hemoglobin; null for a blood group.
    value_si = models.DecimalField(max_digits=7, decimal_places=1, null=True, blank=True)
    blood_group = models.CharField(max_length=3, blank=True)
    collected_at = models.DateTimeField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.MANUAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FINAL)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="supersedes"
    )
    change_reason = models.TextField(blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["collected_at", "pk"]
        indexes = [models.Index(fields=["patient", "test", "collected_at"], name="lab_result_by_patient_idx")]

    def __str__(self) -> str:
        shown = self.blood_group or f"{self.value_si} {'µmol/L' if self.test == 'creatinine' else 'g/L'}"
        return f"{self.get_test_display()} {shown} at {self.collected_at:%Y-%m-%d %H:%M}"

    @property
    def current(self) -> bool:
        """Stands: neither superseded by a correction nor withdrawn (the row form of ``CURRENT_LAB``)."""
        return self.superseded_by_id is None and self.status != self.Status.ENTERED_IN_ERROR


# The laboratory values that stand: not superseded by a correction, not withdrawn as entered in error (A13).
CURRENT_LAB = models.Q(superseded_by__isnull=True) & ~models.Q(status=LabResult.Status.ENTERED_IN_ERROR)
