"""The web pages' forms as a clinician posts them, for the tests that walk every POST view and feed every form
arbitrary text: one small ward (patients, orders at each stage, a running infusion, results, a co-therapy), the
valid body of each form on it, and a count of every clinical row and history row to prove a refusal changed
nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.utils import timezone

from tests.factories import (
    FULL_CHECKLIST,
    NORMAL_VITALS,
    PatientFactory,
    UserFactory,
    day_vials,
    day_vials_form,
    given_order,
    verified_order,
)

# Text a clinician, a scanner or an attacker may put in any field: not-a-numbers, infinities, digits that are not
# ASCII (Python's int() and Decimal() read "١٢" as 12, str.isdigit() calls "²" a digit), numbers too big for any
# column, the first and last days a date can hold, ids that name nothing, and a NUL that PostgreSQL cannot store.
NASTY_TEXT = (
    "NaN",
    "nan",
    "-NaN",
    "sNaN",
    "inf",
    "-inf",
    "Infinity",
    "1e999",
    "-1e999",
    "1E+400",
    "²",
    "¹²",
    "١٢",
    "٣٦٫٨",
    "१२०",
    "12",
    "-1",
    "0",
    "-0",
    "0.0000001",
    "9" * 40,
    "-" + "9" * 40,
    "1" + "0" * 25,
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "2026-02-30",
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "0000-00-00T00:00",
    "２０２６-０１-０１",
    "abc",
    "1,200",
    "36,8",
    " ",
    "",
    "<script>x</script>",
    "\x00",
    "a\x00b",
)


def local_input(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


@dataclass
class Ward:
    nurse: Any
    hematologist: Any
    second_hematologist: Any
    pharmacist: Any
    patient: Any
    draft: Any  # written by the hematologist, awaiting verification
    scheduled: Any  # a verified order's infusion not yet started
    running: Any  # an infusion in progress
    given: Any  # a two-day order whose day 1 was given 28 h ago, day 2 scheduled
    product: Any
    result: Any  # a counted result of ``given``
    co_therapy: Any
    notification: Any


def build_ward() -> Ward:
    from infusions import services as infusion_services
    from infusions.models import Product
    from monitoring import services as monitoring_services
    from monitoring.models import Notification, PlateletCheck
    from patients.models import CoTherapy

    nurse = UserFactory(role="nurse", username="ward-nurse")
    hematologist = UserFactory(role="hematologist", username="ward-haem")
    second = UserFactory(role="hematologist", username="ward-haem2")
    pharmacist = UserFactory(role="pharmacist", username="ward-pharm")
    patient = PatientFactory()
    draft_order = infusion_services.create_order(
        data={
            "patient": PatientFactory(),
            "regimen": "one_dose_1g_per_kg",
            "product": Product.objects.get(name="Gamunex-C"),
            "baseline_platelet_count": 12,
            "baseline_collected_at": timezone.now() - timedelta(hours=1),
            "first_infusion_on": timezone.localdate(),
        },
        user=hematologist,
    )
    scheduled = verified_order(prescriber=hematologist).infusions.get()
    # Cardiac dysfunction: the bedside keeps a fluid balance for this patient (§A13 "Fluid"), so its form is shown.
    running = verified_order(prescriber=hematologist, cardiac_dysfunction=True).infusions.get()
    infusion_services.record_vitals(infusion_id=running.pk, user=nurse, values=NORMAL_VITALS)
    infusion_services.start_infusion(
        infusion_id=running.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(running)
    )
    given = given_order(regimen="two_days_1g_per_kg", prescriber=hematologist, nurse=nurse, completed_hours_ago=28)
    started = given.infusions.get(day_number=1).started_at
    result = monitoring_services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=given, label="24h").pk,
        platelet_count=15,
        collected_at=started + timedelta(hours=26),
        bleeding=False,
    )
    monitoring_services.record_co_therapy(
        patient_id=given.patient_id,
        user=hematologist,
        data={
            "kind": "corticosteroid",
            "drug": "prednisolone",
            "dose": "60",
            "dose_unit": "mg",
            "route": "oral",
            "given_from": started - timedelta(days=2),
            "given_until": None,
        },
    )
    notification = Notification.objects.create(
        recipient=nurse, kind="platelet_check_due", message="due", dedupe_key="ward-nurse-due"
    )
    return Ward(
        nurse=nurse,
        hematologist=hematologist,
        second_hematologist=second,
        pharmacist=pharmacist,
        patient=patient,
        draft=draft_order,
        scheduled=scheduled,
        running=running,
        given=given,
        product=Product.objects.get(name="Gamunex-C"),
        result=result,
        co_therapy=CoTherapy.objects.get(patient_id=given.patient_id),
        notification=notification,
    )


# Every model of the clinical apps, their history tables included: a refusal must leave each count as it was.
CLINICAL_APPS = ("patients", "infusions", "monitoring")


def clinical_rows() -> dict[str, int]:
    return {
        model._meta.label: model._default_manager.count()
        for label in CLINICAL_APPS
        for model in apps.get_app_config(label).get_models()
    }


def changed_rows(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {label: (before[label], after[label]) for label in before if before[label] != after[label]}


@dataclass(frozen=True)
class FormCase:
    """One web form: who posts it, where, a body that is accepted as it stands, and the inputs whose text must
    come back as typed when the form is refused (a choice or a checkbox cannot hold garbage)."""

    name: str
    role: str
    url: Callable[[Ward], str]
    valid: Callable[[Ward], dict[str, Any]]
    typed: tuple[str, ...] = ()
    htmx: bool = False
    # The prefix of every field name (a product's site-values form carries its product's).
    prefix: Callable[[Ward], str] = field(default=lambda ward: "")
    # More typed inputs known only once the ward exists (the site values a product's label leaves unknown).
    extra: Callable[[Ward], tuple[str, ...]] = field(default=lambda ward: ())


def site_value_fields(product: Any) -> tuple[str, ...]:
    from infusions.forms import SiteValuesForm

    return tuple(name for name in SiteValuesForm(product).fields if name != "source")


def _patient_body(ward: Ward) -> dict[str, Any]:
    return {
        "mrn": "MRN-FUZZ-1",
        "given_name": "Dana",
        "family_name": "Okafor",
        "birth_date": "1975-04-02",
        "sex": "female",
        "height_cm": "165",
        "weight_kg": "70",
        "serum_iga_mg_dl": "120",
        "iga_measured_on": str(timezone.localdate() - timedelta(days=5)),
        "anti_iga_antibodies": "unknown",
    }


PATIENT_TYPED = (
    "mrn",
    "given_name",
    "family_name",
    "birth_date",
    "height_cm",
    "weight_kg",
    "serum_iga_mg_dl",
    "iga_measured_on",
)

FORM_CASES: tuple[FormCase, ...] = (
    FormCase(
        "patient create",
        "nurse",
        lambda ward: "/patients/new/",
        _patient_body,
        typed=PATIENT_TYPED,
    ),
    FormCase(
        "patient edit",
        "nurse",
        lambda ward: f"/patients/{ward.patient.pk}/edit/",
        lambda ward: {**_patient_body(ward), "mrn": ward.patient.mrn, "weight_kg": "82", "height_cm": "178"},
        typed=PATIENT_TYPED,
    ),
    FormCase(
        "reported IVIG reaction",
        "nurse",
        lambda ward: f"/patients/{ward.patient.pk}/ivig-reactions/",
        lambda ward: {
            "occurred_on": "2024-03-01",
            "product": "Privigen",
            "ctcae_grade": "2",
            "where": "St Elsewhere",
            "details": "rigors",
        },
        typed=("occurred_on", "product", "where", "details"),
    ),
    FormCase(
        "laboratory value",
        "nurse",
        lambda ward: f"/patients/{ward.patient.pk}/labs/",
        lambda ward: {
            "test": "creatinine",
            "unit_creatinine": "µmol/L",
            "value": "85",
            "collected_at": local_input(timezone.now() - timedelta(hours=2)),
        },
        typed=("value", "collected_at"),
    ),
    FormCase(
        "order",
        "hematologist",
        lambda ward: "/orders/new/",
        lambda ward: {
            "patient": str(ward.patient.pk),
            "regimen": "one_dose_1g_per_kg",
            "product": str(ward.product.pk),
            "baseline_platelet_count": "12",
            "first_infusion_on": str(timezone.localdate()),
            "notes": "ITP, bleeding gums",
        },
        typed=(
            "baseline_platelet_count",
            "first_infusion_on",
            "estimated_weight_kg",
            "dosing_weight_override_kg",
            "notes",
        ),
    ),
    FormCase(
        "bedside vitals",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.running.pk}/vitals/",
        lambda ward: {
            **{k: str(v) for k, v in NORMAL_VITALS.items()},
            "taken_at": local_input(timezone.now() - timedelta(minutes=1)),
        },
        typed=(
            "temperature_c",
            "heart_rate_bpm",
            "systolic_bp_mmhg",
            "diastolic_bp_mmhg",
            "respiratory_rate_per_min",
            "spo2_percent",
            "taken_at",
        ),
        htmx=True,
    ),
    FormCase(
        "bedside rate",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.running.pk}/rate/",
        lambda ward: {"rate_ml_per_h": str(ward.running.current_rate_ml_per_h)},
        typed=("rate_ml_per_h",),
        htmx=True,
    ),
    FormCase(
        "bedside reaction",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.running.pk}/reaction/",
        lambda ward: {"reaction": "fever", "ctcae_grade": "1", "action_taken": "paracetamol"},
        typed=("action_taken",),
        htmx=True,
    ),
    FormCase(
        "bedside fluid",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.running.pk}/fluid/",
        lambda ward: {
            "kind": "intake",
            "volume_ml": "200",
            "description": "oral water",
        },
        typed=("volume_ml", "description", "recorded_at"),
        htmx=True,
    ),
    FormCase(
        "bedside start",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.scheduled.pk}/start/",
        lambda ward: {**{code: "on" for code in FULL_CHECKLIST}, **day_vials_form(ward.scheduled)},
        typed=(),
        htmx=True,
    ),
    FormCase(
        "bedside complete",
        "nurse",
        lambda ward: f"/orders/infusions/{ward.running.pk}/complete/",
        lambda ward: {"volume_infused_ml": "1"},
        typed=("volume_infused_ml",),
        htmx=True,
    ),
    FormCase(
        "platelet result",
        "nurse",
        lambda ward: f"/monitoring/orders/{ward.given.pk}/result/",
        lambda ward: {"platelet_count": "40", "collected_at": local_input(timezone.now() - timedelta(hours=1))},
        typed=(),
        htmx=True,
    ),
    FormCase(
        "worklist result",
        "nurse",
        lambda ward: f"/monitoring/checks/{ward.given.platelet_checks.get(label='48h').pk}/worklist-result/",
        lambda ward: {"platelet_count": "40", "collected_at": local_input(timezone.now() - timedelta(hours=1))},
        typed=("platelet_count", "collected_at"),
        htmx=True,
    ),
    FormCase(
        "co-therapy",
        "hematologist",
        lambda ward: f"/hematology/patients/{ward.given.patient_id}/co-therapies/",
        lambda ward: {
            "kind": "platelet_transfusion",
            "units": "1",
            "given_from": local_input(timezone.now() - timedelta(hours=3)),
        },
        typed=("units", "given_from"),
    ),
    FormCase(
        "result correction",
        "hematologist",
        lambda ward: f"/hematology/patients/{ward.given.patient_id}/results/{ward.result.pk}/correct/",
        lambda ward: {"platelet_count": "16", "reason": "transcription error"},
        typed=("platelet_count", "reason"),
    ),
    FormCase(
        "catalogue site values",
        "pharmacist",
        lambda ward: f"/orders/catalogue/{ward.product.pk}/",
        lambda ward: {"source": "site protocol 2025"},
        typed=("source",),
        prefix=lambda ward: f"product{ward.product.pk}-",
        extra=lambda ward: tuple(name for name in site_value_fields(ward.product) if not name.startswith("contains_")),
    ),
    FormCase(
        "catalogue GTIN",
        "pharmacist",
        lambda ward: f"/orders/catalogue/{ward.product.pk}/gtins/",
        lambda ward: {"gtin": "09501101530003", "vial_size_g": "10", "source": "supplier catalogue"},
        typed=("gtin", "source"),  # the size is chosen from the product's
    ),
)
